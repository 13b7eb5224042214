"""The analysis-suite stage functions on small files written here: summary merge, CKA tables, figures."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from layeratlas.io import write_json
from layeratlas.plots import classes as class_plots
from layeratlas.plots import layers as layer_plots
from layeratlas.stages import analysis


def test_summary_merges_every_json_per_layer_in_model_and_depth_order(tmp_path):
    order = {"net": ["conv1", "fc"], "other": ["out"]}
    rows = [
        {"dataset": "d", "model": "other", "layer": "out", "inter_to_intra_ratio": 2.0, "split": "test"},
        {"dataset": "d", "model": "net", "layer": "fc", "linear_probe_accuracy": 0.9},
        {"dataset": "d", "model": "net", "layer": "conv1", "linear_probe_accuracy": 0.5, "nc1": 3.0},
        {"dataset": "d", "model": "net", "layer": "fc", "nc1": 0.2, "split": "test"},
    ]
    paths = []
    for i, row in enumerate(rows):
        write_json(row, tmp_path / f"{i}.json")
        paths.append(tmp_path / f"{i}.json")
    analysis.summarize_layers(paths, order, tmp_path / "layers.parquet")
    table = pl.read_parquet(tmp_path / "layers.parquet")
    assert table.select("model", "layer", "depth").rows() == [
        ("net", "conv1", 0),
        ("net", "fc", 1),
        ("other", "out", 0),
    ]
    assert table["nc1"].to_list() == [3.0, 0.2, None]
    assert table["linear_probe_accuracy"].to_list() == [0.5, 0.9, None]
    assert pl.read_csv(tmp_path / "layers.csv").height == 3
    analysis.plot_metrics_vs_depth("net", tmp_path / "layers.parquet", tmp_path / "depth.png")
    assert (tmp_path / "depth.png").stat().st_size > 0


def test_depth_plot_shows_only_the_metrics_present():
    rows = pl.DataFrame(
        {"dataset": ["d", "d"], "model": ["m", "m"], "layer": ["a", "b"], "depth": [0, 1], "nc1": [2.0, 1.0]}
    )
    fig = layer_plots.metrics_vs_depth(rows, "m")
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == ["NC1 (within-class collapse)"]
    with pytest.raises(ValueError, match="no summary rows"):
        layer_plots.metrics_vs_depth(rows, "absent")


def test_dataset_cka_aligns_models_by_sample_id_and_blocks_per_model(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 5)).astype(np.float32)
    splits = ["train", "test"] * 6
    for model, perm in (("m1", np.arange(12)), ("m2", rng.permutation(12))):
        folder = tmp_path / "features" / model
        folder.mkdir(parents=True)
        pl.DataFrame(
            {"sample_id": perm, "split": [splits[i] for i in perm], "label": perm % 3}
        ).write_parquet(folder / "index.parquet")
        np.save(folder / "a.npy", x[perm])  # the same features, stored in another sample order
        np.save(folder / "b.npy", np.tanh(x[perm] @ rng.normal(size=(5, 3))).astype(np.float32))
    layers = {"m1": ["a", "b"], "m2": ["a", "b"]}
    analysis.dataset_cka(
        "d", tmp_path / "features", layers, "all", tmp_path / "cka.parquet", tmp_path / "cka.png"
    )
    table = pl.read_parquet(tmp_path / "cka.parquet")
    assert table.height == 16
    same = table.filter(
        (pl.col("model_a") == "m1") & (pl.col("model_b") == "m2") & (pl.col("layer_a") == "a")
    )
    assert same.filter(pl.col("layer_b") == "a")["cka"].item() == pytest.approx(1.0)
    analysis.plot_model_cka("d", "m2", ["a", "b"], tmp_path / "cka.parquet", tmp_path / "m2.png")
    assert (tmp_path / "m2.png").stat().st_size > 0


def test_confusion_grid_refuses_a_wrong_shape():
    with pytest.raises(ValueError, match=r"knn: confusion matrix of shape \(2, 2\) for 3 class names"):
        class_plots.confusion_grid({"knn": np.eye(2)}, ["a", "b", "c"], "t", {"knn": 1.0})
