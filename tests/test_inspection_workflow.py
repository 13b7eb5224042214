"""analyses.inspection in the tiny run: the figures are there, one per configured image, and the numbers
come from the same weights and layer names as the stored features."""

from __future__ import annotations

import numpy as np
import polars as pl
import yaml

from layeratlas.config import validate_config
from tests.conftest import TINY_CONFIG
from tests.snakemake_runs import job_counts, snakemake


def _config() -> dict:
    return validate_config(yaml.safe_load(TINY_CONFIG.read_text()))


def test_tiny_run_has_filters_and_a_layer_table_per_model(tiny_run):
    config = _config()
    assert config["analyses"]["inspection"]["enabled"]
    for model in config["models"]:
        figures = sorted(p.name for p in (tiny_run / f"results/inspection/{model}/filters").glob("*.png"))
        table = pl.read_parquet(tiny_run / f"results/inspection/{model}/layers.parquet")
        assert figures, model
        assert {f.removesuffix(".png") for f in figures} <= set(table["layer"]), model
    assert sorted(p.name for p in (tiny_run / "results/inspection/small_cnn/filters").glob("*.png")) == [
        "conv1.png",
        "conv2.png",
        "conv3.png",
    ]
    table = pl.read_parquet(tiny_run / "results/inspection/small_cnn/layers.parquet")
    assert table.filter(pl.col("layer") == "relu5")["output_shape"].item() == "100"


def test_tiny_run_draws_one_activation_figure_per_class(tiny_run):
    config = _config()
    index = pl.read_parquet(tiny_run / "results/datasets/digits/index.parquet")  # split "all"
    first = index.group_by("label").agg(pl.col("sample_id").min())["sample_id"].to_list()
    for model, spec in config["models"].items():
        for layer in spec["layers"]:
            folder = tiny_run / f"results/inspection/digits/{model}/{layer}/activations"
            assert sorted(p.name for p in folder.glob("*.png")) == sorted(f"sample{i}.png" for i in first)


def test_tiny_run_top_patches_and_dead_units_match_the_stored_features(tiny_run):
    """small_cnn's relu5 is stored whole (reduction none): each top patch's response is the stored
    feature of that image and channel, and a dead relu5 channel is 0 for every stored image."""
    features = np.load(tiny_run / "results/features/digits/small_cnn/relu5.npy")
    ids = pl.read_parquet(tiny_run / "results/features/digits/small_cnn/index.parquet")["sample_id"].to_list()
    row_of = {sid: i for i, sid in enumerate(ids)}
    top = pl.read_parquet(tiny_run / "results/inspection/digits/small_cnn/relu5/top_patches.parquet")
    options = _config()["analyses"]["inspection"]
    assert top.height == options["patch_channels"] * options["top_k"]
    for row in top.iter_rows(named=True):
        stored = features[row_of[row["sample_id"]], row["channel"]]
        assert np.isclose(row["activation"], stored, rtol=1e-4, atol=1e-5), row
    for _, group in top.group_by("channel"):
        assert (np.diff(group.sort("rank")["activation"].to_numpy()) <= 0).all()
    dead = pl.read_parquet(tiny_run / "results/inspection/digits/small_cnn/dead_units.parquet")
    assert dead["layer"].to_list() == ["relu1", "relu2", "relu3", "relu4", "relu5"]
    relu5 = dead.filter(pl.col("layer") == "relu5").row(0, named=True)
    assert relu5["channels"] == features.shape[1]
    # dead over a sample of images => at least as many as dead over all stored images
    assert relu5["dead"] >= int((features.max(axis=0) <= 0).sum())


def _outputs(dry_run: str) -> dict[str, list[set[str]]]:
    """Each planned job's outputs, by rule, from a dry run's printout."""
    jobs: dict[str, list[set[str]]] = {}
    for block in dry_run.split("\nrule ")[1:]:
        rule = block.split(":", 1)[0].strip()
        lines = [line.strip() for line in block.splitlines() if line.strip().startswith("output:")]
        jobs.setdefault(rule, []).append(
            set(lines[0].removeprefix("output:").strip().split(", ")) if lines else set()
        )
    return jobs


def test_a_models_filters_and_layer_table_come_with_its_first_datasets_job(tmp_path):
    """No inspect_network job (issue 22: it paid torch's import and the network's load again): the first
    dataset's inspection job of each model writes the model's filter grids and layer table, the other
    datasets' jobs (a second rule) do not, and analyses.inspection.enabled=false leaves no inspection job."""
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["datasets"]["digits2"] = config["datasets"]["digits"]  # datasets in config order: digits first
    path = tmp_path / "two_datasets.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    out = snakemake(tmp_path, "--dry-run", "--cores", "2", "--configfile", str(path)).stdout
    counts, jobs = job_counts(out), _outputs(out)
    assert not any(rule.startswith("inspect_network") for rule in counts)
    assert sorted(r for r in counts if r.startswith("inspect")) == sorted(
        f"inspect_layers_{m}{suffix}" for m in config["models"] for suffix in ("", "_other_datasets")
    )
    for model in config["models"]:
        network = {f"results/inspection/{model}/filters", f"results/inspection/{model}/layers.parquet",
                   f"results/inspection/{model}/layers.tsv"}  # fmt: skip
        [first] = jobs[f"inspect_layers_{model}"]
        [other] = jobs[f"inspect_layers_{model}_other_datasets"]
        assert network <= first and not network & other
        assert f"results/inspection/digits/{model}/dead_units.png" in first
        assert f"results/inspection/digits2/{model}/dead_units.png" in other
        assert not any("/digits2/" in p for p in first) and not any("/digits/" in p for p in other)

    config["analyses"]["inspection"]["enabled"] = False
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    out = snakemake(tmp_path, "--dry-run", "--cores", "2", "--configfile", str(path)).stdout
    assert not any(rule.startswith("inspect") for rule in job_counts(out))
