"""Cluster quality of labelled points: silhouette, Davies-Bouldin, and an embedding's trustworthiness.

- silhouette (scikit-learn's definition, Euclidean): mean over samples of (b - a) / max(a, b), with a the mean
  distance to the own class and b to the nearest other class; in [-1, 1], higher is better separated;
- Davies-Bouldin (scikit-learn's): mean over classes of the largest (s_i + s_j) / d(c_i, c_j), with s the
  mean distance to the class centroid; >= 0, lower is better separated;
- trustworthiness (scikit-learn's, Venna and Kaski): how far the k nearest neighbours in the 2-D map are
  also near in the feature space; in [0, 1], 1 means no false neighbours.

Silhouette and trustworthiness cost O(n^2); above ``max_samples`` they use a seeded random subset.
The silhouette's interval (``resamples`` > 0) is a seeded percentile bootstrap over the images of that
subset of the per-image silhouette values (each image's a and b held at their values on the subset).

The three are scikit-learn's computations in numpy, op for op where it matters (its distances, its
per-row sums): importing scikit-learn was 1.3 of a cluster_quality job's 2 CPU-seconds for under 0.3 s of
arithmetic (issue 22). tests/test_cluster_numpy.py holds them to scikit-learn's within 1e-12.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from layeratlas.analysis.variance import check_finite

DEFAULT_MAX_SAMPLES = 3000


def _subset(n: int, max_samples: int | None, seed: int) -> np.ndarray:
    if max_samples is None or n <= max_samples:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_samples, replace=False))


def euclidean_distances(x: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    """sklearn.metrics.pairwise.euclidean_distances for float64 rows: sqrt(|x|^2 - 2 x.y + |y|^2),
    clipped at 0, the diagonal 0 where ``y`` is omitted (the distances of ``x`` to itself)."""
    same = y is None
    y = x if same else y
    xx = np.einsum("ij,ij->i", x, x)[:, np.newaxis]
    yy = xx.T if same else np.einsum("ij,ij->i", y, y)[np.newaxis, :]
    distances = -2 * (x @ y.T)
    distances += xx
    distances += yy
    np.maximum(distances, 0, out=distances)
    if same:
        np.fill_diagonal(distances, 0)
    return np.sqrt(distances, out=distances)


def silhouette_samples(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """sklearn.metrics.silhouette_samples (Euclidean): (b - a) / max(a, b) per sample, 0 in a class of one."""
    _, codes = np.unique(labels, return_inverse=True)
    freqs = np.bincount(codes)
    distances = euclidean_distances(np.asarray(x, dtype=np.float64))
    # per-row class sums with bincount, as scikit-learn's reduction adds them
    sums = np.stack([np.bincount(codes, weights=row, minlength=len(freqs)) for row in distances])
    rows = np.arange(len(codes))
    intra = sums[rows, codes]
    sums[rows, codes] = np.inf
    inter = (sums / freqs).min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        intra = intra / (freqs - 1).take(codes, mode="clip")
        out = (inter - intra) / np.maximum(intra, inter)
    return np.nan_to_num(out)


def davies_bouldin_score(x: np.ndarray, labels: np.ndarray) -> float:
    """sklearn.metrics.davies_bouldin_score: the mean over classes of max_j (s_i + s_j) / d(c_i, c_j)."""
    x = np.asarray(x, dtype=np.float64)
    classes, codes = np.unique(labels, return_inverse=True)
    centroids = np.zeros((len(classes), x.shape[1]))
    intra = np.zeros(len(classes))
    for k in range(len(classes)):
        members = x[codes == k]
        centroids[k] = members.mean(axis=0)
        intra[k] = euclidean_distances(members, centroids[k][np.newaxis]).mean()
    between = euclidean_distances(centroids)
    if np.allclose(intra, 0) or np.allclose(between, 0):
        return 0.0
    between[between == 0] = np.inf
    return float(np.max((intra[:, None] + intra) / between, axis=1).mean())


def trustworthiness(x: np.ndarray, embedded: np.ndarray, n_neighbors: int = 5) -> float:
    """sklearn.manifold.trustworthiness (Euclidean): penalises each of the ``n_neighbors`` nearest
    neighbours in ``embedded`` by its rank beyond ``n_neighbors`` among the neighbours in ``x``."""
    n = len(x)
    if n_neighbors >= n / 2:
        raise ValueError(f"n_neighbors ({n_neighbors}) should be less than n_samples / 2 ({n / 2})")
    dist_x = euclidean_distances(np.asarray(x, dtype=np.float64))
    np.fill_diagonal(dist_x, np.inf)
    ind_x = np.argsort(dist_x, axis=1)
    # the embedding's neighbours, self excluded, by squared distance (as scikit-learn's trees rank them;
    # equal distances to the lower index)
    embedded = np.asarray(embedded, dtype=np.float64)
    squared = ((embedded[:, None, :] - embedded[None, :, :]) ** 2).sum(axis=-1)
    np.fill_diagonal(squared, np.inf)
    ind_embedded = np.argsort(squared, axis=1, kind="stable")[:, :n_neighbors]
    inverted = np.zeros((n, n), dtype=int)
    ordered = np.arange(n + 1)
    inverted[ordered[:-1, np.newaxis], ind_x] = ordered[1:]
    ranks = inverted[ordered[:-1, np.newaxis], ind_embedded] - n_neighbors
    t = np.sum(ranks[ranks > 0])
    return float(1.0 - t * (2.0 / (n * n_neighbors * (2.0 * n - 3.0 * n_neighbors - 1.0))))


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
    return trustworthiness(x, np.asarray(coords[keep], dtype=np.float64), n_neighbors=n_neighbors)


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
