"""Cluster quality of labelled points: silhouette, Davies-Bouldin, and an embedding's trustworthiness.

- silhouette (scikit-learn, Euclidean): mean over samples of (b - a) / max(a, b), with a the mean
  distance to the own class and b to the nearest other class; in [-1, 1], higher is better separated;
- Davies-Bouldin (scikit-learn): mean over classes of the largest (s_i + s_j) / d(c_i, c_j), with s the
  mean distance to the class centroid; >= 0, lower is better separated;
- trustworthiness (scikit-learn, Venna and Kaski): how far the k nearest neighbours in the 2-D map are
  also near in the feature space; in [0, 1], 1 means no false neighbours.

Silhouette and trustworthiness cost O(n^2); above ``max_samples`` they use a seeded random subset.
The silhouette's interval (``resamples`` > 0) is a seeded percentile bootstrap over the images of that
subset of the per-image silhouette values (each image's a and b held at their values on the subset).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl
from sklearn.manifold import trustworthiness as _trustworthiness
from sklearn.metrics import davies_bouldin_score, silhouette_samples

from layeratlas.analysis.variance import check_finite

DEFAULT_MAX_SAMPLES = 3000


def _subset(n: int, max_samples: int | None, seed: int) -> np.ndarray:
    if max_samples is None or n <= max_samples:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_samples, replace=False))


def cluster_scores(
    points: np.ndarray,
    labels: np.ndarray,
    *,
    max_samples: int | None = DEFAULT_MAX_SAMPLES,
    seed: int = 0,
    resamples: int = 0,
) -> dict[str, float]:
    """Silhouette and Davies-Bouldin of ``points`` (n, d) grouped by ``labels``; with ``resamples``,
    silhouette_ci_low / silhouette_ci_high too (see the module docstring).

    Both need at least 2 classes and fewer classes than samples; otherwise they are nan.
    """
    from layeratlas.analysis.stats import mean_interval

    points, labels = np.asarray(points), np.asarray(labels)
    if points.ndim != 2 or len(points) != len(labels):
        raise ValueError(f"need points (n, d) and n labels, got {points.shape} and {labels.shape}")
    check_finite(points)
    keep = _subset(len(points), max_samples, seed)
    x, y = np.asarray(points[keep], dtype=np.float64), labels[keep]
    k = len(np.unique(y))
    nan = float("nan")
    if not 2 <= k < len(y):
        out = {"silhouette": nan, "davies_bouldin": nan}
        return out | ({"silhouette_ci_low": nan, "silhouette_ci_high": nan} if resamples else {})
    per_image = silhouette_samples(x, y)  # silhouette_score is their mean
    out = {"silhouette": float(per_image.mean()), "davies_bouldin": float(davies_bouldin_score(x, y))}
    if resamples:
        low, high = mean_interval(per_image, resamples=resamples, seed=seed)
        out |= {"silhouette_ci_low": low, "silhouette_ci_high": high}
    return out


def embedding_trustworthiness(
    features: np.ndarray,
    coords: np.ndarray,
    *,
    n_neighbors: int = 5,
    max_samples: int | None = DEFAULT_MAX_SAMPLES,
    seed: int = 0,
) -> float:
    """Trustworthiness of the 2-D ``coords`` with respect to ``features`` (same rows, same order)."""
    features, coords = np.asarray(features), np.asarray(coords)
    if len(features) != len(coords):
        raise ValueError(f"{len(features)} feature rows but {len(coords)} embedding rows")
    keep = _subset(len(features), max_samples, seed)
    n_neighbors = min(n_neighbors, (len(keep) - 1) // 2)  # scikit-learn requires k < n / 2
    if n_neighbors < 1:
        return float("nan")
    x = np.asarray(features[keep], dtype=np.float64)
    return float(_trustworthiness(x, np.asarray(coords[keep], dtype=np.float64), n_neighbors=n_neighbors))


def cluster_table(
    features: np.ndarray,
    labels: np.ndarray,
    embeddings: Mapping[str, np.ndarray] | None = None,
    *,
    n_neighbors: int = 5,
    max_samples: int | None = DEFAULT_MAX_SAMPLES,
    seed: int = 0,
    resamples: int = 0,
) -> pl.DataFrame:
    """One row per space: ``features`` itself, then each 2-D embedding (rows aligned with features).

    Columns: space, silhouette, davies_bouldin, trustworthiness (null for the features row); with
    ``resamples``, silhouette_ci_low and silhouette_ci_high of the features (null for embeddings).
    """
    scores = cluster_scores(features, labels, max_samples=max_samples, seed=seed, resamples=resamples)
    rows = [{"space": "features", **scores}]
    rows[0]["trustworthiness"] = None
    for name, coords in (embeddings or {}).items():
        row = {"space": name, **cluster_scores(coords, labels, max_samples=max_samples, seed=seed)}
        row["trustworthiness"] = embedding_trustworthiness(
            features, coords, n_neighbors=n_neighbors, max_samples=max_samples, seed=seed
        )
        rows.append(row)
    return pl.DataFrame(
        rows,
        schema={
            "space": pl.Utf8,
            "silhouette": pl.Float64,
            "davies_bouldin": pl.Float64,
            "trustworthiness": pl.Float64,
            **({"silhouette_ci_low": pl.Float64, "silhouette_ci_high": pl.Float64} if resamples else {}),
        },
    )
