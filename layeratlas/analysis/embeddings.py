"""2-D embeddings (PCA, t-SNE, UMAP) of layer features."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import polars as pl

from layeratlas.analysis.variance import check_finite

log = logging.getLogger("layeratlas")

METHODS = ("pca", "tsne", "umap")

# t-SNE and UMAP first reduce wider features to this many principal components: standard
# practice, it removes noise dimensions and makes the neighbour search much cheaper.
_PRE_PCA_DIMS = 50
# Set by embed() itself; letting params override them would break the (n, 2) contract.
_RESERVED = frozenset({"n_components", "random_state", "n_jobs"})


def _pre_reduce(features: np.ndarray, seed: int) -> np.ndarray:
    n, d = features.shape
    if d > _PRE_PCA_DIMS:
        from sklearn.decomposition import PCA  # t-SNE and UMAP import scikit-learn anyway

        features = PCA(n_components=min(_PRE_PCA_DIMS, n), random_state=seed).fit_transform(features)
    return np.ascontiguousarray(features, dtype=np.float64)


def _neighbours(asked: int, m: int) -> int:
    """UMAP's n_neighbors, at most m - 1 (validate refuses a written one; a default on a small set is
    clipped, with a warning in the job's log)."""
    if asked > m - 1:
        log.warning("UMAP n_neighbors %d clipped to %d: m - 1 for %d points", asked, m - 1, m)
    return min(asked, m - 1)


def embed(
    features: np.ndarray,
    method: str,
    *,
    seed: int,
    n_jobs: int = 1,
    params: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """Embed ``features`` (n, d) in 2-D with ``method`` (one of METHODS); returns (n, 2) float32.

    ``params`` may set ``perplexity`` (t-SNE, default 30, clipped to (n-1)/3), ``n_neighbors``
    (UMAP, default 15, clipped to n-1), ``min_dist`` (UMAP, default 0.1), ``fit_samples`` (t-SNE,
    UMAP: fit on a seeded sample of this many points and place the others with the fitted map's
    ``transform``; see fitted_on) and ``deterministic`` (UMAP, default true: seeded and so
    single-threaded; false uses ``n_jobs`` threads and differs run to run); other keys go to the
    method's constructor. t-SNE is openTSNE with ``n_jobs`` threads and the FFT-accelerated gradient
    from FFT_FROM points on (Barnes-Hut below), after PCA to 50 dimensions (as UMAP).
    """
    if method not in METHODS:
        raise ValueError(f"unknown embedding method {method!r}; expected one of {METHODS}")
    features = np.asarray(features)
    if features.ndim != 2:
        raise ValueError(f"features must be 2-D (n_samples, n_features), got shape {features.shape}")
    n = features.shape[0]
    if n < 5:
        raise ValueError(f"need at least 5 samples to embed, got {n}")
    check_finite(features)
    extra = dict(params or {})
    if reserved := _RESERVED & extra.keys():
        raise ValueError(f"params must not set {sorted(reserved)}; embed() sets them itself")

    if method == "pca":
        extra.pop("fit_samples", None)
        if not extra:
            return pca_2d(features)
        from sklearn.decomposition import PCA  # options for scikit-learn's PCA (none in the config schema)

        coords = PCA(n_components=2, random_state=seed, **extra).fit_transform(features)
        return np.asarray(coords, dtype=np.float32)
    fit_rows = sample_rows(n, extra.pop("fit_samples", None), seed)
    reduced = _pre_reduce(features, seed)
    fit = reduced if fit_rows is None else reduced[fit_rows]
    m = len(fit)
    if method == "tsne":
        from openTSNE import TSNE  # lazy: only needed for t-SNE

        asked = float(extra.pop("perplexity", 30))
        perplexity = min(asked, (m - 1) / 3)
        if perplexity < asked:  # validate refuses a written one; a default on a small set is clipped
            log.warning("t-SNE perplexity %g clipped to %.3g ((n - 1) / 3, n = %d)", asked, perplexity, m)
        tsne = TSNE(
            n_components=2,
            perplexity=perplexity,
            random_state=seed,
            n_jobs=n_jobs,
            **{"initialization": "pca", "negative_gradient_method": tsne_gradient_method(m), **extra},
        )
        with _pynndescent_unasked(extra.get("metric", "euclidean")):
            model = tsne.fit(fit)
        coords = np.asarray(model)
        transform = (lambda x: np.asarray(model.transform(x))) if fit_rows is not None else None
    else:
        umap = import_umap()
        deterministic = bool(extra.pop("deterministic", True))
        reducer = umap.UMAP(
            n_components=2,
            n_neighbors=_neighbours(int(extra.pop("n_neighbors", 15)), m),
            min_dist=float(extra.pop("min_dist", 0.1)),
            # A fixed random_state makes UMAP single-threaded (and reproducible); without one it
            # uses n_jobs threads.
            random_state=seed if deterministic else None,
            n_jobs=1 if deterministic else n_jobs,
            **extra,
        )
        coords = reducer.fit_transform(fit)
        transform = reducer.transform if fit_rows is not None else None
    if transform is not None:
        full = np.empty((n, 2), dtype=np.float32)
        rest = np.setdiff1d(np.arange(n), fit_rows)
        full[fit_rows] = coords
        full[rest] = transform(reduced[rest])
        coords = full
    return np.asarray(coords, dtype=np.float32)


def pca_2d(features: np.ndarray) -> np.ndarray:
    """The projections on the first two principal components, (n, 2) float32: scikit-learn's PCA (its
    sign convention: each component's largest loading positive) by one exact float64 SVD of the centred
    features. Why not scikit-learn: importing its PCA cost a PCA job 1.5 of its 3.5 CPU-seconds
    (benchmarks/README.md, issue 22); for the few hundred to few thousand rows of a map the exact SVD is
    cheap (scikit-learn's "auto" took a randomized SVD for wide features: the same components to the
    last digits of float32, tests/test_embeddings.py)."""
    x = np.asarray(features, dtype=np.float64)
    x = x - x.mean(axis=0)
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    k = min(2, len(s))
    signs = np.sign(vt[np.arange(k), np.argmax(np.abs(vt[:k]), axis=1)])
    signs[signs == 0] = 1.0
    coords = np.zeros((len(x), 2))
    coords[:, :k] = u[:, :k] * (s[:k] * signs)
    return coords.astype(np.float32)


# openTSNE chooses its neighbour search by first importing pynndescent (and with it numba: 2.8 of a
# t-SNE job's 6.9 CPU-seconds, issue 22) to see whether it is installed, and uses it only for sparse
# data or a metric outside this list; for dense features and these metrics the choice is the same
# without it (exact search below 1,000 points, Annoy above).
_OPENTSNE_DENSE_METRICS = frozenset(
    {"cosine", "euclidean", "manhattan", "hamming", "dot", "l1", "l2", "taxicab"}
)


@contextlib.contextmanager
def _pynndescent_unasked(metric: object) -> Iterator[None]:
    """While openTSNE fits dense features with ``metric``: pynndescent reads as not installed (unless
    something already imported it), so openTSNE's check does not import it."""
    if "pynndescent" in sys.modules or metric not in _OPENTSNE_DENSE_METRICS:
        yield
        return
    sys.modules["pynndescent"] = None  # a None entry makes `import pynndescent` raise ImportError
    try:
        yield
    finally:
        if sys.modules.get("pynndescent", 0) is None:
            del sys.modules["pynndescent"]


def numba_cache_dir() -> Path:
    """Where numba keeps UMAP's compiled functions: $NUMBA_CACHE_DIR when set, else
    $XDG_CACHE_HOME/layeratlas/numba (default ~/.cache/layeratlas/numba).

    Per user and machine rather than per run folder (.snakemake/): numba's cache entries are keyed
    by the source file, its modification time, the argument types and the CPU, so every run folder,
    CI run and notebook of this machine can share them, and the compile is paid once per machine.
    """
    if env := os.environ.get("NUMBA_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "layeratlas" / "numba"


def import_umap() -> ModuleType:
    """``umap``, with numba's on-disk cache on for its compiled functions and pynndescent's, and
    pynndescent's search index (``NNDescent``) imported only when a fit uses it.

    Most of umap's functions are plain ``numba.njit`` (no ``cache=True``), so every process compiled
    them again: ~10 s of each UMAP job on an idle 2-core machine (37 s on a busy one), for seconds of
    arithmetic. Caching is switched on for each of them before its first compile (those compiled at
    import, such as ``umap.utils.tau_rand_int``, included), so a job after the first loads them
    instead. Functions numba cannot cache are compiled as before.

    ``import umap`` imports pynndescent, whose package imports ``NNDescent`` and with it about 30
    functions compiled at import (random-projection and hub trees: ~13 of the ~31 CPU-seconds of a
    first UMAP on an empty cache, and their cache loads afterwards); UMAP builds that index only for
    4,096 points or more (below: exact distances), so it is imported then (_defer_init).
    """
    os.environ.setdefault("NUMBA_CACHE_DIR", str(numba_cache_dir()))  # read when numba is imported
    with _numba_cached():
        _defer_init("pynndescent", "pynndescent.pynndescent_", _NNDESCENT)
        import umap  # lazy: importing umap (numba) takes seconds
    _enable_caching()
    return umap


_CACHED_PACKAGES = ("umap", "pynndescent")
# What pynndescent's __init__ takes from pynndescent.pynndescent_ (umap asks for NNDescent).
_NNDESCENT = ("NNDescent", "PyNNDescentTransformer")


def _caches(dispatcher: object) -> bool:
    module = getattr(getattr(dispatcher, "py_func", None), "__module__", None) or ""
    return module.split(".")[0] in _CACHED_PACKAGES


def _enable_caching() -> None:
    """numba's cache on for every umap and pynndescent function not compiled yet."""
    from numba.core.registry import CPUDispatcher

    for name, module in list(sys.modules.items()):
        if name.split(".")[0] not in _CACHED_PACKAGES or module is None:
            continue
        for value in list(vars(module).values()):
            if isinstance(value, CPUDispatcher) and type(value._cache).__name__ == "NullCache":
                value.enable_caching()


@contextlib.contextmanager
def _numba_cached() -> Iterator[None]:
    """While umap and pynndescent are imported: a function of theirs compiled for an explicit
    signature at import (before _enable_caching could reach it) uses numba's cache too."""
    from numba.core.dispatcher import Dispatcher

    compile_ = Dispatcher.compile

    def compile_cached(self, sig):  # noqa: ANN001, ANN202 (numba's signature)
        if type(self._cache).__name__ == "NullCache" and _caches(self):
            self.enable_caching()
        return compile_(self, sig)

    Dispatcher.compile = compile_cached
    try:
        yield
    finally:
        Dispatcher.compile = compile_


class _DeferredClass(type):
    """A stand-in for a class of a module not imported yet: calling it imports the module and builds
    the real class's object; isinstance is true only for the real class's objects."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return getattr(cls._load(), cls.__name__)(*args, **kwargs)

    def __instancecheck__(cls, obj: object) -> bool:
        real = sys.modules.get(cls._module)
        return real is not None and isinstance(obj, getattr(real, cls.__name__))


def _defer_init(name: str, module: str, classes: Sequence[str]) -> None:
    """Package ``name`` imported without running its ``__init__``, to defer that one's import of its
    submodule ``module``. Other submodules import from the package's folder as usual; ``from name
    import C``, for C in ``classes`` (what ``__init__`` takes from ``module``), gives a _DeferredClass.
    The first other attribute asked of the package, or the first C built, runs the real ``__init__``
    in the same module object (numba's cache on, as in import_umap), which from then on is the whole
    package. Nothing changes where the package is already imported or is not installed."""
    import importlib
    import importlib.util

    spec = None if name in sys.modules else importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    package = importlib.util.module_from_spec(spec)

    def load() -> ModuleType:
        if "__getattr__" in vars(package):
            del package.__getattr__
            for c in classes:
                delattr(package, c)
            with _numba_cached():
                spec.loader.exec_module(package)
            _enable_caching()
        return package

    def getattr_(attribute: str) -> Any:
        return getattr(load(), attribute)

    def load_module() -> ModuleType:
        load()
        return importlib.import_module(module)

    package.__getattr__ = getattr_
    for c in classes:
        setattr(package, c, _DeferredClass(c, (), {"_module": module, "_load": staticmethod(load_module)}))
    sys.modules[name] = package


# FFT-interpolated gradients (Linderman et al. 2019) cost O(n) but have a fixed grid cost that makes
# them ~20x slower than Barnes-Hut on a few hundred points (measured: 150 points 20 s vs 1 s); from
# here on FFT wins (openTSNE's own "auto" switches at the same size).
FFT_FROM = 10_000


def tsne_gradient_method(n: int) -> str:
    """openTSNE's negative-gradient method for ``n`` points: "fft" for large sets, "bh" for small."""
    return "fft" if n >= FFT_FROM else "bh"


def sample_rows(n: int, fit_samples: int | None, seed: int) -> np.ndarray | None:
    """Sorted seeded sample of ``fit_samples`` of ``n`` rows, or None when all ``n`` are used."""
    if fit_samples is None or int(fit_samples) >= n:
        return None
    if int(fit_samples) < 5:
        raise ValueError(f"fit_samples must be at least 5, got {fit_samples}")
    return np.sort(np.random.default_rng(seed).choice(n, int(fit_samples), replace=False))


def fitted_on(n: int, params: Mapping[str, Any] | None) -> str:
    """How the map was fitted, for a figure title: "" for all points, else "fitted on 20,000 of 60,000,
    the rest placed by transform"."""
    fit = (params or {}).get("fit_samples")
    if fit is None or int(fit) >= n:
        return ""
    return f"fitted on {int(fit):,} of {n:,}, the rest placed by transform"


def embedding_table(
    coords: np.ndarray,
    sample_ids: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
) -> pl.DataFrame:
    """One row per sample: sample_id, label, class_name (class_names[label]), x, y."""
    coords, sample_ids, labels = np.asarray(coords), np.asarray(sample_ids), np.asarray(labels)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"coords must have shape (n, 2), got {coords.shape}")
    if not len(coords) == len(sample_ids) == len(labels):
        raise ValueError(
            f"lengths differ: {len(coords)} coords, {len(sample_ids)} sample_ids, {len(labels)} labels"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise ValueError(f"labels must index class_names (length {len(class_names)})")
    return pl.DataFrame(
        {
            "sample_id": sample_ids,
            "label": labels,
            "class_name": [str(class_names[int(c)]) for c in labels],
            "x": coords[:, 0],
            "y": coords[:, 1],
        },
        schema={
            "sample_id": pl.Int64,
            "label": pl.Int64,
            "class_name": pl.Utf8,
            "x": pl.Float32,
            "y": pl.Float32,
        },
    )


def explained_variance(features: np.ndarray, n_components: int = 10, seed: int = 0) -> np.ndarray:
    """PCA explained-variance ratios of the first ``n_components`` (capped at min(n, d))."""
    features = np.asarray(features)
    if features.ndim != 2:
        raise ValueError(f"features must be 2-D (n_samples, n_features), got shape {features.shape}")
    check_finite(features)
    k = min(n_components, *features.shape)
    from sklearn.decomposition import PCA

    pca = PCA(n_components=k, random_state=seed).fit(features)
    return pca.explained_variance_ratio_.astype(np.float64)
