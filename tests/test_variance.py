import numpy as np
import polars as pl
import pytest

from layeratlas.analysis.variance import (
    class_variances,
    inter_table,
    intra_table,
    summary_row,
)

# Hand-worked example, 2-D features, 3 classes:
#   class 0: (0,0), (2,0)        mean (1,0)  sq. distances 1, 1     -> intra 2/2 = 1
#   class 1: (4,1), (4,3), (4,5) mean (4,3)  sq. distances 4, 0, 4  -> intra 8/3
#   class 2: (1,4), (1,6)        mean (1,5)  sq. distances 1, 1     -> intra 2/2 = 1
# inter (squared distance between means):
#   0-1: 3^2 + 3^2 = 18    0-2: 0^2 + 5^2 = 25    1-2: 3^2 + 2^2 = 13
# mean intra = (1 + 8/3 + 1) / 3 = 14/9; mean inter = (18 + 25 + 13) / 3 = 56/3
# ratio = (56/3) / (14/9) = 12
TOY_X = np.array([[0, 0], [2, 0], [4, 1], [4, 3], [4, 5], [1, 4], [1, 6]], dtype=np.float32)
TOY_Y = np.array([0, 0, 1, 1, 1, 2, 2])


def test_hand_worked_example():
    v = class_variances(TOY_X, TOY_Y)
    np.testing.assert_array_equal(v.classes, [0, 1, 2])
    np.testing.assert_array_equal(v.counts, [2, 3, 2])
    np.testing.assert_allclose(v.intra, [1.0, 8 / 3, 1.0], rtol=1e-12)
    np.testing.assert_allclose(v.inter, [[0, 18, 25], [18, 0, 13], [25, 13, 0]], rtol=1e-12, atol=1e-12)
    assert v.mean_intra == pytest.approx(14 / 9, rel=1e-12)
    assert v.mean_inter == pytest.approx(56 / 3, rel=1e-12)
    assert summary_row(v) == pytest.approx(
        {
            "mean_intra_class_variance": 14 / 9,
            "mean_inter_class_variance": 56 / 3,
            "inter_to_intra_ratio": 12.0,
        },
        rel=1e-12,
    )
    assert v.intra.dtype == np.float64 and v.inter.dtype == np.float64
    assert v.classes.dtype == np.int64


def _random_problem(seed=0, n=500, d=37, k=7):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, size=n)
    # Offset the features so that naive E[x^2] - E[x]^2 would lose precision in float32.
    x = (rng.normal(size=(n, d)) + 3 * labels[:, None] + 100).astype(np.float32)
    return x, labels


def test_symmetric_zero_diagonal_and_single_class():
    x, y = _random_problem()
    v = class_variances(x, y)
    np.testing.assert_array_equal(v.inter, v.inter.T)
    np.testing.assert_array_equal(np.diag(v.inter), 0.0)
    assert (v.inter[~np.eye(7, dtype=bool)] > 0).all()

    one = class_variances(x, np.zeros(len(x), dtype=np.int64))
    assert np.isnan(one.mean_inter)
    assert np.isnan(summary_row(one)["inter_to_intra_ratio"])


def test_invariant_to_sample_order():
    x, y = _random_problem(seed=1)
    perm = np.random.default_rng(2).permutation(len(x))
    a, b = class_variances(x, y), class_variances(x[perm], y[perm])
    np.testing.assert_allclose(a.intra, b.intra, rtol=1e-12)
    np.testing.assert_allclose(a.inter, b.inter, rtol=1e-12)


@pytest.mark.parametrize("chunk_rows", [1, 7, 64, None])
def test_chunked_matches_direct_numpy(chunk_rows):
    x, y = _random_problem(seed=3)
    v = class_variances(x, y, chunk_rows=chunk_rows)
    x64 = x.astype(np.float64)
    means = np.stack([x64[y == c].mean(axis=0) for c in range(7)])
    intra = [((x64[y == c] - means[c]) ** 2).sum(axis=1).mean() for c in range(7)]
    inter = ((means[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(v.counts, np.bincount(y))
    np.testing.assert_allclose(v.intra, intra, rtol=1e-10)
    np.testing.assert_allclose(v.inter, inter, rtol=1e-10)


def test_nan_reports_rows():
    x, y = _random_problem()
    x[[42, 17], 3] = np.nan
    x[300, 0] = np.inf
    with pytest.raises(ValueError, match=r"3 row\(s\).*\[17, 42, 300\]"):
        class_variances(x, y, chunk_rows=16)


def test_bad_shapes():
    with pytest.raises(ValueError, match="differ in length"):
        class_variances(TOY_X, TOY_Y[:-1])
    with pytest.raises(ValueError, match="2-D"):
        class_variances(TOY_X[:, 0], TOY_Y)


def test_tables():
    # Non-contiguous ids: class_names is indexed by class id, not by position.
    y = np.array([1, 1, 3, 3, 3, 4, 4])
    names = ["zero", "one", "two", "three", "four"]
    v = class_variances(TOY_X, y)

    intra = intra_table(v, names)
    assert intra.schema == pl.Schema(
        {
            "class_id": pl.Int64,
            "class_name": pl.Utf8,
            "n_samples": pl.Int64,
            "intra_class_variance": pl.Float64,
        }
    )
    assert intra["class_name"].to_list() == ["one", "three", "four"]
    assert intra["n_samples"].to_list() == [2, 3, 2]

    inter = inter_table(v, names)
    assert inter.columns == [
        "class_a_id",
        "class_a",
        "class_b_id",
        "class_b",
        "inter_class_variance",
    ]
    assert inter.height == 3 * 2 // 2
    assert inter.rows() == [
        (1, "one", 3, "three", pytest.approx(18.0)),
        (1, "one", 4, "four", pytest.approx(25.0)),
        (3, "three", 4, "four", pytest.approx(13.0)),
    ]

    x, labels = _random_problem()
    assert inter_table(class_variances(x, labels), list("abcdefg")).height == 7 * 6 // 2

    with pytest.raises(ValueError, match="class_names"):
        intra_table(v, names[:4])
