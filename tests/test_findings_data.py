"""The data behind defensible findings: per-image predictions, summary intervals, paired comparisons."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from layeratlas.analysis.stats import wilson_interval
from layeratlas.io import read_json, write_json
from layeratlas.stages import analysis

PREDICTION_COLUMNS = {
    "sample_id": pl.Int64,
    "classifier": pl.Utf8,
    "label": pl.Int64,
    "prediction": pl.Int64,
    "correct": pl.Boolean,
    "score": pl.Float64,
}


def _features(root, model: str, layers: dict[str, float], seed: int = 0):
    """results/features/d/<model>: 3 classes, 30/15/45 train/val/test images (ids shuffled), one
    .npy per layer whose class separation is the given value."""
    rng = np.random.default_rng(seed)
    n = 90
    split = np.array(["train"] * 30 + ["val"] * 15 + ["test"] * 45)
    labels = np.arange(n) % 3
    ids = np.random.default_rng(1).permutation(n) + 100  # the same ids and labels for every model
    folder = root / "d" / model
    folder.mkdir(parents=True)
    pl.DataFrame({"sample_id": ids, "split": split, "label": labels}).write_parquet(folder / "index.parquet")
    centres = np.random.default_rng(7).normal(size=(3, 6))
    for layer, separation in layers.items():
        x = separation * centres[labels] + rng.normal(size=(n, 6))
        np.save(folder / f"{layer}.npy", x.astype(np.float32))
    return folder


@pytest.fixture
def dataset_dir(tmp_path):
    folder = tmp_path / "dataset"
    folder.mkdir()
    write_json({"class_names": ["a", "b", "c"]}, folder / "dataset.json")
    return folder


def _probe(tmp_path, dataset_dir, features, model, layer, resamples=200):
    out = tmp_path / "analysis" / model / layer
    out.mkdir(parents=True)
    options = {
        "classifiers": ["linear_probe", "knn", "ncm_l2"],
        "C": [0.1, 1.0],
        "k": [1, 5],
        "n_estimators": 5,
    }
    analysis.layer_probes(
        "d",
        model,
        layer,
        features,
        dataset_dir,
        options,
        seed=0,
        threads=1,
        table=out / "probes.parquet",
        summary=out / "probes.json",
        confusion=out / "confusion.png",
        linear_probe=out / "linear_probe.npz",
        predictions=out / "predictions.parquet",
        resamples=resamples,
    )
    return out


def test_probes_keep_test_predictions_and_summarise_with_intervals(tmp_path, dataset_dir):
    features = _features(tmp_path / "features", "net", {"l1": 1.0})
    out = _probe(tmp_path, dataset_dir, features, "net", "l1")
    pred = pl.read_parquet(out / "predictions.parquet")
    assert dict(pred.schema) == PREDICTION_COLUMNS
    index = pl.read_parquet(features / "index.parquet").filter(pl.col("split") == "test")
    lin = pred.filter(pl.col("classifier") == "linear_probe")
    assert lin["sample_id"].to_list() == index["sample_id"].to_list()
    assert lin["label"].to_list() == index["label"].to_list()
    row = read_json(out / "probes.json")
    table = pl.read_parquet(out / "probes.parquet")
    for clf in ("linear_probe", "knn", "ncm_l2"):
        mine = pred.filter(pl.col("classifier") == clf)
        acc = table.filter(pl.col("classifier") == clf)["test_accuracy"][0]
        assert row[f"{clf}_accuracy"] == pytest.approx(acc) == pytest.approx(mine["correct"].mean())
        low, high = wilson_interval(int(mine["correct"].sum()), 45)
        assert (row[f"{clf}_accuracy_ci_low"], row[f"{clf}_accuracy_ci_high"]) == pytest.approx((low, high))
        assert row[f"{clf}_macro_f1_ci_low"] <= row[f"{clf}_macro_f1"] <= row[f"{clf}_macro_f1_ci_high"]
    assert row["linear_probe_correct"] == int(lin["correct"].sum())
    assert (row["n_test"], row["n_classes"], row["chance_accuracy"]) == (45, 3, pytest.approx(1 / 3))


def test_linear_adam_keeps_its_test_predictions(tmp_path):
    features = _features(tmp_path / "features", "net", {"l1": 2.0})
    out = tmp_path / "adam"
    out.mkdir()
    analysis.layer_linear_adam(
        "d",
        "net",
        "l1",
        features,
        {"epochs": 3, "lr": 0.01, "batch_size": 16},
        seed=0,
        table=out / "linear_adam.parquet",
        summary=out / "linear_adam.json",
        figure=out / "linear_adam.png",
        predictions=out / "linear_adam_predictions.parquet",
    )
    pred = pl.read_parquet(out / "linear_adam_predictions.parquet")
    assert dict(pred.schema) == PREDICTION_COLUMNS and pred["classifier"].unique().to_list() == [
        "linear_adam"
    ]
    row = read_json(out / "linear_adam.json")
    history = pl.read_parquet(out / "linear_adam.parquet")
    assert (
        row["linear_adam_accuracy"] == pytest.approx(history["test_accuracy"][-1]) == pred["correct"].mean()
    )
    assert (
        row["linear_adam_accuracy_ci_low"]
        <= row["linear_adam_accuracy"]
        <= row["linear_adam_accuracy_ci_high"]
    )


def test_comparisons_read_the_predictions_and_pair_ratio_changes(tmp_path, dataset_dir):
    root = tmp_path / "features"
    pre = _features(root, "pre", {"x": 0.3, "y": 0.5}, seed=1)
    tuned = _features(root, "tuned", {"x": 0.3, "y": 3.0}, seed=2)
    order = {"pre": ["x", "y"], "tuned": ["x", "y"]}
    paths = {}
    for model, folder in (("pre", pre), ("tuned", tuned)):
        for layer in order[model]:
            paths[f"d/{model}/{layer}"] = (
                _probe(tmp_path, dataset_dir, folder, model, layer) / "predictions.parquet"
            )
    analysis.layer_comparisons(
        paths,
        order,
        [("pre", "tuned")],
        "linear_probe",
        root,
        "test",
        resamples=100,
        seed=0,
        table=tmp_path / "comparisons.parquet",
    )
    t = pl.read_parquet(tmp_path / "comparisons.parquet")
    assert (tmp_path / "comparisons.tsv").exists()
    assert sorted(set(t["kind"])) == ["layer_vs_top", "model_vs_model", "pair"]
    pair = t.filter((pl.col("kind") == "pair") & (pl.col("layer_a") == "y")).row(0, named=True)
    assert pair["n"] == 45 and pair["b_only"] >= pair["a_only"]
    assert pair["ratio_change_ci_low"] <= pair["ratio_change"] <= pair["ratio_change_ci_high"]
    assert pair["ratio_change_ci_low"] > 0  # "tuned" separates the classes of y far better
    assert t.filter(pl.col("kind") != "pair")["ratio_change"].null_count() == t.height - 2


def test_summary_has_relative_depth_from_the_export_metadata(tmp_path):
    write_json(
        {"dataset": "d", "model": "net", "layer": "fc", "linear_probe_accuracy": 0.9}, tmp_path / "a.json"
    )
    write_json(
        {"dataset": "d", "model": "net", "layer": "conv", "linear_probe_accuracy": 0.5}, tmp_path / "b.json"
    )
    write_json(
        {"layers": [{"name": "conv", "relative_depth": 0.25}, {"name": "fc"}]}, tmp_path / "extractor.json"
    )
    analysis.summarize_layers(
        [tmp_path / "a.json", tmp_path / "b.json"],
        {"net": ["conv", "fc"]},
        tmp_path / "layers.parquet",
        extractors={"net": tmp_path / "extractor.json"},
    )
    table = pl.read_parquet(tmp_path / "layers.parquet")
    assert table.schema["relative_depth"] == pl.Float64
    assert table["relative_depth"].to_list() == [0.25, None]  # an older export without it: null
