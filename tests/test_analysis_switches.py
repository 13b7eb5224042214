"""Each analysis of the suite can be switched off in the config; the DAG then has none of its jobs."""

from __future__ import annotations

import yaml

from tests.conftest import TINY_CONFIG
from tests.snakemake_runs import SUITE_OFF, job_counts, snakemake

SUITE = {
    "layer_probes",
    "cluster_quality",
    "linear_adam",
    "embed_features_thumbnails",
    "pixel_baselines",
    "cka",
    "summarize_layers",
    "plot_metrics_vs_depth",
    "comparisons",
}


def _jobs(tmp_path, analyses: dict) -> dict[str, int]:
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["analyses"].update(analyses)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return job_counts(snakemake(tmp_path, "--dry-run", "--cores", "1", "--configfile", str(path)).stdout)


def test_everything_off_leaves_no_suite_job(tmp_path):
    off = {"variance": False, **SUITE_OFF}
    jobs = _jobs(tmp_path, off)
    assert not SUITE & jobs.keys()
    assert jobs["embed_features"] > 0


def test_neural_collapse_alone_still_fits_the_linear_probe(tmp_path):
    only = {
        "probes": {"enabled": False},
        "linear_adam": {"enabled": False},
        "cluster_quality": False,
        "cka": False,
        "pixel_baselines": False,
        "thumbnails": {"enabled": False},
    }
    jobs = _jobs(tmp_path, only)
    n_layers = sum(len(m["layers"]) for m in yaml.safe_load(TINY_CONFIG.read_text())["models"].values())
    assert jobs["layer_probes"] == n_layers  # the probe job computes neural collapse too (issue 22)
    assert SUITE & jobs.keys() == {
        "layer_probes",
        "summarize_layers",
        "plot_metrics_vs_depth",
    }
