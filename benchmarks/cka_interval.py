"""CPU seconds of CKA's bootstrap interval (layeratlas.analysis.cka.cka_intervals) beside the point estimate.

Two sizes: the default run's (450 digits test images; its seven layers' widths) and one pair of
10,000 x 2,048 layers, both at the default 1,000 resamples of at most analyses.bootstrap.cka_samples
(2,000) images. CPU seconds (time.process_time): wall time means little on a shared machine.

    python benchmarks/cka_interval.py [--samples 2000] [--resamples 1000]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from layeratlas.analysis.cka import cka_intervals, cka_matrix

DEFAULT_WIDTHS = {  # config/config.yaml's layers after their reductions
    "small_cnn / pool1": 3136,
    "small_cnn / pool2": 784,
    "small_cnn / relu5": 100,
    "efficientnet_lite0 / blocks.4": 112,
    "efficientnet_lite0 / global_pool": 1280,
    "efficientnet_lite0_finetuned / blocks.4": 112,
    "efficientnet_lite0_finetuned / global_pool": 1280,
}


def _layers(n: int, widths: dict[str, int], seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 64)).astype(np.float32)  # shared signal: CKA between 0 and 1
    return {
        name: base @ rng.normal(size=(64, d)).astype(np.float32) + rng.normal(size=(n, d)).astype(np.float32)
        for name, d in widths.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    for what, n, widths in (
        ("default run: 450 x 7 layers", 450, DEFAULT_WIDTHS),
        ("10,000 x 2,048, two layers", 10_000, {"a": 2048, "b": 2048}),
    ):
        layers = _layers(n, widths)
        t = time.process_time()
        cka_matrix(layers)
        point = time.process_time() - t
        t = time.process_time()
        low, high, m = cka_intervals(layers, resamples=args.resamples, seed=0, samples=args.samples)
        interval = time.process_time() - t
        print(
            f"{what}: point estimate {point:.1f} CPU s; interval ({args.resamples} resamples of {m} images) "
            f"{interval:.1f} CPU s; first pair [{low[0, 1]:.3f}, {high[0, 1]:.3f}]"
        )


if __name__ == "__main__":
    main()
