"""Linear centred kernel alignment (CKA) between layers, with the unbiased HSIC estimator.

CKA(X, Y) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) with linear kernels K = X X^T, L = Y Y^T and
HSIC the unbiased estimator of Song et al. (2012), as recommended by Nguyen, Raghu and Kornblith (2021):

    HSIC(K, L) = [tr(K~ L~) + 1^T K~ 1 1^T L~ 1 / ((n-1)(n-2)) - 2/(n-2) 1^T K~ L~ 1] / (n(n-3)),

K~ being K with its diagonal set to zero. For linear kernels every term except tr(K L) = |X^T Y|_F^2
reduces to row norms and column sums, so the estimate is exact and streams over row chunks: either
X^T Y is accumulated chunk by chunk (d1 x d2 memory), or, for very wide layers, tr(K L) is summed over
blocks of the n x n Gram matrices (chunk x chunk memory). 1 means the same representation up to a
rotation and an isotropic scaling; 0 means unrelated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from tqdm import tqdm

from layeratlas.analysis.variance import check_finite, default_chunk_rows

# Above this many float64 entries for X^T Y, tr(KL) is summed over Gram blocks instead.
_MAX_CROSS_ENTRIES = 2**25  # 256 MiB


class _Layer:
    """Column means and the statistics of one layer that do not depend on the other layer."""

    def __init__(self, features: np.ndarray, chunk_rows: int | None) -> None:
        features = np.asarray(features)
        if features.ndim != 2:
            raise ValueError(f"features must be 2-D (n_samples, n_features), got shape {features.shape}")
        check_finite(features)
        self.x = features
        self.n, self.d = features.shape
        self.step = chunk_rows or default_chunk_rows(self.d)
        total = np.zeros(self.d)
        for chunk in self._raw_chunks():
            total += chunk.sum(axis=0)
        self.mean = total / self.n
        self.sq_norms = np.concatenate([(c**2).sum(axis=1) for _, c in self.chunks()])  # diag of K

    def _raw_chunks(self):  # noqa: ANN202
        for start in range(0, self.n, self.step):
            yield np.asarray(self.x[start : start + self.step], dtype=np.float64)

    def chunks(self, step: int | None = None):  # noqa: ANN202
        step = step or self.step
        for start in range(0, self.n, step):
            yield start, np.asarray(self.x[start : start + step], dtype=np.float64) - self.mean


def _trace_kl(a: _Layer, b: _Layer) -> float:
    """tr(K L) = |X^T Y|_F^2 of the centred features, streamed over rows."""
    step = min(a.step, b.step)
    if a.d * b.d <= _MAX_CROSS_ENTRIES:
        cross = np.zeros((a.d, b.d))
        for (_, xa), (_, xb) in zip(a.chunks(step), b.chunks(step), strict=True):
            cross += xa.T @ xb
        return float(np.sum(cross**2))
    total = 0.0
    for (_, xa_i), (_, xb_i) in zip(a.chunks(step), b.chunks(step), strict=True):
        for (_, xa_j), (_, xb_j) in zip(a.chunks(step), b.chunks(step), strict=True):
            total += float(np.sum((xa_i @ xa_j.T) * (xb_i @ xb_j.T)))
    return total


def _hsic(a: _Layer, b: _Layer, trace_kl: float) -> float:
    n = a.n
    kd, ld = a.sq_norms, b.sq_norms
    # The features are centred, so K 1 = 0: K~ 1 = -diag(K) and 1^T K~ 1 = -sum(diag(K)).
    trace = trace_kl - float(kd @ ld)
    ones_k, ones_l = -kd.sum(), -ld.sum()
    cross = float(kd @ ld)  # (K~ 1) . (L~ 1) = (-kd) . (-ld)
    return (trace + ones_k * ones_l / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * cross) / (n * (n - 3))


def linear_cka(x: np.ndarray, y: np.ndarray, *, chunk_rows: int | None = None) -> float:
    """Unbiased linear CKA between ``x`` (n, d1) and ``y`` (n, d2), the same n samples in the same order."""
    return float(cka_matrix({"x": x}, {"y": y}, chunk_rows=chunk_rows)[0, 0])


def cka_matrix(
    layers_a: Mapping[str, np.ndarray],
    layers_b: Mapping[str, np.ndarray] | None = None,
    *,
    chunk_rows: int | None = None,
    progress: bool = False,
) -> np.ndarray:
    """(len(layers_a), len(layers_b)) unbiased linear CKA; ``layers_b`` defaults to ``layers_a``.

    Every array has the same n >= 4 rows (samples, same order). Arrays may be memory maps: they are
    read in row chunks. A layer whose features are constant has an undefined CKA (nan).
    """
    same = layers_b is None
    names_a = list(layers_a)
    names_b = names_a if same else list(layers_b)
    arrays = {("a", k): v for k, v in layers_a.items()}
    if not same:
        arrays.update({("b", k): v for k, v in layers_b.items()})
    sizes = {np.asarray(v).shape[0] for v in arrays.values()}
    if len(sizes) != 1:
        raise ValueError(f"all layers must have the same number of rows (samples), got {sorted(sizes)}")
    if sizes.pop() < 4:
        raise ValueError("the unbiased HSIC estimator needs at least 4 samples")
    stats = {key: _Layer(v, chunk_rows) for key, v in arrays.items()}
    side_b = "a" if same else "b"
    self_hsic = {key: _hsic(s, s, _trace_kl(s, s)) for key, s in stats.items()}
    out = np.full((len(names_a), len(names_b)), np.nan)
    pairs = [(i, j) for i in range(len(names_a)) for j in range(len(names_b)) if not (same and j < i)]
    for i, j in tqdm(pairs, desc="CKA", disable=not progress):
        a, b = stats[("a", names_a[i])], stats[(side_b, names_b[j])]
        denom = self_hsic[("a", names_a[i])] * self_hsic[(side_b, names_b[j])]
        if denom > 0:
            out[i, j] = _hsic(a, b, _trace_kl(a, b)) / np.sqrt(denom)
        if same:
            out[j, i] = out[i, j]
    return out


def layer_labels(groups: Mapping[str, Sequence[str]]) -> list[str]:
    """'model / layer' labels for a {model: [layer, ...]} mapping, in order."""
    return [f"{model} / {layer}" for model, layers in groups.items() for layer in layers]
