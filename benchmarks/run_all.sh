#!/usr/bin/env bash
# Every benchmark of benchmarks/README.md, one after the other, in about 10 minutes on 2 idle cores.
# Run on an otherwise idle machine from the repository root:  bash benchmarks/run_all.sh | tee bench.txt
# Needs ~16 GiB of free disk under $TMPDIR for the memory benchmark (deleted after).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
THREADS=${THREADS:-$(nproc)}
# thingsvision's PyTorch extractor, installed beside the project (its own pins clash with ours; README).
DEPS=${LAYERATLAS_BENCH_DEPS:-${TMPDIR:-/tmp}/layeratlas-bench-deps}
if [ ! -d "$DEPS/thingsvision" ]; then
    "$PY" -m pip install --quiet --no-deps --target "$DEPS" \
        thingsvision==2.7.3 torchtyping==0.1.5 "typeguard<3" ftfy regex \
        || echo "thingsvision could not be installed; extraction.py will skip it"
fi
start=$(date +%s)
echo "== extraction: ResNet-50 at 224 px, layer3 + layer4 + avgpool, 192 images per method =="
PYTHONPATH="$DEPS${PYTHONPATH:+:$PYTHONPATH}" "$PY" benchmarks/extraction.py --images 192 --batch-size 32 \
    --threads "$THREADS"
echo
echo "== memory: 1024 x 14 x 14 without pooling, 5,000 and 20,000 images =="
"$PY" benchmarks/memory.py --sizes 5000,20000 --threads "$THREADS"
echo
echo "== t-SNE: 20,000 x 2048 features, PCA-50 first =="
"$PY" benchmarks/tsne.py --points 20000 --dims 2048 --threads "$THREADS"
echo
echo "== int8: EfficientNet-Lite0 on 1,797 digits, fp32 vs int8 =="
"$PY" benchmarks/int8.py --threads "$THREADS"
echo
echo "== analyses at CIFAR-10 size: 10,000 and 60,000 x 2048 (and a 10,000-wide layer for CKA) =="
"$PY" benchmarks/analysis_scale.py --sizes 10000,60000 --wide 10000 --threads "$THREADS"
echo
echo "all benchmarks: $(( $(date +%s) - start )) s"
