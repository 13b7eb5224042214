"""The statistics primitives against independent code: direct formulas, scipy and plain numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest
from sklearn.metrics import f1_score

from layeratlas.analysis.stats import (
    bootstrap_interval,
    holm,
    macro_f1_interval,
    macro_f1_statistic,
    mcnemar_exact,
    mean_interval,
    resample_weights,
    wilson_interval,
)


def _wilson_direct(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize(("k", "n"), [(442, 450), (0, 10), (10, 10), (5, 9), (1, 1)])
def test_wilson_matches_the_direct_formula(k: int, n: int) -> None:
    low, high = wilson_interval(k, n)
    want = _wilson_direct(k, n)
    assert low == pytest.approx(want[0], abs=1e-12)
    assert high == pytest.approx(want[1], abs=1e-12)
    assert 0 <= low <= k / n <= high <= 1


def test_wilson_of_the_issue_example() -> None:  # 442 / 450: 96.5% - 99.1%
    low, high = wilson_interval(442, 450)
    assert (round(100 * low, 1), round(100 * high, 1)) == (96.5, 99.1)


def test_wilson_without_images_is_nan() -> None:
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def _mcnemar_direct(a: int, b: int) -> float:
    n = a + b
    tail = sum(math.comb(n, i) for i in range(min(a, b) + 1)) / 2**n
    return min(1.0, 2 * tail)


@given(st.integers(0, 60), st.integers(0, 60))
@settings(max_examples=60, deadline=None)
def test_mcnemar_matches_binomtest_and_the_binomial_sum(a: int, b: int) -> None:
    p = mcnemar_exact(a, b)
    if a + b == 0:
        assert p == 1.0
    else:
        assert p == pytest.approx(binomtest(a, a + b, 0.5).pvalue, rel=1e-12)
        assert p == pytest.approx(_mcnemar_direct(a, b), rel=1e-9)
    assert p == mcnemar_exact(b, a)  # symmetric


def test_mcnemar_of_the_issue_examples() -> None:
    assert mcnemar_exact(2, 2) == 1.0
    assert mcnemar_exact(4, 17) == pytest.approx(0.0072, abs=5e-4)  # "p = 0.007"


def test_holm_by_hand() -> None:
    # sorted 0.01, 0.02, 0.04 -> 3 * 0.01, max(0.03, 2 * 0.02), max(0.04, 0.04)
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


@given(st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_holm_is_monotone_and_never_below_the_raw_p(p: list[float]) -> None:
    adjusted = holm(p)
    assert all(a >= r - 1e-15 and a <= 1 for a, r in zip(adjusted, p, strict=True))
    order = np.argsort(p, kind="stable")
    assert all(np.diff(np.asarray(adjusted)[order]) >= -1e-15)


def test_bootstrap_matches_a_plain_numpy_resample_with_the_same_seed() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=200), rng.normal(size=200)

    def mean_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        return a.mean(axis=axis) - b.mean(axis=axis)

    low, high = bootstrap_interval(mean_difference, x, y, resamples=500, seed=11)
    idx = np.random.default_rng(11).integers(0, 200, (500, 200))  # paired: one index for both
    values = x[idx].mean(axis=1) - y[idx].mean(axis=1)
    want = np.percentile(values, [2.5, 97.5])
    assert (low, high) == pytest.approx(tuple(want), rel=1e-12)


def test_bootstrap_by_indices_of_a_feature_matrix() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(50, 4))

    def column_sum_mean(i: np.ndarray, axis: int = -1) -> np.ndarray:
        w = resample_weights(i, len(features))
        out = (w @ features).sum(axis=1) / len(features)
        return out if np.ndim(i) > 1 else out[0]

    low, high = bootstrap_interval(column_sum_mean, np.arange(50), resamples=300, seed=1)
    idx = np.random.default_rng(1).integers(0, 50, (300, 50))
    want = np.percentile(features.sum(axis=1)[idx].mean(axis=1), [2.5, 97.5])
    assert (low, high) == pytest.approx(tuple(want), rel=1e-12)


def test_bootstrap_without_resamples_is_nan() -> None:
    assert all(math.isnan(v) for v in bootstrap_interval(np.mean, np.ones(5), resamples=0, seed=0))


def test_macro_f1_statistic_matches_scikit_learn_on_resamples() -> None:
    rng = np.random.default_rng(5)
    y, p = rng.integers(0, 4, 80), rng.integers(0, 4, 80)
    p[:40] = y[:40]
    assert macro_f1_statistic(y, p) == pytest.approx(f1_score(y, p, average="macro"))
    idx = rng.integers(0, 80, (20, 80))
    got = macro_f1_statistic(y[idx], p[idx])
    want = [f1_score(y[i], p[i], average="macro") for i in idx]
    assert got == pytest.approx(want)
    many = rng.integers(0, 5000, (3, 80))  # b * k^2 above the batch bound: the per-class counts path
    assert macro_f1_statistic(many, many[::-1], n_classes=5000) == pytest.approx(
        [f1_score(a, b, average="macro") for a, b in zip(many, many[::-1], strict=True)]
    )


def test_macro_f1_and_mean_intervals_match_plain_numpy_resamples() -> None:
    rng = np.random.default_rng(8)
    y = rng.integers(0, 3, 60)
    p = np.where(rng.random(60) < 0.7, y, rng.integers(0, 3, 60))
    idx = np.random.default_rng(4).integers(0, 60, (200, 60))
    want = np.percentile([f1_score(y[i], p[i], average="macro") for i in idx], [2.5, 97.5])
    assert macro_f1_interval(y, p, resamples=200, seed=4) == pytest.approx(tuple(want), rel=1e-12)
    values = rng.normal(size=60)
    want = np.percentile(values[idx].mean(axis=1), [2.5, 97.5])
    assert mean_interval(values, resamples=200, seed=4) == pytest.approx(tuple(want), rel=1e-12)


def test_ratio_interval_matches_the_ratio_of_plain_numpy_resamples() -> None:
    from layeratlas.analysis.variance import class_variances, ratio_interval, summary_row

    rng = np.random.default_rng(2)
    labels = np.repeat(np.arange(3), [4, 10, 16])  # a 4-image class: some resamples leave it out
    features = (rng.normal(size=(30, 5)) + labels[:, None] * 0.8 + 50.0).astype(np.float32)
    low, high = ratio_interval(features, labels, resamples=150, seed=9)
    idx = np.random.default_rng(9).integers(0, 30, (150, 30))
    ratios = [summary_row(class_variances(features[i], labels[i]))["inter_to_intra_ratio"] for i in idx]
    estimate = summary_row(class_variances(features, labels))["inter_to_intra_ratio"]
    bias = np.mean(ratios) - estimate  # the percentile interval shifted by the bootstrap's bias estimate
    want = np.percentile(ratios, [2.5, 97.5]) - bias
    assert (low, high) == pytest.approx(tuple(want), rel=1e-5)  # float32 products
    assert low < estimate < high


def test_silhouette_and_nc1_intervals_are_bootstraps_of_their_per_image_terms() -> None:
    from sklearn.metrics import silhouette_samples

    from layeratlas.analysis.cluster import cluster_scores
    from layeratlas.analysis.collapse import neural_collapse

    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(3), 20)
    x = rng.normal(size=(60, 4)) + labels[:, None]
    got = cluster_scores(x, labels, resamples=100, seed=3)
    idx = np.random.default_rng(3).integers(0, 60, (100, 60))
    want = np.percentile(silhouette_samples(x, labels)[idx].mean(axis=1), [2.5, 97.5])
    assert (got["silhouette_ci_low"], got["silhouette_ci_high"]) == pytest.approx(tuple(want))
    nc = neural_collapse(x, labels, resamples=100, seed=3)
    assert nc["nc1"] == pytest.approx(neural_collapse(x, labels)["nc1"])
    assert nc["nc1_ci_low"] < nc["nc1"] < nc["nc1_ci_high"]


def test_a_bias_corrected_interval_is_the_percentile_interval_shifted_by_the_bias() -> None:
    x = np.random.default_rng(0).normal(size=100)

    def mean_square(a: np.ndarray, axis: int = -1) -> np.ndarray:  # biased up under resampling
        return a.mean(axis=axis) ** 2

    low, high = bootstrap_interval(mean_square, x, resamples=300, seed=2, bias_corrected=True)
    values = x[np.random.default_rng(2).integers(0, 100, (300, 100))].mean(axis=1) ** 2
    want = np.percentile(values, [2.5, 97.5]) - (values.mean() - x.mean() ** 2)
    assert (low, high) == pytest.approx(tuple(want), rel=1e-9)
