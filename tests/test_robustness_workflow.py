"""One small end-to-end robustness run (tests/configs/robustness.yaml): the report outputs of the
robustness block exist and hold every requested corruption, severity, model, layer and classifier."""

from __future__ import annotations

import polars as pl
import yaml

from layeratlas.config import validate_config
from layeratlas.robustness.config import corrupted_datasets, head_models, robustness_layers
from tests.conftest import ROOT
from tests.snakemake_runs import snakemake

CONFIG = ROOT / "tests" / "configs" / "robustness.yaml"


def test_robustness_run_writes_the_report_outputs(tmp_path):
    config = validate_config(yaml.safe_load(CONFIG.read_text()))
    out = "results/robustness"
    corrupted = corrupted_datasets(config)
    figures = [f"{out}/accuracy_vs_severity_{c}.png" for c in {c.corruption for c in corrupted}]
    figures += [f"{out}/{m}/drift.png" for m in robustness_layers(config)]
    figures += [
        f"{out}/{p['finetuned']}/{p['layer']}/pca_grid_{p['dataset']}.png"
        for p in config["robustness"]["compare"]
    ]
    tables = [f"{out}/accuracy.tsv", f"{out}/corruption_summary.tsv"]
    # Only the robustness targets (and what they need), not the training figures of `rule all`.
    snakemake(
        tmp_path, *figures, *tables, "--cores", "2", "--resources", "gpu=1", "--configfile", str(CONFIG)
    )
    for path in figures + tables:
        assert (tmp_path / path).stat().st_size > 0, path

    accuracy = pl.read_csv(tmp_path / f"{out}/accuracy.tsv", separator="\t")
    expected = {("none", 0)} | {(c.corruption, c.severity) for c in corrupted}
    classifiers = config["robustness"]["classifiers"]
    for model, layers in robustness_layers(config).items():
        for layer in layers:
            for classifier in classifiers:
                rows = accuracy.filter(
                    (pl.col("model") == model)
                    & (pl.col("layer") == layer)
                    & (pl.col("classifier") == classifier)
                )
                assert set(rows.select("corruption", "severity").rows()) == expected, (model, layer)
    heads = accuracy.filter(pl.col("classifier") == "network_head")
    assert sorted(set(heads["model"])) == sorted(head_models(config))
    assert accuracy["accuracy"].is_between(0, 1).all() and (accuracy["n_samples"] > 0).all()
    summary = pl.read_csv(tmp_path / f"{out}/corruption_summary.tsv", separator="\t")
    assert summary.height == accuracy.filter(pl.col("corruption") == "none").height
    drift = pl.read_csv(tmp_path / f"{out}/small_cnn/drift.tsv", separator="\t")
    assert set(drift["layer"]) == set(robustness_layers(config)["small_cnn"])
    assert drift["cka"].is_between(-1, 1.000001).all()
