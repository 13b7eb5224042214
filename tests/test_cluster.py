"""Cluster quality, against scikit-learn and known limits."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import davies_bouldin_score, silhouette_score

from layeratlas.analysis.cluster import cluster_scores, cluster_table, embedding_trustworthiness


def _clusters(spread: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), 20)
    centres = np.array([[0.0] * 5, [10.0] * 5, [-10.0, 10.0, 0.0, 5.0, -5.0]])
    return centres[labels] + rng.normal(scale=spread, size=(60, 5)), labels


def test_scores_match_sklearn_and_separate_tight_from_loose():
    x, y = _clusters(spread=3.0)
    scores = cluster_scores(x, y)
    assert scores["silhouette"] == silhouette_score(x, y)
    assert scores["davies_bouldin"] == davies_bouldin_score(x, y)
    tight = cluster_scores(*_clusters(spread=0.01))
    assert tight["silhouette"] > 0.99 and tight["davies_bouldin"] < 0.01
    assert tight["silhouette"] > scores["silhouette"] and tight["davies_bouldin"] < scores["davies_bouldin"]


def test_subsampling_is_seeded_and_single_class_is_nan():
    x, y = _clusters(spread=3.0)
    a = cluster_scores(x, y, max_samples=30, seed=1)
    assert a == cluster_scores(x, y, max_samples=30, seed=1)
    assert a != cluster_scores(x, y)
    assert np.isnan(cluster_scores(x, np.zeros(60, dtype=int))["silhouette"])


def test_trustworthiness_is_one_for_an_isometry_and_lower_for_noise():
    x, y = _clusters(spread=3.0)
    plane = x[:, :2]
    assert embedding_trustworthiness(plane, plane @ np.array([[0.0, 1.0], [-1.0, 0.0]]) * 3) == 1.0
    noise = np.random.default_rng(0).normal(size=(60, 2))
    assert embedding_trustworthiness(x, noise) < 0.7


def test_table_has_a_row_per_space():
    x, y = _clusters(spread=1.0)
    table = cluster_table(x, y, {"pca": x[:, :2], "tsne": x[:, 2:4]})
    assert table["space"].to_list() == ["features", "pca", "tsne"]
    assert table["trustworthiness"].is_null().to_list() == [True, False, False]
    assert table["silhouette"][1] == silhouette_score(x[:, :2], y)
