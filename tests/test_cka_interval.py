"""CKA's bootstrap interval: against a plain-numpy resample with the same seed, and on cases of known CKA."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import ortho_group

from layeratlas.analysis.cka import cka_intervals, cka_matrix, linear_cka
from tests.test_cka import center_gram_unbiased  # its diagonal: already removed here, so a no-op


def _resampled_cka(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> float:
    """CKA of one resample built as rows: the n x n Gram matrices of the resampled rows, every pair of
    positions holding the same image (the diagonal included) removed, then U-centred."""
    xr, yr = x[idx] - x.mean(0), y[idx] - y.mean(0)
    same = idx[:, None] == idx[None, :]
    k, l_ = np.where(same, 0.0, xr @ xr.T), np.where(same, 0.0, yr @ yr.T)
    k, l_ = center_gram_unbiased(k), center_gram_unbiased(l_)
    return float((k.ravel() @ l_.ravel()) / np.linalg.norm(k) / np.linalg.norm(l_))


def test_interval_matches_plain_numpy_resamples_with_the_same_seed() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)) + 3.0
    y = np.tanh(x @ rng.normal(size=(6, 9))) + rng.normal(scale=0.5, size=(40, 9))
    low, high, m = cka_intervals({"x": x, "y": y}, resamples=200, seed=7, samples=1000)
    assert m == 40
    idx = np.random.default_rng(7).integers(0, 40, (200, 40))
    values = [_resampled_cka(x, y, i) for i in idx]
    want = np.percentile(values, [2.5, 97.5])
    assert (low[0, 1], high[0, 1]) == pytest.approx(tuple(want), rel=1e-9)
    assert (low[1, 0], high[1, 0]) == (low[0, 1], high[0, 1])  # symmetric
    assert low[0, 0] == pytest.approx(1.0) and high[1, 1] == pytest.approx(1.0)


def test_a_subsample_is_drawn_once_with_the_seed_then_resampled() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(90, 5))
    y = x @ rng.normal(size=(5, 5)) + rng.normal(size=(90, 5))
    low, high, m = cka_intervals({"x": x, "y": y}, resamples=100, seed=3, samples=30)
    assert m == 30
    rows = np.sort(np.random.default_rng(3).choice(90, size=30, replace=False))
    idx = np.random.default_rng(3).integers(0, 30, (100, 30))
    want = np.percentile([_resampled_cka(x[rows], y[rows], i) for i in idx], [2.5, 97.5])
    assert (low[0, 1], high[0, 1]) == pytest.approx(tuple(want), rel=1e-9)


def test_duplicates_kept_would_bias_wide_unrelated_layers_upwards() -> None:
    """Why duplicate pairs are removed: with wide independent layers, the unbiased formula on resampled
    rows (duplicates kept) sits far above 0; the interval here contains the estimate and 0."""
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(120, 400)), rng.normal(size=(120, 400))
    idx = np.random.default_rng(0).integers(0, 120, 120)
    naive = linear_cka(x[idx], y[idx])
    assert naive > 0.1  # each duplicated image counts as two perfectly similar ones
    low, high, _ = cka_intervals({"x": x, "y": y}, resamples=300, seed=0, samples=2000)
    estimate = linear_cka(x, y)
    assert low[0, 1] <= min(0.0, estimate) and max(0.0, estimate) <= high[0, 1]
    assert high[0, 1] - low[0, 1] < 0.1


def test_identical_layers_and_rotations_have_the_interval_one() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(60, 10))
    rotated = 2.5 * x @ ortho_group.rvs(10, random_state=4)
    noisy = x + rng.normal(scale=1.0, size=x.shape)
    low, high, _ = cka_intervals({"x": x, "r": rotated, "n": noisy}, resamples=200, seed=0, samples=60)
    assert low[0, 1] == pytest.approx(1.0, abs=1e-9) and high[0, 1] == pytest.approx(1.0, abs=1e-9)
    # a related but not identical layer: strictly between, the point estimate inside
    estimate = cka_matrix({"x": x, "n": noisy})[0, 1]
    assert 0.3 < low[0, 2] < estimate < high[0, 2] < 1.0


def test_coverage_of_a_known_cka() -> None:
    """Intervals from repeated samples of one population cover its CKA (here about 0.39) at least as
    often as stated (binomial slack: 17 of 20 at 95%)."""
    rng = np.random.default_rng(5)
    a = rng.normal(size=(8, 12))

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(n, 8))
        return x, np.tanh(x @ a / 3) + rng.normal(size=(n, 12))

    truth = linear_cka(*draw(50_000), path="features")
    covered = 0
    for seed in range(20):
        x, y = draw(120)
        low, high, _ = cka_intervals({"x": x, "y": y}, resamples=200, seed=seed, samples=2000)
        covered += low[0, 1] <= truth <= high[0, 1]
    assert covered >= 17


def test_no_resamples_or_too_few_images_give_nan() -> None:
    x = np.random.default_rng(0).normal(size=(20, 3))
    low, high, m = cka_intervals({"x": x, "y": x}, resamples=0, seed=0, samples=100)
    assert np.isnan(low).all() and np.isnan(high).all() and m == 20
    low, _, m = cka_intervals({"x": x, "y": x}, resamples=10, seed=0, samples=3)
    assert np.isnan(low).all() and m == 3
    constant = np.ones((20, 3))
    low, high, _ = cka_intervals({"x": x, "c": constant}, resamples=20, seed=0, samples=100)
    assert math.isnan(low[0, 1]) and math.isnan(high[0, 1]) and low[0, 0] == pytest.approx(1.0)


def test_the_cka_table_carries_the_interval_and_the_front_page_prints_it(tmp_path) -> None:
    import copy

    import polars as pl

    from layeratlas.report import front_page
    from layeratlas.stages import analysis

    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 6)).astype(np.float32)
    for model in ("base", "tuned"):
        folder = tmp_path / "features" / model
        folder.mkdir(parents=True)
        pl.DataFrame(
            {"sample_id": np.arange(30), "split": ["test"] * 30, "label": np.arange(30) % 3}
        ).write_parquet(folder / "index.parquet")
        noise = 0.0 if model == "base" else 0.8
        np.save(folder / "gp.npy", (x + noise * rng.normal(size=x.shape)).astype(np.float32))
    analysis.dataset_cka(
        "digits",
        tmp_path / "features",
        {"base": ["gp"], "tuned": ["gp"]},
        "test",
        tmp_path / "cka.parquet",
        tmp_path / "cka.png",
        resamples=100,
        samples=20,
        seed=0,
    )
    table = pl.read_parquet(tmp_path / "cka.parquet")
    row = table.filter((pl.col("model_a") == "base") & (pl.col("model_b") == "tuned")).row(0, named=True)
    assert row["cka_ci_images"] == 20 and row["cka_ci_low"] < row["cka"] < row["cka_ci_high"] < 1.0

    config = {
        "seed": 0,
        "datasets": {"digits": {"source": "sklearn_digits", "split": {"train": 0.6, "test": 0.4}}},
        "models": {
            "base": {"architecture": "efficientnet_lite0", "weights": "imagenet", "layers": {"gp": "none"}},
        },
        "analyses": {"split": "test", "embeddings": ["pca"]},
    }
    config["models"]["tuned"] = copy.deepcopy(config["models"]["base"]) | {
        "train": {"dataset": "digits", "epochs": 1, "trainable": ["blocks.6"]}
    }
    summary = pl.DataFrame(
        [
            {"dataset": "digits", "model": m, "layer": "gp", "linear_probe_accuracy": 0.9}
            for m in ("base", "tuned")
        ]
    )
    (pair,) = front_page.findings(summary, config, {"digits": table})["datasets"]["digits"]["pairs"]
    text = " ".join(front_page.pair_sentences(pair))
    assert f"CKA between the two {row['cka']:.3f} [{row['cka_ci_low']:.3f}, {row['cka_ci_high']:.3f}]" in text
