"""The front page's findings come from the summary table; the atlas and comparison figures share a legend."""

from __future__ import annotations

import copy

import numpy as np
import polars as pl
import pytest

from layeratlas.plots import atlas as atlas_plots
from layeratlas.plots import compare as compare_plots
from layeratlas.report import front_page, tables

CONFIG = {
    "seed": 3,
    "datasets": {"digits": {"source": "sklearn_digits", "split": {"train": 0.6, "val": 0.15, "test": 0.25}}},
    "models": {
        "cnn": {"architecture": "small_cnn", "weights": "none", "layers": {"pool1": "none", "relu5": "none"}},
        "base": {
            "architecture": "efficientnet_lite0",
            "weights": "imagenet",
            "layers": {"b4": "avg", "gp": "none"},
        },
        "tuned": {
            "architecture": "efficientnet_lite0",
            "weights": "imagenet",
            "layers": {"b4": "avg", "gp": "none"},
            "train": {"dataset": "digits", "epochs": 2, "trainable": ["blocks.6"], "new_head": True},
        },
    },
    "analyses": {"split": "test", "embeddings": ["pca", "tsne"]},
}
CONFIG["models"]["cnn"]["train"] = {"dataset": "digits", "epochs": 15}


def _summary() -> pl.DataFrame:
    rows = [
        # model, layer, depth, probe accuracy, inter/intra ratio, nc1
        ("cnn", "pool1", 0, 0.80, 3.0, 5.0),  # ratio peaks here, the probe at relu5: they disagree
        ("cnn", "relu5", 1, 0.95, 2.0, 1.0),
        ("base", "b4", 0, 0.70, 1.0, 9.0),
        ("base", "gp", 1, 0.88, 1.5, 4.0),
        ("tuned", "b4", 0, 0.72, 1.1, 8.0),
        ("tuned", "gp", 1, 0.97, 6.0, 0.5),  # best overall
    ]
    return pl.DataFrame(
        [
            {
                "dataset": "digits",
                "model": m,
                "layer": layer,
                "depth": d,
                "linear_probe_accuracy": a,
                "inter_to_intra_ratio": r,
                "nc1": n,
                "silhouette": a / 2,
            }
            for m, layer, d, a, r, n in rows
        ]
    )


def _cka() -> pl.DataFrame:
    pairs = [("base", "gp", "tuned", "gp", 0.61), ("base", "b4", "tuned", "b4", 0.98)]
    return pl.DataFrame(
        [
            {"dataset": "digits", "model_a": a, "layer_a": la, "model_b": b, "layer_b": lb, "cka": v}
            for a, la, b, lb, v in pairs
        ]
    )


def test_findings_name_the_best_layers_and_their_disagreement():
    found = front_page.findings(_summary(), CONFIG, {"digits": _cka()})["datasets"]["digits"]
    cnn = next(e for e in found["per_model"] if e["model"] == "cnn")
    assert (cnn["probe"]["layer"], cnn["ratio"]["layer"], cnn["agree"]) == ("relu5", "pool1", False)
    tuned = next(e for e in found["per_model"] if e["model"] == "tuned")
    assert tuned["agree"] is True
    assert (found["best"]["model"], found["best"]["layer"]) == ("tuned", "gp")
    sentences = front_page.finding_sentences({"datasets": {"digits": found}})["digits"]
    cnn_text = next(s for s in sentences["models"] if s.startswith("cnn"))
    assert "best at relu5" in cnn_text and "95.0%" in cnn_text and "peaks at pool1" in cnn_text
    assert "tuned at gp, 97.0%" in sentences["best"]


def test_findings_give_the_fine_tuning_change_per_shared_layer():
    found = front_page.findings(_summary(), CONFIG, {"digits": _cka()})["datasets"]["digits"]
    (pair,) = found["pairs"]
    assert (pair["reference"], pair["other"]) == ("base", "tuned")
    gp = next(c for c in pair["layers"] if c["layer"] == "gp")
    assert gp["probe"] == [0.88, 0.97] and gp["ratio"] == [1.5, 6.0] and gp["nc1"] == [4.0, 0.5]
    assert gp["cka"] == pytest.approx(0.61)
    text = " ".join(front_page.pair_sentences(pair))
    assert "At gp, base → tuned: linear probe 88.0% → 97.0% (+9.0 points)" in text
    assert "inter/intra ratio 1.5 → 6 (×4.00)" in text and "CKA between the two 0.61" in text


def test_a_layer_fine_tuning_left_alone_reads_as_unchanged():
    summary = _summary().with_columns(
        pl.when((pl.col("model") == "tuned") & (pl.col("layer") == "b4"))
        .then(pl.lit(0.70))
        .otherwise(pl.col("linear_probe_accuracy"))
        .alias("linear_probe_accuracy"),
        pl.when((pl.col("model") == "tuned") & (pl.col("layer") == "b4"))
        .then(pl.lit(1.0))
        .otherwise(pl.col("inter_to_intra_ratio"))
        .alias("inter_to_intra_ratio"),
    )
    cka = _cka().with_columns(
        pl.when(pl.col("layer_a") == "b4").then(1.0).otherwise(pl.col("cka")).alias("cka")
    )
    (pair,) = front_page.findings(summary, CONFIG, {"digits": cka})["datasets"]["digits"]["pairs"]
    b4, gp = front_page.pair_sentences(pair)
    assert b4.startswith("At b4, tuned has the features of base (CKA 1.000") and "did not change" in b4
    assert "did not change" not in gp and "+9.0 points" in gp


def test_single_model_page_has_no_pair_section(tmp_path):
    config = copy.deepcopy(CONFIG)
    config["models"] = {"cnn": config["models"]["cnn"]}
    summary = _summary().filter(pl.col("model") == "cnn")
    found = front_page.findings(summary, config)
    assert found["datasets"]["digits"]["pairs"] == []
    page = front_page.render_front_page(config, found, {})
    assert "What changed" not in page and "cnn separates the classes of digits best at relu5" in page
    assert "trained from scratch on digits (15 epochs)" in page


def test_study_paragraph_says_how_each_model_was_obtained():
    text = front_page.study_paragraph(CONFIG)
    assert "base: efficientnet_lite0 with ImageNet weights as they are" in text
    assert "tuned: efficientnet_lite0 fine-tuned from ImageNet weights (those of base) on digits" in text
    assert "test split" in text and "seed 3" in text


def _maps(rng, n=40, classes=4):
    labels = np.repeat(np.arange(classes), n // classes)
    xy = rng.normal(size=(len(labels), 2)) + labels[:, None] * 3
    return pl.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "label": labels})


def test_atlas_grid_has_one_shared_legend_and_accuracy_corners():
    rng = np.random.default_rng(0)
    layers = {"cnn": ["pool1", "relu5"], "base": ["gp"]}
    maps = {(m, layer): _maps(rng) for m, ls in layers.items() for layer in ls}
    fig = atlas_plots.atlas_grid(maps, layers, list("abcd"), {("cnn", "relu5"): 0.95})
    assert len(fig.legends) == 1 and all(ax.get_legend() is None for ax in fig.axes)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == list("abcd")
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "95.0%" in texts
    assert sum(ax.axison for ax in fig.axes) == 3  # the empty cell of the one-layer row is off


def test_depth_profile_overlays_every_model():
    fig = atlas_plots.depth_profile(_summary())
    assert len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["cnn", "base", "tuned"]
    assert all(len(ax.lines) == 3 for ax in fig.axes)


def test_comparison_maps_share_axes_and_heatmaps_one_scale():
    rng = np.random.default_rng(1)
    fig = compare_plots.maps_side_by_side(["a", "b"], [_maps(rng), _maps(rng)], list("wxyz"))
    left, right = fig.axes[:2]
    assert left.get_xlim() == right.get_xlim() and left.get_ylim() == right.get_ylim()
    assert len(fig.legends) == 1
    inter = [
        pl.DataFrame(
            {
                "class_a_id": [0],
                "class_a": ["x"],
                "class_b_id": [1],
                "class_b": ["y"],
                "inter_class_variance": [v],
            }
        )
        for v in (2.0, 8.0)
    ]
    fig = compare_plots.inter_heatmaps(["a", "b"], inter)
    limits = {im.get_clim() for ax in fig.axes for im in ax.images}
    assert limits == {(0.0, 8.0)}


def test_html_table_formats_percent_and_words(tmp_path):
    source = tmp_path / "probes.tsv"
    pl.DataFrame({"classifier": ["knn"], "test_accuracy": [0.91234], "n_samples": [1234]}).write_csv(
        source, separator="\t"
    )
    page = tmp_path / "probes.html"
    tables.write_table_html(source, page, "classifiers")
    text = page.read_text()
    assert "test accuracy (%)" in text and "91.2" in text and "1,234" in text
    assert 'download="probes.tsv"' in text and "<script" not in text


def test_front_page_links_the_explorer_when_there_is_one():
    found = front_page.findings(_summary(), CONFIG)
    assert "explorer" not in front_page.render_front_page(CONFIG, found, {})
    page = front_page.render_front_page(
        CONFIG, found, {}, explorers={"digits": "results/explorer/digits.html"}
    )
    assert "app.showCategory('explorer')" in page and "results/explorer/digits.html" in page
