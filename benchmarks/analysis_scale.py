"""Seconds, peak RSS and arithmetic floor of each per-layer analysis at CIFAR-10 size, and of CKA.

Synthetic 10-class features (float32, ReLU of class means plus noise, so classes overlap as real
layers do), split 2/3 train, 1/6 val, 1/6 test as the seeds' 40k / 10k / 10k; the embeddings, class
variance and cluster quality use the test split (the workflow's default `analyses.split`), the
classifiers train / val / test, neural collapse and Adam the train split. Each analysis runs the
package function the workflow's stage calls, in a fresh child process (so its peak RSS, ru_maxrss,
is its own, including the features it holds); generating the features is not timed.

The floor is the analysis's multiply-adds (2 FLOP each) at this machine's float32 GEMM speed,
measured at start with the threads given: kNN 2 n_query n_train d; the linear probe 30 L-BFGS
iterations x 4 n_train d K per value of C (the issue's ~100 GFLOP per C at 40k x 2048); CKA the
products |X^T Y|_F^2 (N d_a d_b, self products halved by symmetry).

    python benchmarks/analysis_scale.py --sizes 10000 --threads 2
    python benchmarks/analysis_scale.py --sizes 10000,60000 --wide 10000 --run /work/main
    python benchmarks/analysis_scale.py --run /path/to/finished/run --only-run
    python benchmarks/analysis_scale.py --sizes 60000 --wide 0 --resamples 0   # without the intervals

``--resamples`` (default 1000, the workflow's ``analyses.bootstrap.resamples``) adds what the stages add
for the summary's intervals: each classifier's Wilson interval and macro-F1 bootstrap over the test
images, the ratio's bootstrap (class variance), the silhouette's (cluster quality) and NC1's.

``--run`` reads ``results/benchmarks/**/*.tsv`` of a finished run: the sum of its jobs' seconds per
rule, and the wall time from the first job's start (file time minus its seconds) to the last's end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

K = 10
ANALYSES = (
    "linear_probe",
    "knn",
    "random_forest",
    "ncm_l2",
    "ncm_l1",
    "neural_collapse",
    "linear_adam",
    "class_variance",
    "cluster_quality",
    "pca",
    "tsne",
    "umap",
    "cka_2x2048",
)


def features(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % K
    rng.shuffle(labels)
    means = rng.normal(scale=0.6, size=(K, d)).astype(np.float32)
    x = np.empty((n, d), np.float32)
    for s in range(0, n, 4096):
        chunk = rng.standard_normal((min(4096, n - s), d), dtype=np.float32)
        x[s : s + len(chunk)] = np.maximum(chunk + means[labels[s : s + len(chunk)]], 0)
    return x, labels


def splits(n: int, d: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    x, y = features(n, d)
    a, b = 2 * n // 3, 2 * n // 3 + n // 6
    return {"train": (x[:a], y[:a]), "val": (x[a:b], y[a:b]), "test": (x[b:], y[b:])}


def gemm_gflops() -> float:
    a = np.random.default_rng(0).standard_normal((4096, 2048), dtype=np.float32)
    a.T @ a
    start = time.perf_counter()
    for _ in range(3):
        a.T @ a
    return 3 * 2 * 4096 * 2048 * 2048 / (time.perf_counter() - start) / 1e9


def floor_flop(name: str, n: int, d: int, wide: int) -> float | None:
    tr, q = 2 * n // 3, n - 2 * n // 3
    if name == "knn":
        return 2.0 * q * tr * d
    if name == "linear_probe":
        return 6 * 30 * 4.0 * tr * d * K
    if name == "cka_2x2048":
        return 2.0 * n * (d * d / 2 * 2 + d * d)  # two self products (halved), one cross
    if name == "cka_wide":
        return 2.0 * n * (wide * wide / 2 + d * d / 2 + wide * d)
    return None


def run_one(name: str, n: int, d: int, wide: int, threads: int, resamples: int = 0) -> dict:  # noqa: PLR0915
    """In the child: build the data, time ``name``, report seconds and peak RSS."""
    from layeratlas.analysis import probes
    from layeratlas.analysis.stats import macro_f1_interval, wilson_interval

    data = splits(n, d) if not name.startswith("cka") else None
    start = time.perf_counter()
    if name in probes.CLASSIFIERS:
        (xtr, ytr), (xva, yva), (xte, yte) = data["train"], data["val"], data["test"]
        start = time.perf_counter()
        res = probes.probe_classifiers(xtr, ytr, xva, yva, xte, yte, classifiers=[name], n_jobs=threads)
        extra = res.table.row(0, named=True)
        if resamples:
            pred = res.test_predictions[name][0]
            extra["accuracy_ci"] = wilson_interval(int(np.sum(pred == yte)), len(yte))
            extra["macro_f1_ci"] = macro_f1_interval(yte, pred, resamples=resamples, seed=0)
    elif name == "neural_collapse":
        from layeratlas.analysis.collapse import neural_collapse

        xtr, ytr = data["train"]
        start = time.perf_counter()
        extra = neural_collapse(xtr, ytr, resamples=resamples)
    elif name == "linear_adam":
        (xtr, ytr), (xte, yte) = data["train"], data["test"]
        start = time.perf_counter()
        fit = probes.fit_linear_adam(xtr, ytr, xte, yte)
        extra = fit.history.row(-1, named=True)
        if resamples:
            extra["accuracy_ci"] = wilson_interval(int(np.sum(fit.test_prediction == yte)), len(yte))
    elif name == "class_variance":
        from layeratlas.analysis.variance import class_variances, ratio_interval, summary_row

        x, y = data["test"]
        start = time.perf_counter()
        extra = summary_row(class_variances(x, y))
        if resamples:
            extra["ratio_ci"] = ratio_interval(x, y, resamples=resamples, seed=0)
    elif name == "cluster_quality":
        from layeratlas.analysis.cluster import cluster_table

        x, y = data["test"]
        start = time.perf_counter()
        extra = cluster_table(x, y, resamples=resamples).row(0, named=True)
    elif name in ("pca", "tsne", "umap"):
        from layeratlas.analysis.embeddings import embed

        x, _ = data["test"]
        start = time.perf_counter()
        embed(x, name, seed=0, n_jobs=threads)
        extra = {"points": len(x)}
    else:
        from layeratlas.analysis.cka import cka_matrix

        a, _ = features(n, d, seed=1)
        b = np.maximum(
            a
            @ np.random.default_rng(2).standard_normal(
                (d, wide if name == "cka_wide" else d), dtype=np.float32
            )
            / np.sqrt(d),
            0,
        )
        start = time.perf_counter()
        extra = {"cka": float(cka_matrix({"a": a, "b": b})[0, 1])}
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"seconds": seconds, "peak_rss": peak, "extra": {k: v for k, v in extra.items() if k != "note"}}


def child(name: str, n: int, d: int, wide: int, threads: int, resamples: int = 0) -> dict:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    cmd = [
        sys.executable,
        __file__,
        "--child",
        name,
        "--sizes",
        str(n),
        "--dims",
        str(d),
        "--wide",
        str(wide),
        "--threads",
        str(threads),
        "--resamples",
        str(resamples),
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        return {
            "error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"rc {out.returncode}"
        }
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_times(root: Path) -> None:
    files = sorted((root / "results" / "benchmarks").rglob("*.tsv"))
    if not files:
        print(f"{root}: no results/benchmarks/**/*.tsv")
        return
    per_rule: dict[str, list[float]] = defaultdict(list)
    starts, ends = [], []
    for f in files:
        lines = f.read_text().splitlines()
        seconds = float(lines[1].split("\t")[0])
        rule = f.relative_to(root / "results" / "benchmarks").parts[0]
        per_rule[rule].append(seconds)
        ends.append(f.stat().st_mtime)
        starts.append(f.stat().st_mtime - seconds)
    total = sum(sum(v) for v in per_rule.values())
    print(
        f"\nrun {root}: {len(files)} jobs, wall {max(ends) - min(starts):.0f} s (first job start to "
        f"last end), sum of job times {total:.0f} s"
    )
    for rule, secs in sorted(per_rule.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {rule:24s} {len(secs):3d} jobs {sum(secs):7.1f} s  ({sum(secs) / len(secs):.1f} s each)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,60000", help="N (all splits together), comma-separated")
    parser.add_argument("--dims", type=int, default=2048)
    parser.add_argument("--wide", type=int, default=10000, help="width of the wide layer for CKA (0: skip)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--analyses", default=",".join(ANALYSES))
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (0: no intervals)")
    parser.add_argument("--run", type=Path, help="a finished run's folder (reads results/benchmarks)")
    parser.add_argument("--only-run", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(
            json.dumps(
                run_one(args.child, int(args.sizes), args.dims, args.wide, args.threads, args.resamples)
            )
        )
        return
    if not args.only_run:
        print(machine())
        rate = gemm_gflops()
        print(f"float32 GEMM: {rate:.0f} GFLOP/s with the default BLAS threads; floors below at this speed\n")
        names = args.analyses.split(",")
        print(
            f"{'analysis':16s} {'N':>7s} {'d':>6s} {'seconds':>8s} {'peak RSS':>9s} {'floor s':>8s} "
            f"{'x floor':>7s}"
        )
        for n in (int(s) for s in args.sizes.split(",")):
            jobs = [(name, args.dims) for name in names]
            if args.wide:
                jobs.append(("cka_wide", args.dims))
            total = 0.0
            for name, d in jobs:
                r = child(name, n, d, args.wide, args.threads, args.resamples)
                if "error" in r:
                    print(f"{name:16s} {n:7d} {d:6d}  failed: {r['error']}")
                    continue
                flop = floor_flop(name, n, d, args.wide)
                floor = flop / rate / 1e9 if flop else None
                if not name.startswith("cka"):
                    total += r["seconds"]
                print(
                    f"{name:16s} {n:7d} {d if name != 'cka_wide' else args.wide:6d} {r['seconds']:8.1f} "
                    f"{r['peak_rss'] / 2**30:7.2f} G {floor or float('nan'):8.1f} "
                    f"{r['seconds'] / floor if floor else float('nan'):7.1f}  {r['extra']}",
                    flush=True,
                )
            print(
                f"{'per-layer set':16s} {n:7d} {args.dims:6d} {total:8.1f}  (all above but CKA)\n", flush=True
            )
    if args.run:
        run_times(args.run)


if __name__ == "__main__":
    main()
