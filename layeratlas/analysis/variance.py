"""Intra- and inter-class variance of layer features.

Definitions (reproduced from the student report):

- intra-class variance of class c: mean over the samples of c of the squared L2 distance
  between the sample's feature vector and the class mean vector;
- inter-class variance of classes (i, j): squared L2 distance between the two class means;
- the mean intra-class variance averages over classes, the mean inter-class variance over
  the K*(K-1)/2 unordered pairs i < j.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

# Each float64 chunk stays around this size, so memory does not scale with the sample count.
_CHUNK_BYTES = 64 * 2**20


@dataclass(frozen=True)
class ClassVariances:
    """Per-class intra variances and pairwise inter variances (float64)."""

    classes: np.ndarray  # (K,) int64 class ids present, sorted
    counts: np.ndarray  # (K,) int64 samples per class
    intra: np.ndarray  # (K,) float64
    inter: np.ndarray  # (K, K) float64, symmetric, zero diagonal

    @property
    def mean_intra(self) -> float:
        """Plain mean of the per-class intra-class variances."""
        return float(np.mean(self.intra))

    @property
    def mean_inter(self) -> float:
        """Mean inter-class variance over unordered pairs i < j; nan when K < 2."""
        k = len(self.classes)
        if k < 2:
            return float("nan")
        return float(np.mean(self.inter[np.triu_indices(k, 1)]))


def default_chunk_rows(n_features: int) -> int:
    """Rows per chunk so that one float64 chunk takes about 64 MiB."""
    return max(1, _CHUNK_BYTES // (8 * max(1, n_features)))


def _nonfinite_error(bad_rows: np.ndarray) -> ValueError:
    first = ", ".join(str(int(i)) for i in bad_rows[:10])
    more = ", ..." if len(bad_rows) > 10 else ""
    return ValueError(
        f"features contain non-finite values (NaN or inf) in {len(bad_rows)} row(s); "
        f"first row indices: [{first}{more}]"
    )


def check_finite(features: np.ndarray, *, chunk_rows: int | None = None) -> None:
    """Raise ValueError naming the affected rows if a 2-D feature matrix has NaN or inf.

    Works through row chunks so that no full-size boolean mask is built.
    """
    n, d = features.shape
    step = chunk_rows or default_chunk_rows(d)
    bad = [
        start + np.flatnonzero(~np.isfinite(features[start : start + step]).all(axis=1))
        for start in range(0, n, step)
    ]
    bad_rows = np.concatenate(bad) if bad else np.empty(0, dtype=np.int64)
    if len(bad_rows):
        raise _nonfinite_error(bad_rows)


def _validate(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    if features.ndim != 2:
        raise ValueError(f"features must be 2-D (n_samples, n_features), got shape {features.shape}")
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if len(labels) != features.shape[0]:
        raise ValueError(
            f"features and labels differ in length: {features.shape[0]} rows vs {len(labels)} labels"
        )
    if features.shape[0] == 0:
        raise ValueError("features has no rows")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integer class ids, got dtype {labels.dtype}")
    return labels.astype(np.int64, copy=False)


def class_variances(
    features: np.ndarray, labels: np.ndarray, *, chunk_rows: int | None = None
) -> ClassVariances:
    """Compute intra- and inter-class variances of ``features`` (n, d) grouped by ``labels``.

    Arithmetic is in float64, but only one chunk of ``chunk_rows`` rows is converted at a time
    (default: about 64 MiB per chunk), so float32 matrices of ~1e5 x 2e4 fit in memory.
    """
    features = np.asarray(features)  # keeps np.memmap and the original dtype: no copy
    labels = _validate(features, np.asarray(labels))
    d = features.shape[1]
    step = chunk_rows or default_chunk_rows(d)

    classes, counts = np.unique(labels, return_counts=True)
    means = np.zeros((len(classes), d), dtype=np.float64)
    intra = np.zeros(len(classes), dtype=np.float64)
    bad: list[np.ndarray] = []
    for k, c in enumerate(classes):
        rows = np.flatnonzero(labels == c)
        # Single pass with Chan et al.'s pairwise update of (count, mean, sum of squared
        # deviations); avoids the cancellation of E[|x|^2] - |E[x]|^2.
        n_acc, mean_acc, m2_acc = 0, np.zeros(d), 0.0
        for start in range(0, len(rows), step):
            idx = rows[start : start + step]
            chunk = np.asarray(features[idx], dtype=np.float64)
            ok = np.isfinite(chunk).all(axis=1)
            if not ok.all():
                # Keep scanning so the error can list every bad row; skip the arithmetic.
                bad.append(idx[~ok])
                continue
            n_b = len(idx)
            mean_b = chunk.mean(axis=0)
            chunk -= mean_b
            m2_b = float(np.einsum("ij,ij->", chunk, chunk))
            delta = mean_b - mean_acc
            n_tot = n_acc + n_b
            mean_acc = mean_acc + delta * (n_b / n_tot)
            m2_acc = m2_acc + m2_b + float(delta @ delta) * (n_acc * n_b / n_tot)
            n_acc = n_tot
        if n_acc:
            means[k] = mean_acc
            intra[k] = m2_acc / n_acc
    if bad:
        raise _nonfinite_error(np.sort(np.concatenate(bad)))

    # Differences rather than the Gram-matrix identity: exact zeros on the diagonal, and no
    # cancellation when means are large compared with their distances.
    inter = np.stack([((means - means[k]) ** 2).sum(axis=1) for k in range(len(classes))])
    inter = (inter + inter.T) / 2  # bit-exact symmetry
    return ClassVariances(classes=classes, counts=counts.astype(np.int64), intra=intra, inter=inter)


def _names_for(ids: np.ndarray, class_names: Sequence[str]) -> list[str]:
    if len(ids) and (ids.min() < 0 or ids.max() >= len(class_names)):
        raise ValueError(
            f"class ids {ids.min()}..{ids.max()} do not index class_names (length {len(class_names)})"
        )
    return [str(class_names[int(i)]) for i in ids]


def intra_table(v: ClassVariances, class_names: Sequence[str]) -> pl.DataFrame:
    """One row per class: class_id, class_name, n_samples, intra_class_variance."""
    return pl.DataFrame(
        {
            "class_id": v.classes,
            "class_name": _names_for(v.classes, class_names),
            "n_samples": v.counts,
            "intra_class_variance": v.intra,
        },
        schema={
            "class_id": pl.Int64,
            "class_name": pl.Utf8,
            "n_samples": pl.Int64,
            "intra_class_variance": pl.Float64,
        },
    )


def inter_table(v: ClassVariances, class_names: Sequence[str]) -> pl.DataFrame:
    """One row per unordered class pair i < j, in row-major order of the inter matrix."""
    i, j = np.triu_indices(len(v.classes), 1)
    a, b = v.classes[i], v.classes[j]
    return pl.DataFrame(
        {
            "class_a_id": a,
            "class_a": _names_for(a, class_names),
            "class_b_id": b,
            "class_b": _names_for(b, class_names),
            "inter_class_variance": v.inter[i, j],
        },
        schema={
            "class_a_id": pl.Int64,
            "class_a": pl.Utf8,
            "class_b_id": pl.Int64,
            "class_b": pl.Utf8,
            "inter_class_variance": pl.Float64,
        },
    )


def summary_row(v: ClassVariances) -> dict[str, float]:
    """Mean intra, mean inter and their ratio (nan when undefined: K < 2 or zero intra)."""
    mean_intra, mean_inter = v.mean_intra, v.mean_inter
    ratio = mean_inter / mean_intra if mean_intra > 0 else float("nan")
    return {
        "mean_intra_class_variance": mean_intra,
        "mean_inter_class_variance": mean_inter,
        "inter_to_intra_ratio": ratio,
    }


def ratio_interval(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    resamples: int,
    seed: int,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Seeded percentile bootstrap interval (over images) of the inter-to-intra ratio of :func:`summary_row`.

    Each resample is a vector of image counts W; the statistic needs only per-class sums, read with one
    float32 product W_c @ X_c per class on features centred on their class mean (no cancellation, and
    no n x n or per-resample copy of the features): n_c* = sum W, S_c* = W_c X~_c, Q_c* = W_c |x~|^2,
    intra_c* = Q_c*/n_c* - |S_c*/n_c*|^2 and mean_c* = mean_c + S_c*/n_c*. Classes a resample leaves
    out are left out of its ratio, as they would be of the ratio of that sample. The interval is shifted
    by the bootstrap's bias estimate (see ``stats.bootstrap_interval``): resampled class means lie
    further apart by their own noise, which on small classes put the plain percentile interval wholly
    above the estimate.
    """
    from layeratlas.analysis.stats import bootstrap_interval

    statistic = ratio_statistic(features, labels)
    if statistic is None:
        return float("nan"), float("nan")
    n = len(labels)
    return bootstrap_interval(
        statistic, np.arange(n), resamples=resamples, seed=seed, confidence=confidence, bias_corrected=True
    )


def ratio_change_interval(
    features_a: np.ndarray,
    features_b: np.ndarray,
    labels: np.ndarray,
    *,
    resamples: int,
    seed: int,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """ratio(b) - ratio(a) on the same images (rows aligned) and its paired bootstrap interval: each
    resample draws the same images for both (see :func:`ratio_interval`)."""
    from layeratlas.analysis.stats import bootstrap_interval

    stat_a, stat_b = ratio_statistic(features_a, labels), ratio_statistic(features_b, labels)
    if stat_a is None or stat_b is None:
        return float("nan"), float("nan"), float("nan")
    n = len(labels)

    def change(index: np.ndarray, axis: int = -1) -> np.ndarray:
        return stat_b(index) - stat_a(index)

    low, high = bootstrap_interval(
        change, np.arange(n), resamples=resamples, seed=seed, confidence=confidence, bias_corrected=True
    )
    ratios = [
        summary_row(class_variances(x, labels))["inter_to_intra_ratio"] for x in (features_a, features_b)
    ]
    return ratios[1] - ratios[0], low, high


def ratio_statistic(features: np.ndarray, labels: np.ndarray):  # noqa: ANN201
    """The inter-to-intra ratio as a function of resampled image indices ((batch, n) or (n,)), or None
    with fewer than two classes; see :func:`ratio_interval`."""
    from layeratlas.analysis.stats import resample_weights

    features = np.asarray(features)
    labels = _validate(features, np.asarray(labels))
    classes = np.unique(labels)
    d = features.shape[1]
    rows = [np.flatnonzero(labels == c) for c in classes]
    # Weights are counted in class-sorted order, so each class's columns are a slice (a view, no copy).
    order = np.concatenate(rows)
    position = np.empty(len(labels), dtype=np.intp)
    position[order] = np.arange(len(labels))
    bounds = np.cumsum([0, *(len(r) for r in rows)])
    means, norms, centred32 = np.zeros((len(classes), d)), [], []
    for k, r in enumerate(rows):  # one class in float64 at a time
        x = np.asarray(features[r], np.float64)
        means[k] = x.mean(axis=0)
        x -= means[k]
        norms.append(np.einsum("ij,ij->i", x, x).astype(np.float32))
        centred32.append(x.astype(np.float32))
    means -= means.mean(axis=0)  # inter-class distances do not change; |mean|^2 stays small
    n = len(labels)

    def statistic(index: np.ndarray, axis: int = -1) -> np.ndarray:
        w = resample_weights(position[index], n, dtype=np.float32)  # counts: exact in float32
        b = len(w)
        intra_sum, present = np.zeros(b), np.zeros(b)
        sq_sum, vec_sum = np.zeros(b), np.zeros((b, d))
        for k in range(len(classes)):
            wc = w[:, bounds[k] : bounds[k + 1]]
            count = wc.sum(axis=1, dtype=np.float64)
            ok = count > 0
            safe = np.where(ok, count, 1.0)
            shift = (wc @ centred32[k]).astype(np.float64) / safe[:, None]
            intra = (wc @ norms[k]).astype(np.float64) / safe - np.einsum("ij,ij->i", shift, shift)
            mean = means[k] + shift
            intra_sum += np.where(ok, intra, 0.0)
            sq_sum += np.where(ok, np.einsum("ij,ij->i", mean, mean), 0.0)
            vec_sum += np.where(ok[:, None], mean, 0.0)
            present += ok
        pairs = present * (present - 1) / 2
        inter = (present * sq_sum - np.einsum("ij,ij->i", vec_sum, vec_sum)) / np.where(pairs > 0, pairs, 1)
        intra_mean = intra_sum / np.maximum(present, 1)
        ratio = np.where(
            (pairs > 0) & (intra_mean > 0), inter / np.where(intra_mean > 0, intra_mean, 1), np.nan
        )
        return ratio if np.ndim(index) > 1 else ratio[0]

    return statistic if len(classes) >= 2 else None
