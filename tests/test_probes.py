"""Classifiers on features, against scikit-learn's own estimators and hand-made separable data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from layeratlas.analysis.probes import (
    CLASSIFIERS,
    knn_predict_all,
    nearest_class_mean,
    predict_nearest_mean,
    probe_classifiers,
    train_linear_adam,
)


def _splits(spread: float, seed: int = 0, k: int = 4, d: int = 6):
    """Train/val/test blobs around the same k centres: 30/10/20 samples per class."""
    return [_blobs_from(seed, k, d, spread, n) for n in (30, 10, 20)]


def _blobs_from(seed: int, k: int, d: int, spread: float, n: int):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=5.0, size=(k, d))
    noise = np.random.default_rng(seed + n)
    labels = np.repeat(np.arange(k), n)
    return centres[labels] + noise.normal(scale=spread, size=(len(labels), d)), labels


def test_separated_clusters_are_classified_perfectly():
    (xtr, ytr), (xva, yva), (xte, yte) = _splits(spread=0.05)
    res = probe_classifiers(xtr, ytr, xva, yva, xte, yte, n_estimators=20)
    assert res.table["classifier"].to_list() == list(CLASSIFIERS)
    assert res.table["test_accuracy"].to_list() == [1.0] * len(CLASSIFIERS)
    assert res.table["test_macro_f1"].to_list() == [1.0] * len(CLASSIFIERS)
    for matrix in res.confusion.values():
        np.testing.assert_array_equal(matrix, np.diag([20] * 4))


def test_linear_probe_matches_sklearn_with_the_c_that_wins_on_val():
    (xtr, ytr), (xva, yva), (xte, yte) = _splits(spread=4.0, seed=3)
    grid = (0.001, 0.1, 10.0)
    res = probe_classifiers(xtr, ytr, xva, yva, xte, yte, classifiers=["linear_probe"], C=grid)
    scaler = StandardScaler().fit(xtr)
    val_acc = {
        c: LogisticRegression(C=c, max_iter=2000)
        .fit(scaler.transform(xtr), ytr)
        .score(scaler.transform(xva), yva)
        for c in grid
    }
    best = max(grid, key=lambda c: (val_acc[c], -grid.index(c)))
    row = res.table.row(0, named=True)
    assert row["value"] == best
    assert row["val_accuracy"] == pytest.approx(val_acc[best])
    ref = LogisticRegression(C=best, max_iter=2000).fit(scaler.transform(xtr), ytr)
    pred = ref.predict(scaler.transform(xte))
    assert row["test_accuracy"] == pytest.approx(np.mean(pred == yte))
    assert row["test_macro_f1"] == pytest.approx(f1_score(yte, pred, average="macro"))
    # The weights mapped back to raw features give the same scores as scaler + model.
    np.testing.assert_allclose(
        xte @ res.linear.weights.T + res.linear.bias, ref.decision_function(scaler.transform(xte)), atol=1e-8
    )


def test_knn_matches_sklearn_for_every_k():
    (xtr, ytr), _, (xte, _) = _splits(spread=3.0, seed=5)
    preds = knn_predict_all(xtr, ytr, xte, [1, 4, 7])
    for k, pred in preds.items():
        np.testing.assert_array_equal(pred, KNeighborsClassifier(n_neighbors=k).fit(xtr, ytr).predict(xte))


def test_nearest_class_mean_l1_and_l2_hand_worked():
    train = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0], [10.0, 2.0]])
    classes, means = nearest_class_mean(train, np.array([3, 3, 7, 7]))
    np.testing.assert_array_equal(means, [[1.0, 0.0], [10.0, 1.0]])
    # (4.9, 9): L2 sqrt(3.9^2 + 9^2) = 9.81 vs sqrt(5.1^2 + 8^2) = 9.49 -> 7, but L1 12.9 vs 13.1 -> 3.
    # (6.5, 0): L2 5.5 vs 3.64, L1 5.5 vs 4.5 -> 7.  (3, 9): L2 9.22 vs 10.63, L1 11 vs 15 -> 3.
    points = np.array([[4.9, 9.0], [6.5, 0.0], [3.0, 9.0]])
    np.testing.assert_array_equal(predict_nearest_mean(points, classes, means, "euclidean"), [7, 7, 3])
    np.testing.assert_array_equal(predict_nearest_mean(points, classes, means, "manhattan"), [3, 7, 3])


def test_bad_input_is_refused_with_names():
    (xtr, ytr), (xva, yva), (xte, yte) = _splits(spread=1.0)
    with pytest.raises(ValueError, match="unknown classifier"):
        probe_classifiers(xtr, ytr, xva, yva, xte, yte, classifiers=["svm"])
    with pytest.raises(ValueError, match="widths differ"):
        probe_classifiers(xtr, ytr, xva[:, :3], yva, xte, yte)
    bad = xte.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        probe_classifiers(xtr, ytr, xva, yva, bad, yte)


def test_adam_linear_layer_learns_separable_data_and_is_seeded():
    (xtr, ytr), _, (xte, yte) = _splits(spread=0.5)
    history = train_linear_adam(xtr, ytr, xte, yte, epochs=15, lr=0.05, seed=1)
    assert history["epoch"].to_list() == list(range(1, 16))
    assert history["test_accuracy"][-1] == 1.0
    assert history["train_loss"][-1] < history["train_loss"][0]
    again = train_linear_adam(xtr, ytr, xte, yte, epochs=15, lr=0.05, seed=1)
    assert history.equals(again)
