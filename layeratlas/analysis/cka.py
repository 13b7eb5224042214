"""Linear centred kernel alignment (CKA) between layers, with the unbiased HSIC estimator.

CKA(X, Y) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) with linear kernels K = X X^T, L = Y Y^T and
HSIC the unbiased estimator of Song et al. (2012), as recommended by Nguyen, Raghu and Kornblith (2021):

    HSIC(K, L) = [tr(K~ L~) + 1^T K~ 1 1^T L~ 1 / ((n-1)(n-2)) - 2/(n-2) 1^T K~ L~ 1] / (n(n-3)),

K~ being K with its diagonal set to zero. For linear kernels every term except tr(K L) = |X^T Y|_F^2
reduces to row norms and column sums, so the estimate is exact. 1 means the same representation up
to a rotation and an isotropic scaling; 0 means unrelated.

Cost: each layer is read once (one pass: loaded and centred, float32 when large); tr(K L) is then
computed where it is cheaper, in feature space (|X^T Y|_F^2 over column blocks: N d1 d2, memory
bounded by the block size, whatever the width) or in sample space (n x n Gram blocks of every
layer built once per block pair, all layer pairs summed from them: N^2 per layer, for few samples
and wide layers). The squared sums accumulate in float64; float32 products give ~1e-6 relative
error on the CKA (float64 throughout for small inputs, where it costs nothing).

Interval (:func:`cka_intervals`): a seeded percentile bootstrap over images of a stated subsample of
``samples`` images (all of them when fewer), drawn once without replacement. Resampling rows with
replacement puts duplicate images into the resample; the unbiased estimator would take each duplicate
pair (two positions, one image) for two distinct, perfectly similar images, and with wide layers
(K_ii ~ d times an off-diagonal K_ij) that biases every resampled CKA upwards, towards the biased
estimator. So each resample's HSIC is the unbiased formula with every pair of positions that hold the
same image removed, not only the diagonal: K~ is K with K_ij = 0 wherever image i = image j. What is
left differs from a U-statistic over distinct images only in the O(1/m) share of 4-tuples in which two
images coincide through other index pairs. For linear kernels this needs no resampled matrix at all:
with w the resample's count of each image and K0 = K with a zero diagonal, tr(K~ L~) = w^T (K0 o L0) w,
1^T K~ 1 = w^T K0 w and 1^T K~ L~ 1 = sum_i w_i (K0 w)_i (L0 w)_i; a batch of resamples is one matrix
product per layer pair (resamples x m^2 multiply-adds), and each layer's m x m Gram is built once
(m^2 d). The interval is that of a CKA on m images: wider than the whole set's would be
(conservative) when the split has more than m. The point estimate stays the whole set's.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.stats import DegenerateDataWarning
from tqdm import tqdm

from layeratlas.analysis.variance import check_finite

# Column / row blocks of this many features / samples: block products stay well shaped for BLAS
# and their memory bounded (1024 x 1024 results; N x 1024 operand views, no copies).
_BLOCK = 1024
# Up to this many entries in all layers together, everything stays float64 (exact to ~1e-12).
_FLOAT64_ENTRIES = 2**23
PATHS = ("auto", "features", "samples")


def _centred(features: np.ndarray, dtype: type) -> np.ndarray:
    """A centred in-memory copy of one layer (its one read), columns means taken in float64."""
    x = np.array(features, dtype=dtype, order="C")
    mean = x.sum(axis=0, dtype=np.float64) / len(x)
    x -= mean.astype(dtype)
    return x


def _sq_sum(block: np.ndarray) -> float:
    return float(np.sum(np.square(block, dtype=np.float64)))


def _blocks(d: int) -> list[slice]:
    return [slice(s, min(s + _BLOCK, d)) for s in range(0, d, _BLOCK)]


def _trace_features(x: np.ndarray, y: np.ndarray | None) -> float:
    """|X^T Y|_F^2 over column blocks; Y None means X itself (symmetric: upper blocks only, doubled)."""
    total = 0.0
    cols_x = _blocks(x.shape[1])
    if y is None:
        for i, bi in enumerate(cols_x):
            for bj in cols_x[i:]:
                total += (1.0 if bi == bj else 2.0) * _sq_sum(x[:, bi].T @ x[:, bj])
        return total
    for bi in cols_x:
        for bj in _blocks(y.shape[1]):
            total += _sq_sum(x[:, bi].T @ y[:, bj])
    return total


def _traces_samples(layers: list[np.ndarray], pairs: list[tuple[int, int]], progress: bool) -> dict:
    """tr(K_a K_b) for every pair from n x n Gram blocks, each layer's block built once per block pair."""
    n = len(layers[0])
    rows = _blocks(n)
    totals = dict.fromkeys(pairs, 0.0)
    steps = [(i, j) for i in range(len(rows)) for j in range(i, len(rows))]
    for i, j in tqdm(steps, desc="CKA Gram blocks", disable=not progress):
        weight = 1.0 if i == j else 2.0  # K is symmetric: the lower block equals the upper's transpose
        grams = {}
        for a in {p for pair in pairs for p in pair}:
            grams[a] = layers[a][rows[i]] @ layers[a][rows[j]].T
        for a, b in pairs:
            ka, kb = grams[a], grams[b]
            total = _sq_sum(ka) if a == b else float(np.einsum("ij,ij->", ka, kb, dtype=np.float64))
            totals[(a, b)] += weight * total
    return totals


def _hsic(n: int, kd: np.ndarray, ld: np.ndarray, trace_kl: float) -> float:
    # The features are centred, so K 1 = 0: K~ 1 = -diag(K) and 1^T K~ 1 = -sum(diag(K)).
    trace = trace_kl - float(kd @ ld)
    ones_k, ones_l = -kd.sum(), -ld.sum()
    cross = float(kd @ ld)  # (K~ 1) . (L~ 1) = (-kd) . (-ld)
    return (trace + ones_k * ones_l / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * cross) / (n * (n - 3))


def linear_cka(x: np.ndarray, y: np.ndarray, *, path: str = "auto") -> float:
    """Unbiased linear CKA between ``x`` (n, d1) and ``y`` (n, d2), the same n samples in the same order."""
    return float(cka_matrix({"x": x}, {"y": y}, path=path)[0, 0])


def cka_matrix(
    layers_a: Mapping[str, np.ndarray],
    layers_b: Mapping[str, np.ndarray] | None = None,
    *,
    progress: bool = False,
    path: str = "auto",
    dtype: type | None = None,
) -> np.ndarray:
    """(len(layers_a), len(layers_b)) unbiased linear CKA; ``layers_b`` defaults to ``layers_a``.

    Every array has the same n >= 4 rows (samples, same order); arrays may be memory maps (each is
    read once). A layer whose features are constant has an undefined CKA (nan). ``path``: "features"
    (|X^T Y|_F^2), "samples" (Gram blocks) or "auto" (the one with fewer multiply-adds); ``dtype``:
    float32 or float64, None for float64 up to _FLOAT64_ENTRIES entries in all, float32 beyond.
    """
    if path not in PATHS:
        raise ValueError(f"unknown CKA path {path!r}; expected one of {PATHS}")
    same = layers_b is None
    names_a = list(layers_a)
    names_b = names_a if same else list(layers_b)
    raw = [np.asarray(v) for v in layers_a.values()]
    if not same:
        raw += [np.asarray(v) for v in layers_b.values()]
    for x in raw:
        if x.ndim != 2:
            raise ValueError(f"features must be 2-D (n_samples, n_features), got shape {x.shape}")
    sizes = {x.shape[0] for x in raw}
    if len(sizes) != 1:
        raise ValueError(f"all layers must have the same number of rows (samples), got {sorted(sizes)}")
    n = sizes.pop()
    if n < 4:
        raise ValueError("the unbiased HSIC estimator needs at least 4 samples")
    if dtype is None:
        dtype = np.float64 if n * sum(x.shape[1] for x in raw) <= _FLOAT64_ENTRIES else np.float32
    layers = []
    for x in raw:
        check_finite(x)
        layers.append(_centred(x, dtype))
    del raw
    sq_norms = [np.einsum("ij,ij->i", x, x, dtype=np.float64) for x in layers]  # diag of K
    off_b = 0 if same else len(names_a)
    cross = [(i, off_b + j) for i in range(len(names_a)) for j in range(len(names_b)) if not (same and j < i)]
    pairs = sorted({(a, a) for pair in cross for a in pair} | set(cross))
    if path == "auto":
        widths = [x.shape[1] for x in layers]
        feature_cost = sum(n * widths[a] * widths[b] / (2 if a == b else 1) for a, b in pairs)
        sample_cost = n * n * sum(widths[a] for a in {p for pair in pairs for p in pair}) / 2
        path = "features" if feature_cost <= sample_cost else "samples"
    if path == "samples":
        traces = _traces_samples(layers, pairs, progress)
    else:
        traces = {
            (a, b): _trace_features(layers[a], None if a == b else layers[b])
            for a, b in tqdm(pairs, desc="CKA", disable=not progress)
        }
    hsic = {(a, b): _hsic(n, sq_norms[a], sq_norms[b], t) for (a, b), t in traces.items()}
    out = np.full((len(names_a), len(names_b)), np.nan)
    for a, b in cross:
        denom = hsic[(a, a)] * hsic[(b, b)]
        if denom > 0:
            out[a, b - off_b] = hsic[(a, b)] / np.sqrt(denom)
        if same:
            out[b, a] = out[a, b]
    return out


def cka_intervals(
    layers: Mapping[str, np.ndarray],
    *,
    resamples: int,
    seed: int,
    samples: int,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Percentile bootstrap interval of the unbiased linear CKA between every pair of ``layers`` (see the
    module docstring): (low, high) matrices in ``layers``' order, symmetric, and the number m of images
    bootstrapped (``samples`` of them, drawn once with ``seed``; all when fewer). nan where undefined
    (no resamples, under 4 images, a constant layer or a resample where one is).
    """
    from layeratlas.analysis.stats import bootstrap_intervals, resample_weights

    names = list(layers)
    k = len(names)
    nan = np.full((k, k), np.nan)
    if not names:
        return nan, nan.copy(), 0
    n = len(np.asarray(layers[names[0]]))
    m = min(n, int(samples))
    if resamples <= 0 or m < 4:
        return nan, nan.copy(), m
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, size=m, replace=False)) if m < n else np.arange(n)
    grams = []
    for name in names:
        x = np.asarray(layers[name])
        check_finite(x)
        x = _centred(x[rows], np.float64)  # K_ij only enters off the diagonal: centring changes no HSIC
        gram = x @ x.T
        np.fill_diagonal(gram, 0.0)
        grams.append(gram)
    pairs = [(a, b) for a in range(k) for b in range(a, k)]

    def statistic(index: np.ndarray, axis: int = -1) -> np.ndarray:
        w = resample_weights(index, m)  # (batch, m) counts
        kw = [w @ g for g in grams]  # (K0 w) of each resample: K0 is symmetric
        ones = [np.einsum("bi,bi->b", w, v) for v in kw]  # 1^T K~ 1
        hsic = {}
        for a, b in pairs:
            trace = np.einsum("bi,bi->b", w @ (grams[a] * grams[b]), w)
            cross = np.einsum("bi,bi,bi->b", w, kw[a], kw[b])
            hsic[(a, b)] = (trace + ones[a] * ones[b] / ((m - 1) * (m - 2)) - 2.0 / (m - 2) * cross) / (
                m * (m - 3)
            )
        with np.errstate(invalid="ignore", divide="ignore"):
            out = [hsic[(a, b)] / np.sqrt(hsic[(a, a)] * hsic[(b, b)]) for a, b in pairs]
        return np.stack(out)

    with warnings.catch_warnings():  # a constant layer's nan, or identical layers' 1, in every resample
        warnings.simplefilter("ignore", DegenerateDataWarning)
        low_pairs, high_pairs = bootstrap_intervals(
            statistic, np.arange(m), resamples=resamples, seed=seed, confidence=confidence
        )
    low, high = nan.copy(), nan.copy()
    for (a, b), lo, hi in zip(pairs, np.ravel(low_pairs), np.ravel(high_pairs), strict=True):
        low[a, b] = low[b, a] = lo
        high[a, b] = high[b, a] = hi
    return low, high, m


def layer_labels(groups: Mapping[str, Sequence[str]]) -> list[str]:
    """'model / layer' labels for a {model: [layer, ...]} mapping, in order."""
    return [f"{model} / {layer}" for model, layers in groups.items() for layer in layers]
