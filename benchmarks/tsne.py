"""t-SNE of 20,000 x 2048 features (PCA to 50 first), as the workflow's embed_features runs it.

Features: 10 Gaussian classes in 2048 dimensions (class means plus correlated noise), float32, seeded.
Prints the seconds of PCA-50 and of openTSNE (FFT gradient from 10,000 points) through
layeratlas.analysis.embeddings.embed, plus the embedding's nearest-centroid accuracy as a sanity check;
``--sklearn`` adds scikit-learn's Barnes-Hut t-SNE on the same PCA-50 input for comparison.

    python benchmarks/tsne.py --points 20000 --dims 2048
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, measure, mib  # noqa: E402


def features(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    means = rng.normal(scale=1.0, size=(10, d)).astype(np.float32)
    basis = rng.normal(size=(64, d)).astype(np.float32) / 8
    x = means[labels] + rng.normal(size=(n, 64)).astype(np.float32) @ basis
    x += 0.5 * rng.normal(size=(n, d)).astype(np.float32)
    return x, labels


def centroid_accuracy(coords: np.ndarray, labels: np.ndarray) -> float:
    centroids = np.stack([coords[labels == c].mean(axis=0) for c in range(10)])
    return float((((coords[:, None] - centroids[None]) ** 2).sum(-1).argmin(1) == labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=20000)
    parser.add_argument("--dims", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--sklearn", action="store_true", help="also time scikit-learn's t-SNE")
    args = parser.parse_args()

    from sklearn.decomposition import PCA

    from layeratlas.analysis.embeddings import embed, tsne_gradient_method

    x, labels = features(args.points, args.dims)
    print(f"machine: {machine()}")
    print(
        f"{args.points} x {args.dims} float32 features, {args.threads} threads, "
        f"openTSNE gradient: {tsne_gradient_method(args.points)}"
    )
    start = time.perf_counter()
    pca50 = PCA(50, random_state=0).fit_transform(x)
    print(f"PCA to 50 dims:                 {time.perf_counter() - start:6.1f} s")
    with measure() as m:
        coords = embed(x, "tsne", seed=0, n_jobs=args.threads, params={"fit_samples": None})
    print(
        f"t-SNE (PCA-50 + openTSNE) total: {m.seconds:6.1f} s   (target < 60 s)  peak RSS {mib(m.peak_rss)}, "
        f"nearest-centroid accuracy {centroid_accuracy(coords, labels):.3f}"
    )
    if args.sklearn:
        from sklearn.manifold import TSNE

        start = time.perf_counter()
        sk = TSNE(2, random_state=0, n_jobs=args.threads, init="pca").fit_transform(pca50)
        print(
            f"scikit-learn t-SNE on PCA-50:   {time.perf_counter() - start:6.1f} s   "
            f"nearest-centroid accuracy {centroid_accuracy(sk, labels):.3f}"
        )


if __name__ == "__main__":
    main()
