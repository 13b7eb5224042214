"""Silhouette, Davies-Bouldin and trustworthiness in numpy (layeratlas.analysis.cluster) against the
scikit-learn functions they replace: importing scikit-learn was 1.3 of a cluster_quality job's 2 CPU-s
(issue 22). On the default run's seven layers they gave the same tables to the bit; here they agree to
1e-12 (relative), trustworthiness exactly."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.manifold import trustworthiness as sk_trustworthiness
from sklearn.metrics import davies_bouldin_score as sk_davies_bouldin
from sklearn.metrics import silhouette_samples as sk_silhouette_samples

from layeratlas.analysis import cluster

RTOL = 1e-12


def _cases():  # noqa: ANN202
    rng = np.random.default_rng(0)
    x, y = load_digits(return_X_y=True)
    yield "digits", x[:450].astype(np.float64), y[:450]
    blobs = rng.normal(size=(200, 30)) + 4 * (np.arange(200) % 5)[:, None]
    yield "blobs, labels not 0..k-1", blobs, (np.arange(200) % 5) * 7 + 3
    duplicated = np.repeat(rng.normal(size=(40, 3)), 3, axis=0)  # equal rows: zero distances, ties
    yield "duplicates", duplicated, np.arange(120) % 4
    single = rng.normal(size=(30, 4))
    labels = np.arange(30) % 3
    labels[0] = 9  # a class of one image: its silhouette is 0
    yield "a class of one", single, labels


@pytest.mark.parametrize(
    ("name", "x", "labels"), list(_cases()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_silhouette_and_davies_bouldin_are_scikit_learns(name, x, labels):
    ours = cluster.silhouette_samples(x, labels)
    np.testing.assert_allclose(ours, sk_silhouette_samples(x, labels), rtol=RTOL, atol=1e-15)
    assert np.isclose(cluster.davies_bouldin_score(x, labels), sk_davies_bouldin(x, labels), rtol=RTOL)
    assert ours.std() > 0  # not a degenerate case: the samples differ


@pytest.mark.parametrize(
    ("name", "x", "labels"), list(_cases()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_trustworthiness_is_scikit_learns(name, x, labels):
    rng = np.random.default_rng(1)
    for embedded in (x[:, :2] + 0.01 * rng.normal(size=(len(x), 2)), rng.normal(size=(len(x), 2))):
        for k in (1, 5, 12):
            assert cluster.trustworthiness(x, embedded, k) == sk_trustworthiness(x, embedded, n_neighbors=k)
    with pytest.raises(ValueError, match="n_neighbors"):
        cluster.trustworthiness(x, x[:, :2], len(x) // 2)


def test_cluster_quality_loads_no_scikit_learn(tmp_path):
    from tests.test_imports import _layer, loaded_after

    features, dataset = _layer(tmp_path, n=90)
    rng = np.random.default_rng(0)
    import polars as pl

    embedding = tmp_path / "embedding_pca.parquet"
    pl.DataFrame(
        {"sample_id": np.arange(90), "x": rng.normal(size=90), "y": rng.normal(size=90)}
    ).write_parquet(embedding)
    table, summary = tmp_path / "cq.parquet", tmp_path / "cq.json"
    loaded = loaded_after(
        f"""
        from layeratlas.stages import analysis
        analysis.layer_cluster_quality(
            "d", "m", "fc", {str(features)!r}, {str(dataset)!r}, "all", {{"pca": {str(embedding)!r}}}, 0,
            {str(table)!r}, {str(summary)!r}, resamples=100,
        )
        """,
        ("sklearn", "scipy.stats", "matplotlib", "torch"),
    )
    assert not loaded, sorted(loaded)
    assert pl.read_parquet(table)["trustworthiness"][1] is not None
