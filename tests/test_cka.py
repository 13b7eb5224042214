"""Unbiased linear CKA against Kornblith et al.'s Gram-matrix formulation, and its invariances."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

import layeratlas.analysis.cka as cka_module
from layeratlas.analysis.cka import cka_matrix, linear_cka


def center_gram_unbiased(gram: np.ndarray) -> np.ndarray:
    """Kornblith et al.'s unbiased centring of a Gram matrix (its diagonal removed first)."""
    n = gram.shape[0]
    gram = gram.copy()
    np.fill_diagonal(gram, 0)
    means = gram.sum(0) / (n - 2)
    means -= means.sum() / (2 * (n - 1))
    gram -= means[:, None]
    gram -= means[None, :]
    np.fill_diagonal(gram, 0)
    return gram


def _reference_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Independent computation: n x n Gram matrices, U-centred as in Kornblith et al.'s reference code."""
    k, l_ = center_gram_unbiased(x @ x.T), center_gram_unbiased(y @ y.T)
    return float((k.ravel() @ l_.ravel()) / np.linalg.norm(k) / np.linalg.norm(l_))


@pytest.fixture
def layers():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 8)) + 2.0  # not centred: the estimator must not care
    y = np.tanh(x @ rng.normal(size=(8, 12))) + rng.normal(scale=0.3, size=(50, 12))
    return x, y


def test_matches_the_gram_matrix_reference(layers):
    x, y = layers
    assert linear_cka(x, y) == pytest.approx(_reference_cka(x, y), rel=1e-10)


def test_gram_block_path_agrees_with_the_cross_covariance_path(layers):
    x, y = layers
    expected = linear_cka(x, y, path="features")
    assert linear_cka(x, y, path="samples") == pytest.approx(expected, rel=1e-10)
    matrix = cka_matrix({"x": x, "y": y}, path="samples")
    np.testing.assert_allclose(matrix, cka_matrix({"x": x, "y": y}, path="features"), rtol=1e-10)


@pytest.mark.parametrize("path", ["features", "samples"])
def test_wide_layers_in_float32_blocks_match_the_reference(path, monkeypatch):
    """A layer wider than the samples and than one block (several column / row blocks, the symmetric
    upper-block sum), in float32 as large layers are: within float32 rounding of the float64 reference."""
    monkeypatch.setattr(cka_module, "_BLOCK", 64)  # several blocks on a small problem
    rng = np.random.default_rng(2)
    base = rng.normal(size=(150, 20))
    wide = np.maximum(base @ rng.normal(size=(20, 300)), 0) + 1.0  # 300-d, not centred
    narrow = np.tanh(base @ rng.normal(size=(20, 70))) + rng.normal(scale=0.5, size=(150, 70))
    expected = _reference_cka(wide, narrow)
    got = cka_matrix({"wide": wide, "narrow": narrow}, path=path, dtype=np.float32)
    assert got[0, 1] == pytest.approx(expected, rel=1e-5)
    assert got[0, 0] == pytest.approx(1.0, rel=1e-5)
    assert 0.2 < expected < 0.99  # a value that tells the paths apart from 0 and 1


def test_unknown_path_is_refused(layers):
    with pytest.raises(ValueError, match="unknown CKA path"):
        linear_cka(*layers, path="gram")


def test_identity_rotation_and_scale_invariance(layers):
    x, y = layers
    assert linear_cka(x, x) == pytest.approx(1.0, rel=1e-12)
    rotation = ortho_group.rvs(8, random_state=1)
    assert linear_cka(x @ rotation * 5.0, y) == pytest.approx(linear_cka(x, y), rel=1e-10)
    assert linear_cka(x, x @ rotation + 3.0) == pytest.approx(1.0, rel=1e-10)


def test_unrelated_features_are_near_zero_and_the_matrix_is_symmetric(layers):
    x, y = layers
    noise = np.random.default_rng(5).normal(size=(50, 10))
    matrix = cka_matrix({"x": x, "y": y, "noise": noise})
    np.testing.assert_allclose(np.diag(matrix), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(matrix, matrix.T)
    assert abs(matrix[0, 2]) < 0.1 < matrix[0, 1]
    cross = cka_matrix({"x": x}, {"y": y, "noise": noise})
    np.testing.assert_allclose(cross, matrix[:1, 1:], rtol=1e-12)


def test_bad_shapes_are_refused(layers):
    x, y = layers
    with pytest.raises(ValueError, match="same number of rows"):
        linear_cka(x, y[:40])
    with pytest.raises(ValueError, match="at least 4 samples"):
        linear_cka(x[:3], y[:3])
