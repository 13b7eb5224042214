"""Running Snakemake from tests, and what a finished run must contain."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from layeratlas.config import validate_config
from tests.conftest import ROOT

SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "LAYERATLAS_OFFLINE": "1"}  # never touch the network, whatever the machine has
    result = subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), *args],
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
        )
    return result


# The analysis suite switched off (variance and embeddings are left to each test): merge into `analyses`.
SUITE_OFF = {
    "probes": {"enabled": False},
    "linear_adam": {"enabled": False},
    "cluster_quality": False,
    "neural_collapse": False,
    "cka": False,
    "pixel_baselines": False,
    "thumbnails": {"enabled": False},
    "inspection": {"enabled": False},
}


def job_counts(dry_run_output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count}."""
    table = dry_run_output.split("Job stats:")[1].split("\n\n")[0]
    rows = [line.split() for line in table.strip().splitlines()[2:]]
    return {row[0]: int(row[1]) for row in rows if len(row) == 2 and row[1].isdigit()}


def job_blocks(dry_run_output: str) -> list[tuple[str, str]]:
    """The planned jobs of a dry run as (rule, its printed block: input, output, log, ...)."""
    blocks = re.split(r"^(?:local)?rule (\w+):$", dry_run_output, flags=re.M)
    return list(zip(blocks[1::2], [b.split("\n\n")[0] for b in blocks[2::2]], strict=True))


def expected_outputs(config: dict) -> list[str]:
    """Every output a finished run of ``config`` must hold, following its analysis switches."""
    config = validate_config(config)
    analyses = config["analyses"]
    paths = []
    for model, spec in config["models"].items():
        paths += [f"models/{model}/extractor.{ext}" for ext in ("onnx", "torchscript.pt", "json")]
        if spec.get("train"):
            paths += [f"models/{model}/checkpoint.pt", f"results/training/{model}/history.png"]
        for dataset in config["datasets"]:
            paths += [f"results/features/{dataset}/{model}/{layer}.npy" for layer in spec["layers"]]
            for layer in spec["layers"]:
                base = f"results/analysis/{dataset}/{model}/{layer}"
                for embedding in analyses["embeddings"]:
                    paths += [f"{base}/embedding_{embedding}.parquet", f"{base}/embedding_{embedding}.png"]
                for table in ("intra_class_variance", "inter_class_variance"):
                    paths += [f"{base}/{table}.parquet", f"{base}/{table}.tsv"]
                paths += [f"{base}/class_variance_heatmap.png", f"{base}/intra_class_variance.png"]
                switches = {
                    "probes": analyses["probes"]["enabled"],
                    "cluster_quality": analyses["cluster_quality"],
                    "neural_collapse": analyses["neural_collapse"],
                    "linear_adam": analyses["linear_adam"]["enabled"],
                }
                for name in [name for name, on in switches.items() if on]:
                    paths += [f"{base}/{name}.{ext}" for ext in ("parquet", "tsv", "json")]
                paths += [f"{base}/confusion.png"] if switches["probes"] else []
                paths += [f"{base}/linear_adam.png"] if switches["linear_adam"] else []
                if analyses["thumbnails"]["enabled"]:
                    paths += [f"{base}/thumbnails_{e}.png" for e in analyses["thumbnails"]["embeddings"]]
                if analyses["inspection"]["enabled"]:  # + one activations/sample<id>.png per image
                    inspected = f"results/inspection/{dataset}/{model}/{layer}"
                    paths += [f"{inspected}/top_patches.{ext}" for ext in ("png", "parquet", "tsv")]
            if analyses["inspection"]["enabled"]:
                dead = f"results/inspection/{dataset}/{model}/dead_units"
                paths += [f"{dead}.{ext}" for ext in ("png", "parquet", "tsv")]
        if analyses["inspection"]["enabled"]:  # + filters/<convolution>.png
            paths += [f"results/inspection/{model}/layers.{ext}" for ext in ("parquet", "tsv")]
    for dataset in config["datasets"]:
        if analyses["cka"]:
            paths += [f"results/analysis/{dataset}/cka.{ext}" for ext in ("parquet", "tsv", "png")]
            paths += [f"results/analysis/{dataset}/{model}/cka.png" for model in config["models"]]
        if analyses["pixel_baselines"]:
            pixels = f"results/analysis/{dataset}/pixels"
            paths += [f"{pixels}/nearest_class_mean.tsv", f"{pixels}/class_means.png"]
    paths += [f"results/summary/layers.{ext}" for ext in ("parquet", "csv", "tsv")]
    return paths + [f"results/summary/metrics_vs_depth_{model}.png" for model in config["models"]]
