"""The front page's findings come from the summary table; the atlas and comparison figures share a legend."""

from __future__ import annotations

import copy

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from layeratlas.plots import atlas as atlas_plots
from layeratlas.plots import compare as compare_plots
from layeratlas.plots import layers as layer_plots
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


def test_findings_without_tests_name_no_best():
    found = front_page.findings(_summary(), CONFIG, {"digits": _cka()})["datasets"]["digits"]
    cnn = next(e for e in found["per_model"] if e["model"] == "cnn")
    assert [c["layer"] for c in cnn["probe"]["top"]] == ["relu5"] and not cnn["probe"]["tested"]
    assert [c["layer"] for c in cnn["ratio"]] == ["pool1"] and cnn["agree"] is False
    sentences = front_page.finding_sentences({"datasets": {"digits": found}})["digits"]
    cnn_text = next(s for s in sentences["models"] if s.startswith("cnn"))
    assert "highest on digits at relu5" in cnn_text and "95.0%" in cnn_text and "peaks at pool1" in cnn_text
    assert "no layer is named best" in cnn_text and "best at" not in cnn_text
    assert "tuned at gp (97.0%)" in sentences["best"] and "no best overall is named" in sentences["best"]


def test_findings_give_the_fine_tuning_change_per_shared_layer():
    found = front_page.findings(_summary(), CONFIG, {"digits": _cka()})["datasets"]["digits"]
    (pair,) = found["pairs"]
    assert (pair["reference"], pair["other"]) == ("base", "tuned")
    gp = next(c for c in pair["layers"] if c["layer"] == "gp")
    assert gp["probe"] == [0.88, 0.97] and gp["ratio"] == [1.5, 6.0] and gp["nc1"] == [4.0, 0.5]
    assert gp["cka"] == pytest.approx(0.61)
    text = " ".join(front_page.pair_sentences(pair))
    assert "At gp, base → tuned: linear probe 88.0% → 97.0%, +9.0 points (no paired test)" in text
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
    assert "What changed" not in page and "cnn scores highest on digits at relu5" in page
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
    fig = layer_plots.depth_profile(_summary())
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


# --- issue 21, item 6: the known faults (each test failed on the code before the fix) -------------------


def _tied_summary() -> pl.DataFrame:
    """cnn ties at pool1 and pool2 by probe accuracy; its ratio peaks at pool2 (one of the tied tops)."""
    rows = [
        ("cnn", "pool1", 0, 0.982, 2.0),
        ("cnn", "pool2", 1, 0.982, 3.0),
        ("cnn", "relu5", 2, 0.958, 2.5),
        ("base", "b4", 0, 0.982, 1.0),
        ("base", "gp", 1, 0.90, 1.5),
    ]
    return pl.DataFrame(
        [
            {"dataset": "digits", "model": m, "layer": la, "depth": d, "linear_probe_accuracy": a,
             "inter_to_intra_ratio": r}
            for m, la, d, a, r in rows
        ]
    )  # fmt: skip


def _tied_config() -> dict:
    config = copy.deepcopy(CONFIG)
    config["models"] = {
        "cnn": config["models"]["cnn"] | {"layers": {"pool1": "none", "pool2": "none", "relu5": "none"}},
        "base": config["models"]["base"],
    }
    return config


def test_ties_do_not_contradict_themselves():
    found = front_page.findings(_tied_summary(), _tied_config())
    text = front_page.finding_sentences(found)["digits"]["models"][0]
    # The ratio peaks at pool2, one of the tied top layers: it cannot be "best elsewhere".
    assert "elsewhere" not in text, text
    assert "pool1" in text and "pool2" in text


def test_overall_best_keeps_ties_and_names_their_models():
    found = front_page.findings(_tied_summary(), _tied_config())
    best = front_page.finding_sentences(found)["digits"]["best"]
    for cell in ("cnn at pool1", "cnn at pool2", "base at b4"):
        assert cell in best, best


def test_snapshot_models_are_not_imagenet_weights_as_they_are():
    config = copy.deepcopy(CONFIG)
    config["models"]["cnn-epoch1"] = {
        "architecture": "small_cnn",
        "weights": "none",
        "layers": {"pool1": "none"},
        "snapshot_of": {"model": "cnn", "epoch": 1, "dataset": "digits"},
    }
    config["models"]["base-epoch1"] = config["models"]["base"] | {
        "snapshot_of": {"model": "tuned", "epoch": 1, "dataset": "digits"}
    }
    assert "after epoch 1" in front_page.model_origin("base-epoch1", config)
    assert "as they are" not in front_page.model_origin("base-epoch1", config)
    assert "untrained" not in front_page.model_origin("cnn-epoch1", config)


def test_atlas_heading_names_the_embedding_the_atlas_draws():
    config = copy.deepcopy(CONFIG)
    config["analyses"]["embeddings"] = ["pca"]
    config["report"] = {"atlas_embedding": "tsne"}  # the schema's default; not computed here
    found = front_page.findings(_summary(), config)
    page = front_page.render_front_page(config, found, {"digits": {"atlas": _png()}})
    assert "PCA coloured by class" in page and "t-SNE" not in page


def test_only_linear_adam_draws_a_depth_profile_and_a_page():
    summary = _summary().drop("linear_probe_accuracy", "inter_to_intra_ratio", "nc1", "silhouette")
    summary = summary.with_columns(linear_adam_accuracy=pl.Series([0.8, 0.9, 0.7, 0.8, 0.7, 0.95]))
    fig = layer_plots.depth_profile(summary)
    assert len(fig.axes) == 1 and fig.axes[0].lines
    found = front_page.findings(summary, CONFIG)
    assert front_page.render_front_page(CONFIG, found, {})


def test_study_paragraph_states_sample_size_and_reductions_and_warns_about_pooling():
    config = copy.deepcopy(CONFIG)
    config["models"]["tuned"]["train"]["sample_size"] = 500
    config["models"]["cnn"]["layers"]["pool1"] = {"reduction": "adaptive_avg", "size": 2}
    text = front_page.study_paragraph(config)
    assert "500" in text and "sample" in text
    assert "pool1 (adaptive_avg 2×2)" in text and "b4 (global average pool)" in text
    assert "pooled" in text and "unfair" in text


def test_comparisons_is_linked_only_when_built():
    found = front_page.findings(_summary(), CONFIG)
    categories = [("atlas", "figures"), ("comparisons", "model pairs"), ("summary", "tables")]
    page = front_page.render_front_page(CONFIG, found, {}, categories)
    assert "app.showCategory('comparisons')" in page  # the caller passes only the built categories
    built = front_page.front_page_categories(CONFIG, comparisons=(), explorers=False)
    assert "comparisons" not in [c for c, _ in built]
    built = front_page.front_page_categories(CONFIG, comparisons=("tests",), explorers=False)
    assert "comparisons" in [c for c, _ in built]


def test_snakemake_is_pinned_to_the_verified_range():
    import tomllib

    from tests.conftest import ROOT

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (pin,) = [d for d in deps if d.replace(" ", "").startswith("snakemake>") or d.startswith("snakemake=")]
    assert "<" in pin, pin  # the front page relies on the report's class names and app.showCategory


def _png() -> str:
    import tempfile

    import matplotlib.pyplot as plt

    path = tempfile.mkstemp(suffix=".png")[1]
    plt.imsave(path, np.zeros((4, 4)))
    return path


# --- issue 21, item 5: findings backed by the paired tests (tables of FINDINGS_INTERFACE.md's shape) ------

N_TEST = 450


def _wilson(k: int, n: int = N_TEST) -> tuple[float, float]:
    """The Wilson interval by its formula, independent of the code under test."""
    z, p = 1.959963984540054, k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def _study() -> tuple[dict, pl.DataFrame, pl.DataFrame]:
    """The issue's digits run: cnn's pool1 and pool2 tie (442 of 450), relu5 is lower; base's b4 ties
    cnn's top; fine-tuning changes gp (4 vs 17 images) but not b4 (8 vs 8)."""
    config = _tied_config()
    config["models"]["tuned"] = copy.deepcopy(CONFIG["models"]["tuned"])
    cells = [  # model, layer, depth, relative depth, correct, ratio, ratio ci
        ("cnn", "pool1", 0, 0.3, 442, 2.0, (1.8, 2.2)),
        ("cnn", "pool2", 1, 0.6, 442, 3.0, (2.7, 3.3)),
        ("cnn", "relu5", 2, 0.9, 431, 2.5, (2.3, 2.7)),
        ("base", "b4", 0, 0.5, 442, 1.0, (0.9, 1.1)),
        ("base", "gp", 1, 1.0, 405, 1.5, (1.4, 1.6)),
        ("tuned", "b4", 0, 0.5, 442, 1.0, (0.9, 1.1)),
        ("tuned", "gp", 1, 1.0, 418, 6.0, (5.5, 6.6)),
    ]
    summary = pl.DataFrame(
        [
            {
                "dataset": "digits", "model": m, "layer": la, "depth": d, "relative_depth": rd,
                "n_test": N_TEST, "n_classes": 10, "chance_accuracy": 0.1, "linear_probe_correct": k,
                "linear_probe_accuracy": k / N_TEST,
                "linear_probe_accuracy_ci_low": _wilson(k)[0], "linear_probe_accuracy_ci_high": _wilson(k)[1],
                "inter_to_intra_ratio": r, "inter_to_intra_ratio_ci_low": ci[0],
                "inter_to_intra_ratio_ci_high": ci[1],
            }
            for m, la, d, rd, k, r, ci in cells
        ],
        schema_overrides={"n_test": pl.Int64, "n_classes": pl.Int64, "linear_probe_correct": pl.Int64},
    )  # fmt: skip
    acc = {(m, la): k / N_TEST for m, la, _, _, k, _, _ in cells}
    tests = [  # kind, a, layer a, b, layer b, a_only, b_only, p adjusted, correction, ratio change
        ("layer_vs_top", "cnn", "pool1", "cnn", "pool2", 2, 2, 1.0, "Holm over 2 layers of cnn", None),
        ("layer_vs_top", "cnn", "pool1", "cnn", "relu5", 14, 3, 0.02, "Holm over 2 layers of cnn", None),
        ("layer_vs_top", "base", "b4", "base", "gp", 40, 3, 1e-6, "Holm over 1 layer of base", None),
        ("layer_vs_top", "tuned", "b4", "tuned", "gp", 30, 6, 1e-4, "Holm over 1 layer of tuned", None),
        ("model_vs_model", "cnn", "pool1", "base", "b4", 8, 8, 1.0, "Holm over 2 models", None),
        ("model_vs_model", "cnn", "pool1", "tuned", "b4", 8, 8, 1.0, "Holm over 2 models", None),
        ("pair", "base", "b4", "tuned", "b4", 8, 8, 1.0, "none", (0.0, -0.05, 0.05)),
        ("pair", "base", "gp", "tuned", "gp", 4, 17, 0.007, "none", (4.5, 3.9, 5.2)),
    ]
    comparisons = pl.DataFrame(
        [
            {
                "dataset": "digits", "kind": kind, "model_a": a, "layer_a": la, "model_b": b, "layer_b": lb,
                "classifier": "linear_probe", "n": N_TEST, "accuracy_a": acc[(a, la)],
                "accuracy_b": acc[(b, lb)], "a_only": ao, "b_only": bo,
                "p_value": float(binomtest(ao, ao + bo, 0.5).pvalue), "p_adjusted": p, "correction": corr,
                "ratio_change": rc and rc[0], "ratio_change_ci_low": rc and rc[1],
                "ratio_change_ci_high": rc and rc[2],
            }
            for kind, a, la, b, lb, ao, bo, p, corr, rc in tests
        ],
        schema_overrides={"n": pl.Int64, "a_only": pl.Int64, "b_only": pl.Int64,
                          "ratio_change": pl.Float64, "ratio_change_ci_low": pl.Float64,
                          "ratio_change_ci_high": pl.Float64},
    )  # fmt: skip
    return config, summary, comparisons


def test_best_is_the_set_no_test_separates_from_the_top():
    config, summary, comparisons = _study()
    found = front_page.findings(summary, config, comparisons=comparisons)
    cnn = found["datasets"]["digits"]["per_model"][0]
    assert [c["layer"] for c in cnn["probe"]["top"]] == ["pool1", "pool2"]
    assert [c["layer"] for c in cnn["probe"]["lower"]] == ["relu5"]
    text = front_page.finding_sentences(found)["digits"]["models"][0]
    assert text.startswith("cnn: pool1 and pool2 separate the classes of digits equally well")
    assert "98.2% [96.5, 99.1] and 98.2% [96.5, 99.1]" in text  # the issue's Wilson interval of 442/450
    assert "pool2 vs pool1: 2 vs 2 images differ, p = 1.0" in text
    assert "; relu5 is lower (95.8% [93.5, 97.3], 14 vs 3 images differ, p = 0.02)" in text
    assert "Holm over 2 layers of cnn" in text
    assert "ratio peaks at pool2 (3 [2.7, 3.3]), among those layers" in text and "elsewhere" not in text


def test_overall_best_is_named_only_where_a_test_supports_it():
    config, summary, comparisons = _study()
    best = front_page.finding_sentences(front_page.findings(summary, config, comparisons=comparisons))
    best = best["digits"]["best"]
    assert best.startswith("No single best overall on digits")
    for cell in ("cnn at pool1 (98.2% [96.5, 99.1])", "cnn at pool2", "base at b4", "tuned at b4"):
        assert cell in best, best
    assert "base at b4: 8 vs 8 images differ, p = 1.0" in best
    # Make the tuned network's b4 clearly better than everything: now a test supports a best overall.
    supported = comparisons.with_columns(
        pl.when(pl.col("kind") == "model_vs_model")
        .then(pl.lit(0.001))
        .otherwise("p_adjusted")
        .alias("p_adjusted")
    )
    best = front_page.finding_sentences(front_page.findings(summary, config, comparisons=supported))
    assert best["digits"]["best"].startswith(
        "Best overall on digits: cnn at pool1 (98.2% [96.5, 99.1]), cnn at pool2"
    )


def test_what_changed_says_with_its_p_value_what_changed_and_what_did_not():
    config, summary, comparisons = _study()
    found = front_page.findings(summary, config, comparisons=comparisons)
    (pair,) = found["datasets"]["digits"]["pairs"]
    b4, gp = front_page.pair_sentences(pair)
    assert "the linear probe did not change detectably" in b4 and "8 images only base gets right" in b4
    assert "the inter/intra ratio did not change detectably" in b4 and "[-0.05, +0.05]" in b4
    assert "the linear probe changed: 90.0% [" in gp and "4 images only base gets right, 17 only tuned" in gp
    assert "p = 0.007" in gp and "the inter/intra ratio changed" in gp and "[+3.9, +5.2]" in gp


def test_findings_json_keeps_p_values_discordant_counts_and_corrections():
    import json

    config, summary, comparisons = _study()
    found = json.loads(json.dumps(front_page.findings(summary, config, comparisons=comparisons)))
    relu5 = found["datasets"]["digits"]["per_model"][0]["probe"]["lower"][0]
    assert relu5["test"]["a_only"] == 14 and relu5["test"]["b_only"] == 3
    assert relu5["test"]["p_value"] == pytest.approx(binomtest(14, 17, 0.5).pvalue)
    assert relu5["test"]["p_adjusted"] == 0.02 and relu5["test"]["correction"] == "Holm over 2 layers of cnn"
    assert relu5["ci"] == pytest.approx(list(_wilson(431)))
    assert found["alpha"] == 0.05


def test_wilson_interval_without_the_ci_columns_matches_the_formula():
    _, summary, _ = _study()
    row = summary.drop("linear_probe_accuracy_ci_low", "linear_probe_accuracy_ci_high").row(2, named=True)
    assert front_page._interval(row, "linear_probe_accuracy") == pytest.approx(list(_wilson(431)))


def test_every_accuracy_on_the_page_carries_its_interval():
    import re

    config, summary, comparisons = _study()
    page = front_page.render_front_page(
        config, front_page.findings(summary, config, comparisons=comparisons), {}
    )
    text = re.sub(r"<[^>]+>", " ", page.split("</style>")[1])
    percents = re.findall(r"\d+\.\d%(?! \[)(?!</td>)", text)
    # every "98.2%" is followed by its "[96.5, 99.1]" (the pair table puts it in the same cell)
    assert not [p for p in percents if p not in ("0.0%",)], percents
    assert "How to read this" in page
    assert "train.seeds" not in page  # the seeds' reading rule only where a model is trained once per seed


def test_a_model_at_chance_is_said_so_first_and_gets_no_layer_conclusions():
    config, summary, comparisons = _study()
    at_chance = summary.with_columns(  # base's probe intervals all include chance (10%)
        pl.when(pl.col("model") == "base")
        .then(pl.lit(0.08))
        .otherwise("linear_probe_accuracy_ci_low")
        .alias("linear_probe_accuracy_ci_low")
    )
    found = front_page.findings(at_chance, config, comparisons=comparisons)
    models = front_page.finding_sentences(found)["digits"]["models"]
    assert (
        models[0].startswith("base's features are at chance on digits")
        and "No layer conclusions" in models[0]
    )
    assert "best" not in models[0] and "peaks" not in models[0]
    # Training that ended at chance (loss ln 100, 1.3% on a 100-class set): said first, for that model.
    training = {"cnn": {"test_accuracy": 0.013, "test_loss": 4.605}}
    summary = summary.with_columns(chance_accuracy=pl.lit(0.01))
    models = front_page.finding_sentences(
        front_page.findings(summary, config, comparisons=comparisons, training=training)
    )
    assert models["digits"]["models"][0].startswith("cnn did not learn: its training ended at chance")
    assert "1.3% [" in models["digits"]["models"][0] and "loss 4.605" in models["digits"]["models"][0]


def test_the_overall_ranking_says_which_of_its_cells_belong_to_a_model_at_chance():
    """A model whose training ended at chance gets no layer conclusions, yet its layers' features can still
    top the overall ranking (a frozen pretrained prefix): the ranking names them with that caveat."""
    config, summary, comparisons = _study()
    found = front_page.findings(summary, config, comparisons=comparisons)
    named = [
        c["model"]
        for c in found["datasets"]["digits"]["best"]["top"] + found["datasets"]["digits"]["best"]["lower"]
    ]
    model = named[0]
    plain = front_page.finding_sentences(found)["digits"]["best"]
    assert "ended at chance" not in plain
    training = {model: {"test_accuracy": 0.1, "test_loss": 2.30}}  # its own head: at chance (10 classes)
    found = front_page.findings(summary, config, comparisons=comparisons, training=training)
    sentences = front_page.finding_sentences(found)["digits"]
    assert sentences["models"][0].startswith(f"{model} did not learn")
    note = "its model's training ended at chance (above): the probe measures this layer's features"
    assert sentences["best"].count(note) == named.count(model) >= 1


def test_depth_profile_puts_layers_at_relative_depth_with_whiskers():
    _, summary, _ = _study()
    fig = layer_plots.depth_profile(summary)
    probe = fig.axes[0]
    assert probe.containers, "whiskers (errorbar containers) on the accuracy panel"
    xs = np.array([float(x) for line in probe.lines for x in line.get_xdata()])
    # b4 sits at 0.5 (not at pool1's position 0); models at a shared depth are set a little apart
    assert all(np.abs(xs - d).min() < 0.015 for d in (0.3, 0.5, 0.6, 0.9, 1.0)), xs
    assert xs.min() > 0.25
    assert "relative depth" in probe.get_xlabel()
    fig = layer_plots.depth_profile(summary.drop("relative_depth"))
    assert "config order" in fig.axes[0].get_xlabel()


def test_metrics_vs_depth_draws_whiskers_at_relative_depth():
    _, summary, _ = _study()
    fig = layer_plots.metrics_vs_depth(summary, "cnn")
    accuracy = fig.axes[0]
    assert accuracy.containers and "relative depth" in accuracy.get_xlabel()
    assert [round(t, 3) for t in accuracy.get_xticks()] == [0.3, 0.6, 0.9]


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    layers=st.dictionaries(st.sampled_from(["m1", "m2", "m3"]), st.integers(1, 4), min_size=1),
)
def test_ties_never_contradict_and_every_tied_cell_is_named(data, layers):
    """Hypothesis: all layers equal, two tied tops, one model, no pair. Accuracies from a few values (ties
    are common); tests are exact McNemar on drawn discordant counts, uncorrected."""
    config = {"datasets": {"d": {"source": "x"}}, "analyses": {}, "models": {}}
    rows, tests = [], []
    for m, n in layers.items():
        config["models"][m] = {"architecture": m, "layers": {f"l{i}": "none" for i in range(n)}}
        for i in range(n):
            k = data.draw(st.sampled_from([400, 440, 442]))
            r = data.draw(st.sampled_from([1.0, 2.0]))
            rows.append({"dataset": "d", "model": m, "layer": f"l{i}", "depth": i, "n_test": N_TEST,
                         "chance_accuracy": 0.1, "linear_probe_accuracy": k / N_TEST,
                         "inter_to_intra_ratio": r})  # fmt: skip

    def test_row(kind, a, b):  # noqa: ANN001, ANN202
        # discordant counts consistent with the two accuracies (a_only - b_only = their difference)
        diff = round((a["linear_probe_accuracy"] - b["linear_probe_accuracy"]) * N_TEST)
        b_only = data.draw(st.integers(0, 20))
        a_only = b_only + diff
        p = float(binomtest(a_only, a_only + b_only, 0.5).pvalue) if a_only + b_only else 1.0
        return {"dataset": "d", "kind": kind, "model_a": a["model"], "layer_a": a["layer"],
                "model_b": b["model"], "layer_b": b["layer"], "classifier": "linear_probe", "n": N_TEST,
                "a_only": a_only,
                "b_only": b_only, "p_value": p, "p_adjusted": p, "correction": "none"}  # fmt: skip

    key = lambda r: (r["linear_probe_accuracy"], -r["depth"])  # noqa: E731 (first in layer order on ties)
    tops = {}
    for m in layers:
        mine = [r for r in rows if r["model"] == m]
        tops[m] = max(mine, key=key)
        tests += [test_row("layer_vs_top", tops[m], r) for r in mine if r is not tops[m]]
    overall = max(tops.values(), key=key)
    tests += [test_row("model_vs_model", overall, t) for t in tops.values() if t is not overall]
    summary = pl.DataFrame(rows)
    comparisons = pl.DataFrame(tests) if tests else None
    found = front_page.findings(summary, config, comparisons=comparisons)
    sentences = front_page.finding_sentences(found)["d"]
    for entry, text in zip(found["datasets"]["d"]["per_model"], sentences["models"], strict=True):
        probe = entry["probe"]
        assert all(c["layer"] in text for c in probe["top"])
        assert all(c["test"]["p_adjusted"] >= 0.05 for c in probe["top"][1:])
        assert all(c["test"]["p_adjusted"] < 0.05 for c in probe["lower"])
        if entry["agree"]:
            assert "better at" not in text and "elsewhere" not in text
        if len(probe["top"]) > 1:
            assert "equally well" in text and "best at" not in text
    best = sentences["best"]
    top = found["datasets"]["d"]["best"]["top"]
    if len(layers) > 1:
        assert all(f"{c['model']} at {c['layer']}" in best for c in top), best
        assert best.startswith("Best overall") == (len({c["model"] for c in top}) == 1)


def test_a_tied_layer_of_another_model_joins_the_overall_set_without_a_borrowed_test():
    config, summary, comparisons = _study()
    # base's gp is not separated from base's top (b4): it joins the overall set with base's b4
    comparisons = comparisons.with_columns(
        pl.when((pl.col("model_b") == "base") & (pl.col("layer_b") == "gp"))
        .then(pl.lit(0.2))
        .otherwise("p_adjusted")
        .alias("p_adjusted")
    )
    found = front_page.findings(summary, config, comparisons=comparisons)
    best = front_page.finding_sentences(found)["digits"]["best"]
    assert "base at gp (90.0% [" in best
    # its test was against base's b4, not against the overall top: not printed as one "against the top"
    assert "base at gp: 40 vs 3" not in best and "base at b4: 8 vs 8 images differ" in best


def _seeded(
    runs: dict[str, dict[str, int]],
    tests: dict[str, list[tuple[str, str, int, int, float]]],
    other: bool = False,
) -> tuple[dict, pl.DataFrame, pl.DataFrame]:
    """A model ``cnn`` trained once per seed: ``runs`` = {member: {layer: correct of N_TEST}}, ``tests`` =
    {member: [(top layer, other layer, a_only, b_only, p adjusted)]} (its layer_vs_top tests). ``other``
    adds the plain model ``base`` (b4 at 400 of 450) and the model_vs_model tests of the overall top run."""
    layers = list(next(iter(runs.values())))
    models = {
        m: {
            "architecture": "small_cnn",
            "weights": "none",
            "layers": dict.fromkeys(layers, "none"),
            "train": {"dataset": "digits", "epochs": 2, "seed": i},
            "sweep_group": {"name": "cnn", "parameter": "train.seed", "value": i},
        }
        for i, m in enumerate(runs)
    }
    cells = {(m, la): k for m, by_layer in runs.items() for la, k in by_layer.items()}
    if other:
        models["base"] = copy.deepcopy(CONFIG["models"]["base"]) | {"layers": {"b4": "avg"}}
        cells[("base", "b4")] = 400
    config = copy.deepcopy(CONFIG) | {"models": models}
    summary = pl.DataFrame(
        [
            {
                "dataset": "digits", "model": m, "layer": la, "depth": (layers + [la]).index(la),
                "n_test": N_TEST, "chance_accuracy": 0.1, "linear_probe_correct": k,
                "linear_probe_accuracy": k / N_TEST, "linear_probe_accuracy_ci_low": _wilson(k)[0],
                "linear_probe_accuracy_ci_high": _wilson(k)[1],
            }
            for (m, la), k in cells.items()
        ],
        schema_overrides={"n_test": pl.Int64, "linear_probe_correct": pl.Int64},
    )  # fmt: skip
    rows = [
        ("layer_vs_top", m, top, m, la, ao, bo, p, f"Holm over {len(layers) - 1} layer(s) of {m}")
        for m, member_tests in tests.items()
        for top, la, ao, bo, p in member_tests
    ]
    if other:  # the overall top run's top layer against every other run's and model's top layer
        tops = {m: max(by_layer, key=by_layer.get) for m, by_layer in runs.items()}
        lead = max(tops, key=lambda m: runs[m][tops[m]])
        rows += [
            ("model_vs_model", lead, tops[lead], m, tops[m], 5, 5, 1.0, "Holm over 3 models")
            for m in tops
            if m != lead
        ]
        rows.append(("model_vs_model", lead, tops[lead], "base", "b4", 40, 2, 1e-6, "Holm over 3 models"))
    comparisons = pl.DataFrame(
        [
            {
                "dataset": "digits", "kind": kind, "model_a": a, "layer_a": la, "model_b": b, "layer_b": lb,
                "classifier": "linear_probe", "n": N_TEST, "accuracy_a": cells[(a, la)] / N_TEST,
                "accuracy_b": cells[(b, lb)] / N_TEST, "a_only": ao, "b_only": bo,
                "p_value": float(binomtest(ao, ao + bo, 0.5).pvalue), "p_adjusted": p, "correction": corr,
                "ratio_change": None, "ratio_change_ci_low": None, "ratio_change_ci_high": None,
            }
            for kind, a, la, b, lb, ao, bo, p, corr in rows
        ],
        schema_overrides={"n": pl.Int64, "a_only": pl.Int64, "b_only": pl.Int64, "ratio_change": pl.Float64,
                          "ratio_change_ci_low": pl.Float64, "ratio_change_ci_high": pl.Float64},
    )  # fmt: skip
    return config, summary, comparisons


def test_a_seeded_model_whose_top_layer_flips_between_runs_has_no_single_best():
    runs = {
        "cnn-seed0": {"pool1": 440, "relu5": 400},
        "cnn-seed1": {"pool1": 400, "relu5": 440},  # relu5 on top in this run, pool1 separated from it
        "cnn-seed2": {"pool1": 440, "relu5": 400},
    }
    tests = {
        "cnn-seed0": [("pool1", "relu5", 42, 2, 1e-9)],
        "cnn-seed1": [("relu5", "pool1", 42, 2, 1e-9)],
        "cnn-seed2": [("pool1", "relu5", 42, 2, 1e-9)],
    }
    config, summary, comparisons = _seeded(runs, tests)
    found = front_page.findings(summary, config, comparisons=comparisons)["datasets"]["digits"]
    (entry,) = found["per_model"]  # one model, not one per run
    assert entry["model"] == "cnn" and entry["runs"] == list(runs)
    assert [c["layer"] for c in entry["probe"]["top"]] == ["pool1", "relu5"] and not entry["probe"]["lower"]
    pool1 = entry["probe"]["top"][0]
    assert pool1["value"] == pytest.approx((440 + 400 + 440) / 3 / N_TEST)
    assert pool1["range"] == pytest.approx([400 / N_TEST, 440 / N_TEST]) and pool1["top_in"] == 2
    assert [r["ci"] for r in pool1["runs"]] == [pytest.approx(list(_wilson(k))) for k in (440, 400, 440)]
    sentences = front_page.finding_sentences({"datasets": {"digits": found}})["digits"]
    (text,) = sentences["models"]
    assert not any(s.startswith("cnn-seed") for s in [*sentences["models"], sentences["best"]])
    assert text.startswith("cnn (trained 3 times, train.seeds: cnn-seed0, cnn-seed1, cnn-seed2)"), text
    assert "no single best layer" in text and "pool1 in 2 of 3 runs, relu5 in 1" in text
    assert "pool1 94.8% (range 88.9–97.8%" in text and "best at" not in text
    assert sentences["best"].startswith("One model on digits")


def test_a_seeded_model_whose_top_layer_is_separated_in_every_run_names_it():
    runs = {
        "cnn-seed0": {"pool1": 380, "relu5": 430},
        "cnn-seed1": {"pool1": 390, "relu5": 425},
        "cnn-seed2": {"pool1": 385, "relu5": 440},
    }
    tests = {m: [("relu5", "pool1", 50, 2, 1e-9)] for m in runs}
    config, summary, comparisons = _seeded(runs, tests)
    found = front_page.findings(summary, config, comparisons=comparisons)["datasets"]["digits"]
    (entry,) = found["per_model"]
    assert [c["layer"] for c in entry["probe"]["top"]] == ["relu5"]
    assert [c["layer"] for c in entry["probe"]["lower"]] == ["pool1"]
    assert [t["p_adjusted"] for t in entry["probe"]["lower"][0]["tests"]] == [1e-9] * 3
    (text,) = front_page.finding_sentences({"datasets": {"digits": found}})["digits"]["models"]
    assert text.startswith("cnn (trained 3 times, train.seeds: cnn-seed0, cnn-seed1, cnn-seed2)"), text
    assert "separates the classes of digits best at relu5 in every run" in text, text
    assert "relu5 95.9% (range 94.4–97.8%" in text and "pool1 is lower in every run" in text
    assert "50 vs 2 images differ, p < 0.001 in each run" in text


def test_a_seeded_model_whose_seed_ranges_overlap_names_no_single_best():
    """Every run's test separates relu5 from pool1, but pool1's best run beats relu5's worst: the seed
    spread does not separate them."""
    runs = {
        "cnn-seed0": {"pool1": 380, "relu5": 430},
        "cnn-seed1": {"pool1": 405, "relu5": 410},
        "cnn-seed2": {"pool1": 415, "relu5": 440},
    }
    tests = {m: [("relu5", "pool1", 30, 2, 1e-6)] for m in runs}
    config, summary, comparisons = _seeded(runs, tests)
    found = front_page.findings(summary, config, comparisons=comparisons)["datasets"]["digits"]
    (entry,) = found["per_model"]
    assert [c["layer"] for c in entry["probe"]["top"]] == ["relu5", "pool1"]
    (text,) = front_page.finding_sentences({"datasets": {"digits": found}})["digits"]["models"]
    assert "no single best layer" in text and "ranges overlap" in text and "best at" not in text


def test_a_seeded_model_reads_as_one_model_in_the_overall_best():
    runs = {
        "cnn-seed0": {"pool1": 380, "relu5": 430},
        "cnn-seed1": {"pool1": 390, "relu5": 425},
        "cnn-seed2": {"pool1": 385, "relu5": 440},
    }
    tests = {m: [("relu5", "pool1", 50, 2, 1e-9)] for m in runs}
    config, summary, comparisons = _seeded(runs, tests, other=True)
    found = front_page.findings(summary, config, comparisons=comparisons)
    best = front_page.finding_sentences(found)["digits"]["best"]
    assert "-seed" not in best, best  # no run named as if it were a model
    # every run's relu5 (94.4% at worst) is above base's b4 (88.9%), and the test separates them
    assert best.startswith("Best overall on digits: cnn at relu5 (mean 95.9%, range 94.4–97.8%"), best
    assert "base at b4 (88.9% [" in best
    # base's b4 within cnn's seed range: the spread does not support a best overall
    close = summary.with_columns(
        pl.when(pl.col("model") == "base").then(pl.lit(0.95)).otherwise("linear_probe_accuracy")
        .alias("linear_probe_accuracy"),
    )  # fmt: skip
    best = front_page.finding_sentences(front_page.findings(close, config, comparisons=comparisons))
    assert best["digits"]["best"].startswith("No single best overall on digits"), best["digits"]["best"]


def _seeded_pair(p_values: list[float]) -> tuple[dict, pl.DataFrame, pl.DataFrame]:
    """base (ImageNet weights as they are) and tuned fine-tuned once per seed: three pairs base -> run."""
    runs = [f"tuned-seed{i}" for i in range(len(p_values))]
    models = {"base": copy.deepcopy(CONFIG["models"]["base"]) | {"layers": {"gp": "none"}}}
    for i, m in enumerate(runs):
        models[m] = copy.deepcopy(CONFIG["models"]["tuned"]) | {
            "layers": {"gp": "none"},
            "sweep_group": {"name": "tuned", "parameter": "train.seed", "value": i},
        }
    config = copy.deepcopy(CONFIG) | {"models": models}
    cells = {"base": 400} | dict.fromkeys(runs, 430)
    summary = pl.DataFrame(
        [
            {"dataset": "digits", "model": m, "layer": "gp", "depth": 0, "n_test": N_TEST,
             "linear_probe_correct": k, "linear_probe_accuracy": k / N_TEST, "inter_to_intra_ratio": 1.0 + i}
            for i, (m, k) in enumerate(cells.items())
        ],
        schema_overrides={"n_test": pl.Int64, "linear_probe_correct": pl.Int64},
    )  # fmt: skip
    comparisons = pl.DataFrame(
        [
            {"dataset": "digits", "kind": "pair", "model_a": "base", "layer_a": "gp", "model_b": m,
             "layer_b": "gp", "classifier": "linear_probe", "n": N_TEST, "accuracy_a": 400 / N_TEST,
             "accuracy_b": 430 / N_TEST,
             "a_only": 5, "b_only": 35, "p_value": p, "p_adjusted": p, "correction": "none",
             "ratio_change": 1.0 + i, "ratio_change_ci_low": 0.5, "ratio_change_ci_high": 1.5 + i}
            for i, (m, p) in enumerate(zip(runs, p_values, strict=True))
        ]
    )  # fmt: skip
    cka = pl.DataFrame(
        [
            {"dataset": "digits", "model_a": "base", "layer_a": "gp", "model_b": m, "layer_b": "gp", "cka": v}
            for m, v in zip(runs, (0.61, 0.64, 0.58), strict=False)
        ]
    )  # fmt: skip
    return config, summary, comparisons, {"digits": cka}


def test_a_pair_with_a_seeded_model_states_a_change_only_where_every_run_finds_it():
    config, summary, comparisons, cka = _seeded_pair([1e-6, 1e-5, 0.3])
    found = front_page.findings(summary, config, cka, comparisons=comparisons)["datasets"]["digits"]
    (pair,) = found["pairs"]  # one pair of models, not one per run
    assert (pair["reference"], pair["other"]) == ("base", "tuned") and len(pair["runs"]) == 3
    (text,) = front_page.pair_sentences(pair)
    assert text.startswith("At gp, base → tuned (3 runs): the linear probe did not change detectably"), text
    assert "(2 of 3 runs found a change)" in text and "5 vs 35 (p = 0.30)" in text
    assert "the inter/intra ratio changed in every run" in text and "CKA between the two 0.580–0.640" in text
    config, summary, comparisons, cka = _seeded_pair([1e-6, 1e-5, 1e-4])
    found = front_page.findings(summary, config, cka, comparisons=comparisons)
    (pair,) = front_page.finding_sentences(found)["digits"]["pairs"]
    assert pair["title"] == "base → tuned" and "the linear probe changed in every run" in pair["sentences"][0]
    assert [c["layer"] for c in pair["layers"]] == [f"gp (tuned-seed{i})" for i in range(3)]  # the table
    page = front_page.render_front_page(config, found, {})
    assert "seed0 at" not in page and "What changed: base → tuned" in page
    assert "A model trained once per seed (train.seeds) is one model" in page


def test_a_seeded_model_with_a_run_at_chance_is_said_so_first_and_gets_no_layer_conclusions():
    runs = {
        "cnn-seed0": {"pool1": 380, "relu5": 430},
        "cnn-seed1": {"pool1": 390, "relu5": 425},
        "cnn-seed2": {"pool1": 385, "relu5": 440},
    }
    config, summary, comparisons = _seeded(
        runs, {m: [("relu5", "pool1", 50, 2, 1e-9)] for m in runs}, other=True
    )
    training = {"cnn-seed1": {"test_accuracy": 0.1, "test_loss": 2.303}}
    found = front_page.findings(summary, config, comparisons=comparisons, training=training)
    first = front_page.finding_sentences(found)["digits"]["models"][0]
    assert first.startswith("cnn (trained 3 times, train.seeds: cnn-seed0, cnn-seed1, cnn-seed2): its run ")
    assert "cnn-seed1 did not learn" in first and first.endswith("No layer conclusions are drawn for cnn.")
    assert "best at" not in first


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(380, 445), min_size=3, max_size=3), min_size=3, max_size=3))
def test_a_seeded_model_names_a_single_best_only_where_every_run_and_the_spread_agree(counts):
    layers = ["pool1", "pool2", "relu5"]
    runs = {f"cnn-seed{i}": dict(zip(layers, row, strict=True)) for i, row in enumerate(counts)}
    tests = {}
    for m, by_layer in runs.items():
        top = max(layers, key=lambda la: (by_layer[la], -layers.index(la)))
        tests[m] = [  # a gap of more than 15 images is "separated" in this hand-made run
            (top, la, 20, 2, 1e-4) if by_layer[top] - by_layer[la] > 15 else (top, la, 3, 3, 1.0)
            for la in layers
            if la != top
        ]
    config, summary, comparisons = _seeded(runs, tests)
    (entry,) = front_page.findings(summary, config, comparisons=comparisons)["datasets"]["digits"][
        "per_model"
    ]
    (text,) = front_page.finding_sentences({"datasets": {"digits": {**_empty(), "per_model": [entry]}}})[
        "digits"
    ]["models"]
    top = entry["probe"]["top"]
    for c in entry["probe"]["lower"]:
        assert c["range"][1] < top[0]["range"][0]  # the spread separates it
        assert len(c["tests"]) == 3 and all(t["differ"] for t in c["tests"])  # and every run's test
    if len(top) == 1:
        best = top[0]["layer"]
        assert all(by_layer[best] == max(by_layer.values()) for by_layer in runs.values())
        assert f"best at {best} in every run" in text
    else:
        assert "no single best layer" in text and "best at" not in text


def _empty() -> dict:
    return {"chance_accuracy": 0.1, "best": None, "models": 1, "pairs": []}


def test_a_seeded_model_whose_runs_disagree_reads_as_one_model_in_the_overall_best():
    runs = {
        "cnn-seed0": {"pool1": 440, "relu5": 400},
        "cnn-seed1": {"pool1": 400, "relu5": 441},  # this run's top (relu5) is the overall top cell
        "cnn-seed2": {"pool1": 440, "relu5": 400},
    }
    tests = {m: [(max(r, key=r.get), min(r, key=r.get), 42, 2, 1e-9)] for m, r in runs.items()}
    config, summary, comparisons = _seeded(runs, tests, other=True)
    comparisons = comparisons.with_columns(  # the other runs' tops are separated from the top run's
        pl.when(pl.col("model_b").str.starts_with("cnn-")).then(pl.lit(1e-3)).otherwise("p_adjusted")
        .alias("p_adjusted")
    )  # fmt: skip
    summary = summary.with_columns(  # base's b4 below every run of cnn
        pl.when(pl.col("model") == "base").then(pl.lit(0.8)).otherwise("linear_probe_accuracy")
        .alias("linear_probe_accuracy")
    )  # fmt: skip
    best = front_page.finding_sentences(front_page.findings(summary, config, comparisons=comparisons))
    best = best["digits"]["best"]
    assert best.startswith("Best overall on digits: cnn at relu5 (mean "), best
    assert "cnn at pool1 (mean " in best and "-seed" not in best  # cnn's runs do not separate its layers
    assert "Lower: base at b4" in best and "Lower: cnn" not in best
