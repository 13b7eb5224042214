"""Uncertainty of a score and paired tests between two classifiers scored on the same images.

- :func:`wilson_interval`: the Wilson score interval of a proportion (accuracies);
- :func:`mcnemar_exact`: the exact McNemar test of two classifiers' correctness on the same images,
  a two-sided binomial test of the discordant counts (scipy.stats.binomtest);
- :func:`holm`: Holm's step-down adjustment of a family of p-values;
- :func:`bootstrap_interval`: a seeded percentile bootstrap over images (scipy.stats.bootstrap,
  paired: the arrays are resampled together, image by image); :func:`bootstrap_intervals` the same
  for a statistic with several outputs, all from the same resamples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

# scipy.stats (0.8 CPU-s to import) loads in the functions that use it, not with this module (issue 22).

# Resampled index arrays of at most about this many entries per batch (8 bytes each: 128 MiB).
_BATCH_ENTRIES = 2**24


def wilson_interval(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of ``correct`` successes in ``n`` trials; (nan, nan) when n == 0."""
    if n <= 0:
        return float("nan"), float("nan")
    if not 0 <= correct <= n:
        raise ValueError(f"correct must lie in [0, {n}], got {correct}")
    from scipy import stats

    ci = stats.binomtest(int(correct), int(n)).proportion_ci(confidence, method="wilson")
    return float(ci.low), float(ci.high)


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (1.0 when both are zero).

    ``a_only``: images only the first classifier got right; ``b_only``: only the second.
    """
    if a_only < 0 or b_only < 0:
        raise ValueError(f"discordant counts must be >= 0, got {a_only} and {b_only}")
    if a_only + b_only == 0:
        return 1.0
    from scipy import stats

    return float(stats.binomtest(int(a_only), int(a_only + b_only), 0.5).pvalue)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input's order (monotone, capped at 1)."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def bootstrap_interval(
    statistic: Callable[..., np.ndarray],
    *arrays: np.ndarray,
    resamples: int,
    seed: int,
    confidence: float = 0.95,
    bias_corrected: bool = False,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(*arrays)``, images resampled together.

    ``bias_corrected``: shift both ends by the bootstrap's estimate of the statistic's bias (mean of the
    resampled values minus the estimate). For a plug-in statistic whose resamples are biased (the
    inter/intra ratio: resampled class means sit further apart by their own noise) the plain percentile
    interval can lie wholly above the estimate; shifted, it keeps the percentile interval's width.

    ``statistic(*resampled, axis=-1)`` gets each array resampled along its last axis (shape
    (..., batch, n) in batches, or the original (..., n)) and returns one value per resample. For a
    statistic of a feature matrix, pass ``np.arange(n)`` and index the matrix inside. (nan, nan) with
    fewer than two images or no resamples.
    """
    low, high = bootstrap_intervals(
        statistic,
        *arrays,
        resamples=resamples,
        seed=seed,
        confidence=confidence,
        bias_corrected=bias_corrected,
    )
    low, high = float(np.ravel(low)[0]), float(np.ravel(high)[0])
    return (low, high) if math.isfinite(low) and math.isfinite(high) else (float("nan"), float("nan"))


def bootstrap_intervals(
    statistic: Callable[..., np.ndarray],
    *arrays: np.ndarray,
    resamples: int,
    seed: int,
    confidence: float = 0.95,
    bias_corrected: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`bootstrap_interval` of a statistic with several outputs at once (shape (k, batch) per
    batch of resamples): every output from the same resampled images; (k,) lows and highs, nan where
    undefined. A statistic with one output gives arrays of shape ()."""
    n = np.shape(arrays[0])[-1] if arrays else 0
    if resamples <= 0 or n < 2:
        shape = np.shape(statistic(*arrays, axis=-1)) if arrays and n >= 2 else ()
        return np.full(shape, np.nan), np.full(shape, np.nan)
    from scipy import stats

    res = stats.bootstrap(
        arrays,
        statistic,
        n_resamples=int(resamples),
        batch=max(1, _BATCH_ENTRIES // n),
        vectorized=True,
        paired=True,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = res.confidence_interval.low, res.confidence_interval.high
    distribution = res.bootstrap_distribution
    low = np.asarray(low, dtype=np.float64)
    high = np.asarray(high, dtype=np.float64)
    if bias_corrected:
        bias = np.mean(distribution, axis=-1) - np.asarray(statistic(*arrays, axis=-1))
        low, high = low - bias, high - bias
    bad = ~(np.isfinite(low) & np.isfinite(high))
    return np.where(bad, np.nan, low), np.where(bad, np.nan, high)


def resample_weights(index: np.ndarray, n: int, dtype: type = np.float64) -> np.ndarray:
    """(batch, n) counts of each image in each resample, from resampled indices (batch, n) or (n,)
    (the original sample: every image once)."""
    index = np.atleast_2d(np.asarray(index))
    b = len(index)
    flat = (index + (np.arange(b) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(dtype, copy=False)


def macro_f1_statistic(
    labels: np.ndarray, predictions: np.ndarray, axis: int = -1, *, n_classes: int | None = None
) -> np.ndarray:
    """Macro-F1 of each resample (rows of ``labels`` / ``predictions``, vectorised for the bootstrap);
    the classes are those present in a resample's labels or predictions, F1 0 where undefined
    (scikit-learn's convention). With ``n_classes``, the arrays are class codes 0..n_classes-1."""
    one = np.ndim(labels) == 1
    labels, predictions = np.atleast_2d(labels), np.atleast_2d(predictions)
    if n_classes is None:
        classes = np.union1d(np.unique(labels), np.unique(predictions))
        labels, predictions, n_classes = (
            np.searchsorted(classes, labels),
            np.searchsorted(classes, predictions),
            len(classes),
        )
    k, b = n_classes, len(labels)
    t = labels + (np.arange(b) * k)[:, None]  # (resample, true class) cells
    if b * k * k <= _BATCH_ENTRIES:  # one confusion matrix per resample: (b, k, k), rows true class
        confusion = np.bincount((t * k + predictions).ravel(), minlength=b * k * k).reshape(b, k, k)
        tp = np.diagonal(confusion, axis1=1, axis2=2)
        true, pred = confusion.sum(axis=2), confusion.sum(axis=1)
    else:  # many classes: three counts of b * k cells instead of b * k^2
        tp = np.bincount(t[labels == predictions], minlength=b * k).reshape(b, k)
        true = np.bincount(t.ravel(), minlength=b * k).reshape(b, k)
        pred = np.bincount((predictions + (np.arange(b) * k)[:, None]).ravel(), minlength=b * k).reshape(b, k)
    present = (true + pred) > 0  # classes absent from a resample do not count (as scikit-learn's)
    f1 = np.divide(2 * tp, true + pred, out=np.zeros((b, k)), where=present)
    out = f1.sum(axis=1) / np.maximum(present.sum(axis=1), 1)
    return out[0] if one else out


def macro_f1_interval(
    labels: np.ndarray, predictions: np.ndarray, *, resamples: int, seed: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the macro-F1 over images (classes encoded once, not per resample)."""
    classes = np.union1d(labels, predictions)
    codes = np.searchsorted(classes, labels), np.searchsorted(classes, predictions)
    k = len(classes)

    def statistic(t: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
        return macro_f1_statistic(t, p, n_classes=k)

    return bootstrap_interval(statistic, *codes, resamples=resamples, seed=seed, confidence=confidence)


def mean_interval(
    values: np.ndarray, *, resamples: int, seed: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-image ``values``."""

    def statistic(x: np.ndarray, axis: int = -1) -> np.ndarray:
        return x.mean(axis=axis)

    values = np.asarray(values, dtype=np.float64)
    return bootstrap_interval(statistic, values, resamples=resamples, seed=seed, confidence=confidence)
