"""Per-layer reductions of a layer's output before it is stored: pure functions of arrays.

A reduction is the value of ``models.<model>.layers.<layer>`` in the config: the strings ``none``
(flatten), ``avg`` / ``max`` (global pooling over space), or a mapping ``{reduction: <kind>, ...}``:

- ``adaptive_avg`` / ``adaptive_max`` with ``size: k``: pooling to a k x k grid (PyTorch's adaptive
  pooling windows), stored as (channel, row, column) flattened: C * k * k values;
- ``channels`` with ``channels: [i, j, ...]``: only those channels, flattened (seed report 000 kept
  the first 10 channels of a 1024 x 14 x 14 map);
- ``random_projection`` with ``dim: d`` (and ``seed``): the flattened output times a seeded very sparse
  random matrix (Li, Hastie & Church 2006), which keeps squared distances in expectation;
- ``pca`` with ``dim: d`` (and ``fit_samples``): incremental PCA fitted by streaming batches
  (scikit-learn's IncrementalPCA.partial_fit), then the projection on its d components.

The strings ``none``, ``avg``, ``max`` are also valid as ``{reduction: none}`` etc.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

SIMPLE = ("none", "avg", "max")
KINDS = (*SIMPLE, "adaptive_avg", "adaptive_max", "channels", "random_projection", "pca")

ReductionValue = str | Mapping[str, Any]


@dataclass(frozen=True)
class Reduction:
    """A parsed reduction; only the fields its ``kind`` uses are set."""

    kind: str
    size: int | None = None
    channels: tuple[int, ...] | None = None
    dim: int | None = None
    seed: int = 0
    fit_samples: int | None = None

    @property
    def needs_fit(self) -> bool:
        return self.kind == "pca"


def parse_reduction(value: ReductionValue | Reduction) -> Reduction:
    """The config value (a string or a mapping) as a Reduction; a clear error for anything else."""
    if isinstance(value, Reduction):
        return value
    if isinstance(value, str):
        if value not in SIMPLE:
            raise ValueError(f"unknown reduction {value!r}; choose one of {', '.join(SIMPLE)} or a mapping")
        return Reduction(value)
    if not isinstance(value, Mapping) or "reduction" not in value:
        raise ValueError(f"a reduction is one of {', '.join(SIMPLE)} or a mapping with a 'reduction' key")
    kind = value["reduction"]
    if kind not in KINDS:
        raise ValueError(f"unknown reduction {kind!r}; choose one of {', '.join(KINDS)}")
    needed = {"adaptive_avg": "size", "adaptive_max": "size", "channels": "channels"}
    needed |= {"random_projection": "dim", "pca": "dim"}
    if kind in needed and value.get(needed[kind]) is None:
        raise ValueError(f"reduction {kind!r} needs {needed[kind]!r}")
    channels = value.get("channels")
    fit = value.get("fit_samples")
    return Reduction(
        kind,
        size=int(value["size"]) if kind.startswith("adaptive") else None,
        channels=tuple(int(c) for c in channels) if kind == "channels" else None,
        dim=int(value["dim"]) if kind in ("random_projection", "pca") else None,
        seed=int(value.get("seed", 0) or 0),
        fit_samples=int(fit) if (kind == "pca" and fit is not None) else None,
    )


def reduction_errors(shape: Sequence[int], value: ReductionValue, where: str) -> list[str]:
    """Why ``value`` cannot reduce a layer whose per-image output has ``shape`` (empty when it can).

    ``where`` is the config key path (``models.m.layers.layer3``) the messages start with.
    """
    try:
        r = parse_reduction(value)
    except ValueError as error:
        return [f"{where}: {error}"]
    shape = tuple(int(s) for s in shape)
    flat = int(np.prod(shape))
    errors = []
    if r.kind.startswith("adaptive"):
        if len(shape) != 3:
            errors.append(
                f"{where}: {r.kind} pooling to {r.size} x {r.size} needs a (channels, height, width) map, "
                f"but this layer's output is {_shape_text(shape)}; use none, or a channels subset"
            )
        elif r.size > min(shape[1:]):
            errors.append(
                f"{where}: size {r.size} is larger than the {shape[1]} x {shape[2]} map; "
                f"choose a size from 1 to {min(shape[1:])}"
            )
    elif r.kind == "channels":
        bad = [c for c in r.channels if c >= shape[0]]
        if bad:
            errors.append(
                f"{where}: channels {bad} do not exist; this layer has {shape[0]} channels "
                f"(output {_shape_text(shape)}), so indices 0 to {shape[0] - 1} are allowed"
            )
        if len(set(r.channels)) != len(r.channels):
            errors.append(f"{where}: channels must not repeat")
    elif r.kind in ("random_projection", "pca") and r.dim > flat:
        errors.append(
            f"{where}: dim {r.dim} is more than the {flat} values this layer has per image "
            f"(output {_shape_text(shape)}); choose dim from 1 to {flat}"
        )
    return errors


def _shape_text(shape: Sequence[int]) -> str:
    return " x ".join(map(str, shape))


def reduced_dim(shape: Sequence[int], value: ReductionValue | Reduction) -> int:
    """Values per image after the reduction of a layer whose per-image output has ``shape``."""
    r = parse_reduction(value)
    shape = [int(s) for s in shape]
    flat = int(np.prod(shape))
    if r.kind == "none" or (r.kind in ("avg", "max") and len(shape) <= 1):
        return flat
    if r.kind in ("avg", "max"):
        return shape[0]
    if r.kind.startswith("adaptive"):
        return shape[0] * r.size * r.size
    if r.kind == "channels":
        return len(r.channels) * flat // shape[0]
    return int(r.dim)


def adaptive_pool(x: np.ndarray, size: int, how: str = "avg") -> np.ndarray:
    """(N, C, H, W) -> (N, C * size * size): PyTorch's adaptive average/max pooling windows
    (row i spans floor(i H / k) to ceil((i + 1) H / k)), flattened per image."""
    if x.ndim != 4:
        raise ValueError(f"adaptive pooling needs (N, C, H, W) input, got shape {x.shape}")
    n, c, h, w = x.shape
    op = np.mean if how == "avg" else np.max
    out = np.empty((n, c, size, size), dtype=x.dtype)
    for i in range(size):
        r0, r1 = (i * h) // size, -((-(i + 1) * h) // size)
        for j in range(size):
            c0, c1 = (j * w) // size, -((-(j + 1) * w) // size)
            out[:, :, i, j] = op(x[:, :, r0:r1, c0:c1], axis=(2, 3))
    return out.reshape(n, -1)


@functools.lru_cache(maxsize=8)
def projection_matrix(d_in: int, d_out: int, seed: int):  # noqa: ANN201 - scipy.sparse.csc_array
    """The seeded very sparse random projection (d_in, d_out): each entry is non-zero with probability
    1/sqrt(d_in), then +-sqrt(sqrt(d_in) / d_out) with equal chance, so E ||x R||^2 = ||x||^2.

    Sparse so that a 200,704 -> 1,024 projection takes ~5 MB instead of 800 MB.
    """
    from scipy import sparse

    rng = np.random.default_rng(seed)
    density = 1.0 / np.sqrt(d_in)
    per_col = rng.binomial(d_in, density, size=d_out)
    rows = np.concatenate([rng.choice(d_in, k, replace=False) for k in per_col] or [np.empty(0, int)])
    cols = np.repeat(np.arange(d_out), per_col)
    values = rng.choice(np.array([-1.0, 1.0]), size=rows.size) * np.sqrt(1.0 / (density * d_out))
    return sparse.csc_array((values.astype(np.float32), (rows, cols)), shape=(d_in, d_out))


def reduce_features(x: np.ndarray, value: ReductionValue | Reduction) -> np.ndarray:
    """(N, C, *spatial) -> (N, D) for every reduction that needs no fitting (all but ``pca``)."""
    r = parse_reduction(value)
    n = len(x)
    if r.kind == "pca":
        raise ValueError("the pca reduction is fitted first: use LayerReducer")
    if r.kind == "none" or x.ndim <= 2 and r.kind in ("avg", "max"):
        return x.reshape(n, -1)
    if r.kind in ("avg", "max"):
        axes = tuple(range(2, x.ndim))
        return x.mean(axis=axes) if r.kind == "avg" else x.max(axis=axes)
    if r.kind.startswith("adaptive"):
        return adaptive_pool(x, r.size, r.kind.removeprefix("adaptive_"))
    if r.kind == "channels":
        return x[:, list(r.channels)].reshape(n, -1)
    flat = x.reshape(n, -1)
    matrix = projection_matrix(flat.shape[1], r.dim, r.seed)
    return np.asarray((matrix.T @ flat.T).T, dtype=np.float32)


class LayerReducer:
    """One layer's reduction; ``pca`` is fitted by ``partial_fit`` on streamed batches first."""

    def __init__(self, value: ReductionValue | Reduction) -> None:
        self.reduction = parse_reduction(value)
        self._pca = None
        self._buffer: list[np.ndarray] = []
        self._buffered = 0

    @property
    def fitted(self) -> bool:
        return not self.reduction.needs_fit or self._pca is not None and not self._buffer

    def partial_fit(self, x: np.ndarray) -> None:
        """Feed one batch to the incremental PCA. IncrementalPCA needs at least ``dim`` rows per step,
        so small batches are buffered until there are enough (the buffer holds fewer than 2 x dim rows)."""
        from sklearn.decomposition import IncrementalPCA

        if not self.reduction.needs_fit:
            return
        if self._pca is None:
            self._pca = IncrementalPCA(n_components=self.reduction.dim)
        self._buffer.append(x.reshape(len(x), -1))
        self._buffered += len(x)
        if self._buffered >= self.reduction.dim:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self._pca.partial_fit(np.concatenate(self._buffer).astype(np.float64, copy=False))
            self._buffer, self._buffered = [], 0

    def finish_fit(self) -> None:
        if not self.reduction.needs_fit:
            return
        if self._pca is None:
            raise ValueError("the pca reduction saw no images to fit on")
        if self._buffer:
            seen = self._pca.n_samples_seen_ if hasattr(self._pca, "n_samples_seen_") else 0
            if self._buffered < self.reduction.dim and not seen:
                raise ValueError(
                    f"pca with dim {self.reduction.dim} needs at least {self.reduction.dim} images to fit, "
                    f"got {self._buffered}"
                )
            if self._buffered >= self.reduction.dim or not seen:
                self._flush()
            else:  # fewer than dim rows cannot make one more IncrementalPCA step: left out of the fit
                self._buffer, self._buffered = [], 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if not self.reduction.needs_fit:
            return reduce_features(x, self.reduction)
        if self._pca is None or self._buffer:
            raise ValueError("pca reduction used before finish_fit()")
        return self._pca.transform(x.reshape(len(x), -1)).astype(np.float32)
