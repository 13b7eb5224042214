"""Neural-collapse metrics against a direct computation with explicit covariance matrices, and limits."""

from __future__ import annotations

import numpy as np
import pytest

from layeratlas.analysis.collapse import neural_collapse


def _reference(x: np.ndarray, y: np.ndarray, w: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Papyan et al.'s definitions written out with d x d matrices and np.linalg.pinv."""
    classes = np.unique(y)
    k = len(classes)
    mu_g = x.mean(axis=0)
    means = np.stack([x[y == c].mean(axis=0) for c in classes])
    m = means - mu_g
    sw = sum((x[y == c] - means[i]).T @ (x[y == c] - means[i]) for i, c in enumerate(classes)) / len(x)
    sb = m.T @ m / k
    norms = np.linalg.norm(m, axis=1)
    cos = np.array([[m[i] @ m[j] / norms[i] / norms[j] for j in range(k)] for i in range(k)])
    off = cos[~np.eye(k, dtype=bool)]
    pred = classes[np.argmax(x @ w.T + b, axis=1)]
    ncc = classes[np.argmin(((x[:, None, :] - means[None]) ** 2).sum(-1), axis=1)]
    return {
        "nc1": np.trace(sw @ np.linalg.pinv(sb)) / k,
        "nc2_equinorm": norms.std() / norms.mean(),
        "nc2_equiangular": off.std(),
        "nc2_max_angle": np.abs(off + 1 / (k - 1)).mean(),
        "nc3": np.linalg.norm(w / np.linalg.norm(w) - m / np.linalg.norm(m)) ** 2,
        "nc4": np.mean(pred != ncc),
    }


def test_matches_direct_computation_on_random_data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, size=200)
    x = rng.normal(size=(200, 7)) + np.eye(4, 7)[y] * 2
    w, b = rng.normal(size=(4, 7)), rng.normal(size=4)
    got = neural_collapse(x, y, w, b, chunk_rows=13)  # odd chunks: the streaming must not matter
    for key, value in _reference(x, y, w, b).items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_collapsed_simplex_gives_zero_everywhere():
    k = 4
    etf = np.eye(k) - 1 / k  # centred simplex ETF, in R^k
    y = np.repeat(np.arange(k), 5)
    x = etf[y] + 3.0  # every sample on its class mean; a shift of the global mean changes nothing
    # The nearest-class-mean rule as a linear classifier: w_c = mu_c, b_c = -|mu_c|^2 / 2; W = M + const
    # rows, so use the centred means as W for NC3 (self-duality) with the matching bias.
    means = etf + 3.0
    w, b = etf, -(means**2).sum(axis=1) / 2 + means @ np.full(k, 3.0)
    got = neural_collapse(x, y, w, b)
    assert got["nc1"] == pytest.approx(0.0, abs=1e-12)
    for key in ("nc2_equinorm", "nc2_equiangular", "nc2_max_angle", "nc3", "nc4"):
        assert got[key] == pytest.approx(0.0, abs=1e-12), key


def test_without_classifier_nc3_nc4_are_nan_and_errors_name_the_problem():
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(3), 10)
    x = rng.normal(size=(30, 5))
    got = neural_collapse(x, y)
    assert np.isnan(got["nc3"]) and np.isnan(got["nc4"]) and got["nc1"] > 0
    with pytest.raises(ValueError, match="at least two classes"):
        neural_collapse(x, np.zeros(30, dtype=int))
    with pytest.raises(ValueError, match="do not fit"):
        neural_collapse(x, y, np.ones((3, 4)), np.zeros(3))


def test_feature_scale_compares_in_the_standardised_space():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, size=90)
    x = rng.normal(size=(90, 4)) * np.array([1.0, 1e-3, 10.0, 2.0]) + np.eye(3, 4)[y]
    scale = x.std(axis=0)
    z = x / scale
    w_std, b = rng.normal(size=(3, 4)), rng.normal(size=3)
    raw_space = neural_collapse(x, y, w_std / scale, b, feature_scale=scale)
    direct = _reference(z, y, w_std, b)
    assert raw_space["nc3"] == pytest.approx(direct["nc3"], rel=1e-10)
    with pytest.raises(ValueError, match="positive"):
        neural_collapse(x, y, w_std, b, feature_scale=np.zeros(4))
