"""Repeated training: train.seeds expands into one model per seed, trained with that seed, and the spread of
every summary metric across the runs matches numpy's."""

from __future__ import annotations

import copy

import numpy as np
import polars as pl
import pytest
import yaml

from layeratlas.analysis.seeds import across_seeds, metric_columns
from layeratlas.config import ConfigError, validate_config
from layeratlas.models.sweeps import seed_groups
from tests.conftest import TINY_CONFIG

RAW = yaml.safe_load(TINY_CONFIG.read_text())


def test_train_seeds_make_one_model_per_seed_with_its_own_training_seed():
    raw = copy.deepcopy(RAW)
    raw["models"]["small_cnn"]["train"]["seeds"] = [0, 7]
    models = validate_config(raw)["models"]
    assert [m for m in models if m.startswith("small_cnn")] == ["small_cnn-seed0", "small_cnn-seed7"]
    assert [models[m]["train"]["seed"] for m in ("small_cnn-seed0", "small_cnn-seed7")] == [0, 7]
    assert "seeds" not in models["small_cnn-seed7"]["train"]
    assert seed_groups(models) == {"small_cnn": ["small_cnn-seed0", "small_cnn-seed7"]}
    assert validate_config({**raw, "models": models})["models"] == models  # expanding twice changes nothing


def test_seeds_and_a_sweep_on_one_model_are_refused_naming_both():
    raw = copy.deepcopy(RAW)
    raw["models"]["small_cnn"]["train"]["seeds"] = [0, 1]
    raw["models"]["small_cnn"]["sweep"] = {"train.lr": [0.1, 0.2]}
    with pytest.raises(ConfigError, match=r"models\.small_cnn: train\.seeds and sweep both"):
        validate_config(raw)


def _summary(seed_values: dict[str, list[float]]) -> pl.DataFrame:
    rows = []
    for layer, values in seed_values.items():
        for i, v in enumerate(values):
            rows.append(
                {
                    "dataset": "d",
                    "model": f"cnn-seed{i}",
                    "layer": layer,
                    "depth": 0,
                    "linear_probe_accuracy": v,
                    "linear_probe_accuracy_ci_low": v - 0.1,
                    "linear_probe_accuracy_ci_high": v + 0.1,
                    "n_test": 100,
                }
            )
    rows.append({"dataset": "d", "model": "other", "layer": "x", "depth": 0, "linear_probe_accuracy": 0.5})
    return pl.DataFrame(rows)


def test_the_spread_across_seeds_is_numpys():
    values = {"pool1": [0.91, 0.95, 0.90], "relu5": [0.80, 0.82, 0.99]}
    summary = _summary(values)
    assert metric_columns(summary) == ["linear_probe_accuracy"]
    table = across_seeds(summary, {"cnn": ["cnn-seed0", "cnn-seed1", "cnn-seed2"]})
    assert table.height == 2 and set(table["model"]) == {"cnn"}
    for row in table.iter_rows(named=True):
        v = np.array(values[row["layer"]])
        assert row["n_seeds"] == 3 and row["metric"] == "linear_probe_accuracy"
        assert row["mean"] == pytest.approx(v.mean()) and row["sd"] == pytest.approx(v.std(ddof=1))
        assert (row["min"], row["max"]) == (v.min(), v.max())
        assert row["range"] == pytest.approx(np.ptp(v))
        assert row["members"] == "cnn-seed0, cnn-seed1, cnn-seed2"


def test_one_seed_has_no_sd_and_no_groups_give_an_empty_table():
    table = across_seeds(_summary({"pool1": [0.9]}), {"cnn": ["cnn-seed0"]})
    assert table["sd"].to_list() == [None] and table["n_seeds"].to_list() == [1]
    assert across_seeds(_summary({"pool1": [0.9]}), {}).is_empty()
