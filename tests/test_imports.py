"""A rule's job pays only for the imports it uses (issue 22): each test imports a rule's entry point, or
runs its step, in a fresh interpreter and lists which heavy modules it loaded. A job's start-up (the
interpreter, Snakemake's script preamble, the imports) was most of the seconds of the small jobs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import polars as pl
import pytest

from tests.conftest import ROOT

HEAVY = ("matplotlib", "torch", "sklearn", "umap", "numba", "openTSNE", "great_tables", "onnxruntime")


def loaded_after(code: str, names: tuple[str, ...] = HEAVY) -> set[str]:
    """The modules of ``names`` (HEAVY: top-level packages) in sys.modules after running ``code`` in a
    fresh interpreter."""
    probe = textwrap.dedent(code) + textwrap.dedent(
        f"""
        import json, sys
        print(json.dumps(sorted(name for name in {list(names)!r} if sys.modules.get(name) is not None)))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        # every analysis rule's script imports this; the figures and the analyses load in the step
        ("layeratlas.stages.analysis", HEAVY),
        # the report rules: the table pages and the front page draw nothing
        ("layeratlas.stages.report", HEAVY),
        ("layeratlas.logs", HEAVY),
    ],
)
def test_entry_point_imports_no_heavy_module(module, absent):
    loaded = loaded_after(f"import {module}")
    assert not loaded & set(absent), f"{module} loads {sorted(loaded & set(absent))} at import"


def test_table_pages_load_no_figures_or_models(tmp_path):
    """Rule study_tables (every table page): great_tables and polars, not matplotlib or torch."""
    source = tmp_path / "probes.tsv"
    pl.DataFrame({"classifier": ["knn", "linear_probe"], "test_accuracy": [0.9, 0.95]}).write_csv(
        source, separator="\t"
    )
    pages = [tmp_path / "a.html", tmp_path / "b.html"]
    loaded = loaded_after(
        f"""
        from layeratlas.stages import report
        report.html_tables([{str(source)!r}] * 2, {[str(p) for p in pages]!r}, ["one", "two"])
        """
    )
    assert "great_tables" in loaded  # the probe sees what the step really imported
    assert not loaded & {"matplotlib", "torch", "sklearn", "umap", "numba"}
    assert all("95" in p.read_text() for p in pages)


def test_summary_of_layers_draws_nothing(tmp_path):
    """Rule summarize_layers merges JSON rows: no matplotlib."""
    rows = []
    for layer in ("a", "b"):
        path = tmp_path / f"{layer}.json"
        path.write_text(json.dumps({"dataset": "d", "model": "m", "layer": layer, "silhouette": 0.5}))
        rows.append(str(path))
    table = tmp_path / "layers.parquet"
    loaded = loaded_after(
        f"""
        from layeratlas.stages import analysis
        analysis.summarize_layers({rows!r}, {{"m": ["a", "b"]}}, {str(table)!r})
        """
    )
    assert not loaded & {"matplotlib", "torch", "umap", "numba"}
    assert pl.read_parquet(table)["layer"].to_list() == ["a", "b"]


def test_pca_map_loads_no_umap_or_tsne(tmp_path):
    """Rule embed_features with pca: scikit-learn and matplotlib, not umap (numba), openTSNE or torch."""
    features, dataset = tmp_path / "features", tmp_path / "dataset"
    features.mkdir()
    dataset.mkdir()
    rng = np.random.default_rng(0)
    np.save(features / "fc.npy", rng.normal(size=(40, 6)).astype(np.float32))
    pl.DataFrame(
        {"sample_id": np.arange(40), "split": ["test"] * 40, "label": np.arange(40) % 4}
    ).write_parquet(features / "index.parquet")
    (dataset / "dataset.json").write_text(json.dumps({"class_names": list("abcd")}))
    table, figure = tmp_path / "embedding_pca.parquet", tmp_path / "embedding_pca.png"
    loaded = loaded_after(
        f"""
        from layeratlas.stages import analysis
        analysis.embed_features(
            "d", "m", "fc", "pca", {str(features)!r}, {str(dataset)!r}, "test", {{}}, 0, 1,
            {str(table)!r}, {str(figure)!r},
        )
        """
    )
    assert "matplotlib" in loaded
    # scikit-learn's PCA import was 1.5 of a PCA job's 3.5 CPU-seconds (issue 22): numpy's SVD does it
    assert not loaded & {"umap", "numba", "openTSNE", "torch", "sklearn"}
    assert pl.read_parquet(table).height == 40 and figure.stat().st_size > 0


def _layer(tmp_path, n: int = 60, d: int = 80):
    """A features folder (layer fc, n test rows of d columns, 4 classes) and a dataset folder."""
    features, dataset = tmp_path / "features", tmp_path / "dataset"
    features.mkdir()
    dataset.mkdir()
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 4
    np.save(features / "fc.npy", (rng.normal(size=(n, d)) + 3 * labels[:, None]).astype(np.float32))
    split = np.array(["train", "val", "test"])[np.arange(n) % 3]
    pl.DataFrame({"sample_id": np.arange(n), "split": split, "label": labels}).write_parquet(
        features / "index.parquet"
    )
    (dataset / "dataset.json").write_text(json.dumps({"class_names": list("abcd")}))
    return features, dataset


def test_tsne_map_loads_no_pynndescent(tmp_path):
    """Rule embed_features with tsne: openTSNE imported pynndescent and numba only to ask whether it is
    installed (2.8 of the job's 6.9 CPU-seconds); for dense Euclidean features it never uses it."""
    features, dataset = _layer(tmp_path, n=90)
    table, figure = tmp_path / "embedding_tsne.parquet", tmp_path / "embedding_tsne.png"
    loaded = loaded_after(
        f"""
        from layeratlas.stages import analysis
        analysis.embed_features(
            "d", "m", "fc", "tsne", {str(features)!r}, {str(dataset)!r}, "all", {{"perplexity": 5}}, 0, 1,
            {str(table)!r}, {str(figure)!r},
        )
        """,
        (*HEAVY, "pynndescent"),
    )
    assert "openTSNE" in loaded and "sklearn" in loaded  # the probe sees the step's imports
    assert not loaded & {"pynndescent", "numba", "umap", "torch"}
    assert pl.read_parquet(table).height == 90


def test_linear_adam_loads_no_torch(tmp_path):
    """The Adam linear layer (fitted by the layer_probes job): importing torch (and building a torch.optim
    optimiser, torch._dynamo) cost more than the fit; the step's Adam is numpy (tests/test_probes_adam.py
    holds it to torch's)."""
    features, _ = _layer(tmp_path)
    out = {
        name: tmp_path / f"linear_adam{suffix}"
        for name, suffix in (
            ("table", ".parquet"),
            ("summary", ".json"),
            ("figure", ".png"),
            ("predictions", "_p.parquet"),
        )
    }
    loaded = loaded_after(
        f"""
        from layeratlas.stages import analysis
        analysis.layer_linear_adam(
            "d", "m", "fc", {str(features)!r}, {{"epochs": 3, "lr": 0.01, "batch_size": 8}}, 0,
            **{ {k: str(v) for k, v in out.items()}!r},
        )
        """,
        ("torch", "sklearn", "scipy.stats"),
    )
    # the fit is numpy (torch's import was 1.6 of the job's 4 CPU-seconds); the Wilson interval scipy.stats'
    assert "scipy.stats" in loaded  # the probe sees the step's imports
    assert not loaded & {"torch", "sklearn"}
    assert pl.read_parquet(out["table"])["epoch"].to_list() == [1, 2, 3]


def test_training_figures_load_no_torch():
    """Rule plot_training draws the curves and test predictions from tables: its imports (the steps' own
    included) load no torch (the confusion matrix came from layeratlas.training: ~1.5 CPU-s of torch)."""
    loaded = loaded_after(
        """
        from layeratlas.stages import train
        from layeratlas.analysis.probes import confusion_matrix
        from layeratlas.plots.training import confusion_figure, top_losses_figure
        import inspect
        assert "layeratlas.training" not in inspect.getsource(train.plot_test_predictions)
        """
    )
    assert "matplotlib" in loaded
    assert not loaded & {"torch", "sklearn", "umap"}
