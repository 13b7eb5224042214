"""Each analysis of the suite can be switched off in the config; the DAG then has none of its jobs."""

from __future__ import annotations

import yaml

from tests.conftest import TINY_CONFIG
from tests.snakemake_runs import SUITE_OFF, job_counts, snakemake

SUITE = {
    "layer_probes",
    "class_separation",
    "embed_features_thumbnails",
    "pixel_baselines",
    "cka",
    "summarize_layers",
    "plot_metrics_vs_depth",
    "comparisons",
}


N_LAYERS = sum(len(m["layers"]) for m in yaml.safe_load(TINY_CONFIG.read_text())["models"].values())


def _dry_run(tmp_path, analyses: dict, *targets: str) -> str:
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["analyses"].update(analyses)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return snakemake(tmp_path, *targets, "--dry-run", "--cores", "1", "--configfile", str(path)).stdout


def _jobs(tmp_path, analyses: dict, *targets: str) -> dict[str, int]:
    return job_counts(_dry_run(tmp_path, analyses, *targets))


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
    jobs = _jobs(tmp_path, {**only, "variance": False})
    assert jobs["layer_probes"] == N_LAYERS  # the probe job computes neural collapse too (issue 22)
    assert SUITE & jobs.keys() == {
        "layer_probes",
        "summarize_layers",
        "plot_metrics_vs_depth",
    }


LAYER = "results/analysis/digits/small_cnn/relu5"


def test_linear_adam_alone_runs_in_the_probe_job_without_probes(tmp_path):
    """The Adam linear layer is fitted by the layer_probes job (issue 22); with the probes and neural
    collapse off that job writes its outputs only, and no probe table."""
    only = {**SUITE_OFF, "linear_adam": {"enabled": True}, "variance": False}
    out = _dry_run(tmp_path, only)
    # the paired tests then compare the Adam layer's predictions (rule comparisons)
    suite = {"layer_probes", "summarize_layers", "plot_metrics_vs_depth", "comparisons"}
    assert SUITE & job_counts(out).keys() == suite
    assert job_counts(out)["layer_probes"] == N_LAYERS
    assert f"{LAYER}/linear_adam.json" in out and f"{LAYER}/linear_adam_predictions.parquet" in out
    assert "probes.json" not in out and "linear_probe.npz" not in out and "neural_collapse" not in out
    with_probes = _dry_run(tmp_path, {**only, "probes": {"enabled": True}})
    assert job_counts(with_probes)["layer_probes"] == N_LAYERS  # one job a layer for both
    assert f"{LAYER}/probes.json" in with_probes and f"{LAYER}/linear_adam.json" in with_probes


def test_class_variance_and_cluster_quality_each_run_without_the_other(tmp_path):
    """Class variance and cluster quality share a job (class_separation, issue 22); each still runs with
    the other off, and class variance alone reads no embedding (a new perplexity does not rerun it)."""
    variance = _dry_run(tmp_path, {**SUITE_OFF, "variance": True}, f"{LAYER}/class_variance_summary.json")
    assert job_counts(variance)["class_separation"] == 1
    assert not {"embed_features", "embed_pca_umap"} & job_counts(variance).keys()
    assert "cluster_quality.json" not in variance
    assert f"{LAYER}/class_variance_heatmap.png" in variance

    cluster = {**SUITE_OFF, "variance": False, "cluster_quality": True}
    jobs = _jobs(tmp_path, cluster)
    assert jobs["class_separation"] == N_LAYERS and jobs["embed_features"] > 0
    out = _dry_run(tmp_path, cluster, f"{LAYER}/cluster_quality.json")
    # its three maps: t-SNE's job (thumbnails off), and PCA with UMAP in one (rule embed_pca_umap)
    assert job_counts(out)["class_separation"] == 1 and job_counts(out)["embed_features"] == 1
    assert job_counts(out)["embed_pca_umap"] == 1
    assert "class_variance_summary.json" not in out and "intra_class_variance.png" not in out

    both = _dry_run(tmp_path, {**SUITE_OFF, "variance": True, "cluster_quality": True})
    assert job_counts(both)["class_separation"] == N_LAYERS  # one job a layer for both
