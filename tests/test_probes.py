"""Classifiers on features, against scikit-learn's own estimators and hand-made separable data."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from layeratlas.analysis.probes import (
    CLASSIFIERS,
    fit_linear_adam,
    knn_predict_all,
    nearest_class_mean,
    predict_nearest_mean,
    probe_classifiers,
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
    # The weights mapped back to raw features give the same scores as scaler + model, to the solver's
    # tolerance (the probe fits float32 features along a warm-started path; the reference, float64 from zero).
    np.testing.assert_allclose(
        xte @ res.linear.weights.T + res.linear.bias, ref.decision_function(scaler.transform(xte)), atol=2e-3
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
    history = fit_linear_adam(xtr, ytr, xte, yte, epochs=15, lr=0.05, seed=1).history
    assert history["epoch"].to_list() == list(range(1, 16))
    assert history["test_accuracy"][-1] == 1.0
    assert history["train_loss"][-1] < history["train_loss"][0]
    again = fit_linear_adam(xtr, ytr, xte, yte, epochs=15, lr=0.05, seed=1).history
    assert history.equals(again)


def _digits_layer():
    """A 'layer' of scikit-learn's digits: ReLU of a seeded random projection of the pixels (128-d),
    float32 as extracted features are; split 60 / 20 / 20 by a seeded permutation."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    feats = np.maximum(x @ rng.normal(size=(64, 128)) / 8.0, 0).astype(np.float32)
    order = rng.permutation(len(y))
    cut = np.split(order, [int(0.6 * len(y)), int(0.8 * len(y))])
    return [(feats[i], y[i]) for i in cut]


def _reference_probes(xtr, ytr, xva, yva, xte, yte, grid, ks, n_estimators):
    """Today's protocol with plain scikit-learn in float64: a cold fit per C, a KNeighborsClassifier per
    k, sklearn's NearestCentroid-style means, a full-bootstrap forest."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import pairwise_distances_argmin

    xtr, xva, xte = (np.asarray(a, np.float64) for a in (xtr, xva, xte))
    out = {}
    scaler = StandardScaler().fit(xtr)
    fits = {c: LogisticRegression(C=c, max_iter=2000).fit(scaler.transform(xtr), ytr) for c in grid}
    val = {c: fits[c].score(scaler.transform(xva), yva) for c in grid}
    best_c = max(grid, key=lambda c: (val[c], -grid.index(c)))
    out["linear_probe"] = (best_c, fits[best_c].score(scaler.transform(xte), yte))
    val = {kk: KNeighborsClassifier(kk).fit(xtr, ytr).score(xva, yva) for kk in ks}
    best_k = max(ks, key=lambda kk: (val[kk], -kk))
    out["knn"] = (best_k, KNeighborsClassifier(best_k).fit(xtr, ytr).score(xte, yte))
    classes = np.unique(ytr)
    means = np.stack([xtr[ytr == c].mean(0) for c in classes])
    for name, metric in (("ncm_l2", "euclidean"), ("ncm_l1", "manhattan")):
        out[name] = (None, np.mean(classes[pairwise_distances_argmin(xte, means, metric=metric)] == yte))
    forest = RandomForestClassifier(n_estimators=n_estimators, random_state=0).fit(xtr, ytr)
    out["random_forest"] = (n_estimators, forest.score(xte, yte))
    return out


def test_probes_agree_with_the_plain_scikit_learn_protocol_on_digits():
    (xtr, ytr), (xva, yva), (xte, yte) = _digits_layer()
    grid, ks = (0.001, 0.01, 0.1, 1.0), (1, 3, 5, 9, 15)
    res = probe_classifiers(xtr, ytr, xva, yva, xte, yte, C=grid, k=ks, n_estimators=30, max_samples=10_000)
    with threadpool_limits(1, user_api="blas"):  # tiny BLAS calls: threads only cost time
        ref = _reference_probes(xtr, ytr, xva, yva, xte, yte, grid, ks, 30)
    got = {r["classifier"]: r for r in res.table.iter_rows(named=True)}
    one = 1.0 / len(yte)
    for name, (value, accuracy) in ref.items():
        assert got[name]["value"] == value, name  # same chosen C / k
        # Same neighbours, means and trees (max_samples >= n_train: the same bootstraps): equal
        # accuracies; the linear probe may differ by a test sample or two (solver tolerance).
        tolerance = 2 * one if name == "linear_probe" else 1e-12
        assert got[name]["test_accuracy"] == pytest.approx(accuracy, abs=tolerance), name
    assert got["knn"]["train_accuracy"] is None
    assert got["random_forest"]["note"] is None  # max_samples >= n_train: no bound applied, none said


def test_random_forest_is_bounded_by_max_samples_and_says_so():
    (xtr, ytr), (xva, yva), (xte, yte) = _splits(spread=1.0)
    res = probe_classifiers(
        xtr, ytr, xva, yva, xte, yte, classifiers=["random_forest"], n_estimators=5, max_samples=50
    )
    assert res.table["note"][0] == "each tree on a bootstrap of 50 of 120 train samples (max_samples)"
    full = probe_classifiers(
        xtr, ytr, xva, yva, xte, yte, classifiers=["random_forest"], n_estimators=5, max_samples=None
    )
    assert full.table["note"][0] is None


def test_test_predictions_are_kept_per_image_and_agree_with_the_table():
    (xtr, ytr), (xva, yva), (xte, yte) = _splits(spread=3.0)
    res = probe_classifiers(xtr, ytr, xva, yva, xte, yte, n_estimators=10, max_samples=50)
    ids = np.arange(len(yte)) + 1000
    table = res.predictions_table(ids)
    assert table.columns == ["sample_id", "classifier", "label", "prediction", "correct", "score"]
    assert table.height == len(CLASSIFIERS) * len(yte)
    for row in res.table.iter_rows(named=True):
        mine = table.filter(table["classifier"] == row["classifier"])
        assert mine["sample_id"].to_list() == ids.tolist()
        assert mine["label"].to_list() == yte.tolist()
        assert mine["correct"].mean() == pytest.approx(row["test_accuracy"])
        scores = mine["score"]
        if row["classifier"].startswith("ncm"):
            assert scores.null_count() == len(yte)
        else:  # top-class probability / vote share
            assert scores.null_count() == 0 and scores.min() > 0 and scores.max() <= 1
    # the linear probe's score is the softmax of its own decision function at the predicted class
    lin = table.filter(table["classifier"] == "linear_probe")
    logits = xte @ res.linear.weights.T + res.linear.bias
    soft = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(lin["score"].to_numpy(), (soft / soft.sum(1, keepdims=True)).max(1), rtol=1e-9)


def test_knn_is_exact_on_features_far_from_the_origin():
    # Offset 1e4, spread 1: uncentred float32 |x|^2 - 2 x.t + |t|^2 loses the neighbour order
    # (its rounding, ~|x|^2 * 6e-8, is larger than the distances); centred on the train mean it is exact.
    rng = np.random.default_rng(0)
    xtr = rng.normal(size=(300, 32)) + 1e4
    ytr = rng.integers(0, 5, 300)
    xte = rng.normal(size=(60, 32)) + 1e4
    got = knn_predict_all(xtr, ytr, xte, [1, 5])
    for k in (1, 5):
        ref = KNeighborsClassifier(k, algorithm="brute").fit(xtr - 1e4, ytr).predict(xte - 1e4)
        np.testing.assert_array_equal(got[k], ref)


def test_scores_and_confusion_match_scikit_learn_with_unseen_and_missing_classes():
    from sklearn.metrics import confusion_matrix as sk_confusion

    from layeratlas.analysis.probes import _scores, confusion_matrix

    rng = np.random.default_rng(0)
    for _ in range(20):
        y, pred = rng.integers(0, 6, 40), rng.integers(1, 8, 40)  # classes only one side has
        assert _scores(y, pred) == pytest.approx((np.mean(y == pred), f1_score(y, pred, average="macro")))
        labels = np.union1d(y, pred)
        np.testing.assert_array_equal(confusion_matrix(y, pred, labels), sk_confusion(y, pred, labels=labels))


def test_a_k_above_the_train_images_is_clipped_and_said_in_the_note():
    (xtr, ytr), (xva, yva), (xte, yte) = _splits(0.5)
    result = probe_classifiers(xtr, ytr, xva, yva, xte, yte, classifiers=["knn"], k=[1, 500, 700])
    note = result.table.filter(pl.col("classifier") == "knn")["note"][0]
    assert f"k 500, 700 clipped to {len(xtr)} (the train images)" in note


def test_scipys_blas_is_limited_too_outside_snakemake():
    """Without OPENBLAS_NUM_THREADS (Snakemake sets it; a notebook does not), scipy's own OpenBLAS, which
    scikit-learn's L-BFGS uses, runs on one thread for a small problem as numpy's does."""
    import os
    import subprocess
    import sys

    code = """
import json, numpy as np
from threadpoolctl import threadpool_info
import layeratlas.analysis.probes as probes
seen = []
def spy(*args, **kwargs):
    seen.extend(i["num_threads"] for i in threadpool_info() if i["internal_api"] == "openblas")
    return real(*args, **kwargs)
real, probes.linear_probe_path = probes.linear_probe_path, spy
rng = np.random.default_rng(0)
x, y = rng.normal(size=(60, 5)), np.arange(60) % 3
probes.probe_classifiers(x, y, x, y, x, y, classifiers=["linear_probe"], n_jobs=2)
print(json.dumps(seen))
"""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(seen) >= 2 and set(seen) == {1}  # numpy's and scipy's OpenBLAS
