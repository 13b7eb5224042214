"""The per-layer analysis jobs pay only for the imports their work uses (issue 22): each test runs a
rule's step in a fresh interpreter and lists which heavy modules it loaded. Their intervals are
scipy.stats' (bootstrap); scikit-learn, torch and, where nothing is drawn, matplotlib stay out."""

from __future__ import annotations

import json

import numpy as np
import polars as pl

from tests.test_imports import _layer, loaded_after

WATCHED = ("sklearn", "torch", "matplotlib")


def test_neural_collapse_loads_no_sklearn_or_figures(tmp_path):
    features, _ = _layer(tmp_path)
    probe = tmp_path / "linear_probe.npz"
    rng = np.random.default_rng(0)
    np.savez(
        probe, classes=np.arange(4), weights=rng.normal(size=(4, 80)), bias=np.zeros(4), scale=np.ones(80)
    )
    table, summary = tmp_path / "nc.parquet", tmp_path / "nc.json"
    loaded = loaded_after(
        f"""
        from layeratlas.stages import analysis
        analysis.layer_neural_collapse(
            "d", "m", "fc", {str(features)!r}, {str(probe)!r}, {str(table)!r}, {str(summary)!r},
            resamples=200, seed=0,
        )
        """,
        WATCHED,
    )
    assert not loaded & set(WATCHED), sorted(loaded)
    row = json.loads(summary.read_text())
    assert row["nc1_ci_low"] <= row["nc1"] <= row["nc1_ci_high"]  # the interval was drawn


def test_class_variance_loads_no_sklearn_or_torch(tmp_path):
    features, dataset = _layer(tmp_path)
    out = {
        n: tmp_path / f"{n}.{s}"
        for n, s in [
            ("intra", "parquet"),
            ("inter", "parquet"),
            ("summary", "json"),
            ("heatmap", "png"),
            ("intra_bar", "png"),
        ]
    }
    loaded = loaded_after(
        f"""
        from layeratlas.stages import analysis
        analysis.class_variance(
            "d", "m", "fc", {str(features)!r}, {str(dataset)!r}, "all",
            **{ {k: str(v) for k, v in out.items()}!r}, resamples=200, seed=0,
        )
        """,
        WATCHED,
    )
    assert "matplotlib" in loaded  # the probe sees the step's imports: it draws two figures
    assert not loaded & {"sklearn", "torch"}, sorted(loaded)
    row = json.loads(out["summary"].read_text())
    assert np.isfinite(row["inter_to_intra_ratio_ci_low"])
    assert pl.read_parquet(out["intra"]).height == 4


def test_cka_job_draws_each_models_block_as_cka_model_did(tmp_path):
    """Rule cka draws each model's layer x layer block (rule cka_model's job before, issue 22): the
    same figure as plot_model_cka drawn on its own from the table."""
    from PIL import Image

    from layeratlas.stages import analysis

    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 5)).astype(np.float32)
    for model in ("m1", "m2"):
        folder = tmp_path / "features" / model
        folder.mkdir(parents=True)
        pl.DataFrame(
            {"sample_id": np.arange(12), "split": ["test"] * 12, "label": np.arange(12) % 3}
        ).write_parquet(folder / "index.parquet")
        np.save(folder / "a.npy", x)
        np.save(folder / "b.npy", np.tanh(x @ rng.normal(size=(5, 3))).astype(np.float32))
    layers = {"m1": ["a", "b"], "m2": ["a", "b"]}
    figures = {m: tmp_path / f"{m}_block.png" for m in layers}
    table = tmp_path / "cka.parquet"
    analysis.dataset_cka(
        "d", tmp_path / "features", layers, "all", table, tmp_path / "cka.png", model_figures=figures
    )
    for model in layers:
        alone = tmp_path / f"{model}_alone.png"
        analysis.plot_model_cka("d", model, layers[model], table, alone)
        assert np.array_equal(np.asarray(Image.open(figures[model])), np.asarray(Image.open(alone)))
