import numpy as np
import polars as pl
import pytest

from layeratlas.analysis.embeddings import (
    METHODS,
    embed,
    embedding_table,
    explained_variance,
    fitted_on,
    import_umap,
    numba_cache_dir,
    sample_rows,
    tsne_gradient_method,
)


@pytest.fixture(scope="module")
def blobs():
    # Three well-separated Gaussian blobs, n=150, d=60 (> 50, so t-SNE/UMAP pre-reduce by PCA).
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=10.0, size=(3, 60))
    labels = np.repeat(np.arange(3), 50)
    x = (centres[labels] + rng.normal(size=(150, 60))).astype(np.float32)
    return x, labels


def _nearest_centroid_accuracy(coords, labels):
    centroids = np.stack([coords[labels == c].mean(axis=0) for c in np.unique(labels)])
    dist = ((coords[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    return float((dist.argmin(axis=1) == labels).mean())


@pytest.mark.parametrize("method", METHODS)
def test_embed_shape_determinism_and_separation(blobs, method):
    x, labels = blobs
    a = embed(x, method, seed=3)
    assert a.shape == (150, 2)
    assert a.dtype == np.float32
    assert np.isfinite(a).all()
    np.testing.assert_array_equal(a, embed(x, method, seed=3))
    assert _nearest_centroid_accuracy(a, labels) > 0.95


def test_params_are_clipped_and_passed_on(blobs):
    x, _ = blobs
    small = x[:12]
    # perplexity 30 > (12-1)/3 and n_neighbors 15 > 11 would fail without clipping.
    assert embed(small, "tsne", seed=0, params={"n_iter": 50}).shape == (12, 2)
    assert embed(small, "umap", seed=0, params={"n_epochs": 20}).shape == (12, 2)
    with pytest.raises(TypeError):
        embed(x, "pca", seed=0, params={"no_such_option": 1})
    with pytest.raises(ValueError, match="n_components"):
        embed(x, "pca", seed=0, params={"n_components": 3})


def test_embed_rejects_bad_input(blobs):
    x, _ = blobs
    with pytest.raises(ValueError, match=r"pca.*tsne.*umap"):
        embed(x, "isomap", seed=0)
    with pytest.raises(ValueError, match="at least 5"):
        embed(x[:4], "pca", seed=0)
    bad = x.copy()
    bad[7, 0] = np.nan
    with pytest.raises(ValueError, match=r"\[7\]"):
        embed(bad, "pca", seed=0)


def test_embedding_table():
    coords = np.arange(10, dtype=np.float64).reshape(5, 2)
    table = embedding_table(coords, np.arange(100, 105), np.array([2, 0, 2, 1, 0]), ["a", "b", "c"])
    assert table.schema == pl.Schema(
        {
            "sample_id": pl.Int64,
            "label": pl.Int64,
            "class_name": pl.Utf8,
            "x": pl.Float32,
            "y": pl.Float32,
        }
    )
    assert table["class_name"].to_list() == ["c", "a", "c", "b", "a"]
    assert table["y"].to_list() == [1, 3, 5, 7, 9]
    with pytest.raises(ValueError, match="lengths differ"):
        embedding_table(coords, np.arange(4), np.zeros(5, dtype=int), ["a"])


def test_explained_variance(blobs):
    x, _ = blobs
    ratios = explained_variance(x, n_components=10)
    assert ratios.shape == (10,)
    assert (np.diff(ratios) <= 1e-12).all()
    # Three blobs span a 2-D affine subspace that dominates the variance.
    assert ratios[:2].sum() > 0.9
    assert explained_variance(x[:4], n_components=10).shape == (4,)


@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_fit_on_a_sample_places_the_rest_by_transform(blobs, method):
    x, labels = blobs
    params = {"fit_samples": 60}
    a = embed(x, method, seed=1, params=dict(params))
    assert a.shape == (150, 2) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, embed(x, method, seed=1, params=dict(params)))
    # The 90 points outside the sample still land with their class.
    rows = sample_rows(150, 60, 1)
    rest = np.setdiff1d(np.arange(150), rows)
    assert len(rows) == 60 and len(rest) == 90
    assert _nearest_centroid_accuracy(a[rest], labels[rest]) > 0.95
    assert fitted_on(150, params) == "fitted on 60 of 150, the rest placed by transform"
    assert fitted_on(150, {"fit_samples": 150}) == "" and sample_rows(150, 200, 0) is None


def test_tsne_gradient_method_and_umap_threads_when_not_deterministic(blobs, monkeypatch):
    import openTSNE

    x, labels = blobs
    seen = {}
    real = openTSNE.TSNE

    def spy(**kwargs):
        seen.update(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(openTSNE, "TSNE", spy)
    embed(x, "tsne", seed=0, n_jobs=2, params={"n_iter": 50})
    assert seen["negative_gradient_method"] == "bh" and seen["n_jobs"] == 2  # 150 points: Barnes-Hut
    assert tsne_gradient_method(20_000) == "fft" and tsne_gradient_method(9_999) == "bh"
    free = embed(x, "umap", seed=0, n_jobs=2, params={"deterministic": False})
    assert free.shape == (150, 2) and _nearest_centroid_accuracy(free, labels) > 0.95


def test_numba_cache_folder_and_umap_functions_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    assert numba_cache_dir() == tmp_path / "numba"
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert numba_cache_dir() == tmp_path / "layeratlas" / "numba"
    monkeypatch.undo()  # the machine's own cache: a fresh folder would recompile pynndescent (~40 s)
    umap = import_umap()
    from numba.core.registry import CPUDispatcher

    dispatchers = [v for v in vars(umap.umap_).values() if isinstance(v, CPUDispatcher)]
    assert dispatchers  # UMAP's compiled functions: their cache is on, not numba's NullCache
    assert all(type(d._cache).__name__ != "NullCache" for d in dispatchers)


@pytest.mark.parametrize("solver", ["full", "randomized"])
def test_pca_is_scikit_learns_without_importing_it(solver):
    """pca_2d (numpy's SVD) gives scikit-learn's PCA projections, signs included, for a narrow and a wide
    layer (scikit-learn's "auto" picks the randomized solver for the wide one)."""
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA

    from layeratlas.analysis.embeddings import pca_2d

    x = load_digits().data[:450]
    rng = np.random.default_rng(0)
    for features in (x, np.maximum(x @ rng.normal(size=(64, 1280)), 0)):
        features = features.astype(np.float32)
        theirs = PCA(n_components=2, svd_solver=solver, random_state=0).fit_transform(features)
        ours = pca_2d(features)
        assert ours.dtype == np.float32 and ours.shape == (450, 2)
        np.testing.assert_allclose(ours, theirs, atol=1e-4 * np.abs(theirs).max())
    np.testing.assert_array_equal(embed(features, "pca", seed=0), ours)
    # fewer columns than 2: the missing component is zero, as scikit-learn cannot give one
    assert np.all(pca_2d(features[:, :1])[:, 1] == 0)
