"""The Snakemake workflow itself: the default DAG builds, a bad config is refused before any job, and the
tiny config runs end to end into a temporary directory, producing every expected output."""

from __future__ import annotations

import json
import re

import numpy as np
import onnxruntime as ort
import polars as pl
import torch
import yaml

from layeratlas.export import build_extractor
from layeratlas.models.zoo import load_checkpoint
from tests.conftest import DEFAULT_CONFIG, ROOT, TINY_CONFIG
from tests.snakemake_runs import expected_outputs, job_blocks, job_counts, snakemake

# The rules of workflow/rules/analysis.smk (those defined only while their analyses are on included).
ANALYSIS_RULES = set(re.findall(r"^\s*rule (\w+):", (ROOT / "workflow/rules/analysis.smk").read_text(), re.M))


def test_default_config_dag_builds(tmp_path):
    out = snakemake(tmp_path, "--dry-run", "--cores", "2", "--configfile", str(DEFAULT_CONFIG)).stdout
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    n_models = len(config["models"])
    n_layers = sum(len(m["layers"]) for m in config["models"].values())
    counts = job_counts(out)
    assert counts["export_model"] == n_models and counts["extract_features"] == n_models
    assert counts["train_model"] == sum(1 for m in config["models"].values() if m.get("train"))
    # issue 22: a thumbnail map is drawn by its embedding's job (t-SNE's, the schema's default thumbnails:
    # rule embed_features_thumbnails), and a layer's PCA and UMAP maps share a job (rule embed_pca_umap)
    assert config["analyses"]["embeddings"] == ["pca", "tsne", "umap"]
    assert counts["embed_features_thumbnails"] == n_layers and counts["embed_pca_umap"] == n_layers
    assert "embed_features" not in counts and "thumbnail_map" not in counts
    shared = [_field(block, "output") for rule, block in job_blocks(out) if rule == "embed_pca_umap"]
    for model, spec in config["models"].items():
        for layer in spec["layers"]:
            base = f"results/analysis/digits/{model}/{layer}/embedding_"
            (outputs,) = [o for o in shared if f"{base}pca.parquet" in o]  # one job, with UMAP's map too
            assert outputs == [f"{base}{e}.{x}" for e in ("pca", "umap") for x in ("parquet", "png")]
    embedding_rules = {"embed_pca_umap", "embed_features_thumbnails"}
    logs = [_field(block, "log") for rule, block in job_blocks(out) if rule in embedding_rules]
    assert len(logs) == 2 * n_layers and all(len(log) == 1 for log in logs)  # one log a job
    assert len({log[0] for log in logs}) == len(logs)
    # issue 22: a layer's analysis.smk jobs are its two embedding jobs, one probe job (probes, neural
    # collapse, the Adam linear layer) and one class-separation job (class variance, cluster quality): was 7
    per_layer = {rule: n for rule, n in counts.items() if rule in ANALYSIS_RULES and n >= n_layers}
    assert per_layer == {
        "embed_pca_umap": n_layers,
        "embed_features_thumbnails": n_layers,
        "layer_probes": n_layers,
        "class_separation": n_layers,
    }
    # issue 22: every table page in one job (was a job per page, then one per layer), the comparisons' page
    # by the job that makes its table; a trained model's figures in one job
    assert not counts.keys() & {"html_table", "layer_tables", "comparisons_table", "plot_test_predictions"}
    assert counts["study_tables"] == 1 and counts["comparisons"] == 1
    assert counts["plot_training"] == counts["train_model"]
    # issue 22: one inspection job per (dataset, model), loading the network once for all its layers
    assert "inspect_layer" not in counts and "dead_units" not in counts
    assert all(counts[f"inspect_layers_{m}"] == len(config["datasets"]) for m in config["models"])
    # ... which, for the first dataset, also draws the model's filters and layer table (was inspect_network)
    assert len(config["datasets"]) == 1 and not any(r.startswith("inspect_network") for r in counts)


def _field(block: str, name: str) -> list[str]:
    """A field of a dry run's job block (output, log, ...) as its list of paths."""
    line = next(line for line in block.splitlines() if line.strip().startswith(f"{name}:"))
    return line.split(":", 1)[1].strip().split(", ")


def test_the_longest_chain_goes_first(tmp_path):
    """train > export > extract > every other rule (issue 22: analyses of the pretrained models ran
    while training, the longest chain, waited)."""
    out = snakemake(tmp_path, "--dry-run", "--cores", "2", "--configfile", str(DEFAULT_CONFIG)).stdout
    priorities: dict[str, set[int]] = {}
    for block in out.split("\nrule ")[1:] + out.split("\nlocalrule ")[1:]:
        rule = block.split(":", 1)[0].strip()
        found = [
            int(line.split(":")[1]) for line in block.splitlines() if line.strip().startswith("priority:")
        ]
        priorities.setdefault(rule, set()).update(found or [0])
    assert priorities["train_model"] == {30} and priorities["export_model"] == {20}
    assert priorities["extract_features"] == {10}
    assert (
        max(
            max(p)
            for r, p in priorities.items()
            if r not in {"train_model", "export_model", "extract_features"}
        )
        == 0
    )
    # ... and on 2 cores no job asks for both: a 2-thread training, extraction or inspection waited for every
    # 1-thread job to end
    threads = {
        block.split(":", 1)[0].strip()
        for block in out.split("\nrule ")[1:]
        if any(line.strip() == "threads: 2" for line in block.splitlines())
    }
    assert threads == set()


def test_torch_jobs_use_two_threads_above_two_cores(tmp_path):
    """On more than 2 cores training, extraction and the layer inspections ask for 2 threads again."""
    targets = ["results/features/digits/small_cnn", "results/inspection/digits/small_cnn/dead_units.png"]
    out = snakemake(tmp_path, *targets, "--dry-run", "--cores", "4", "--configfile", str(TINY_CONFIG)).stdout
    threads = {
        block.split(":", 1)[0].strip(): [
            int(line.split(":")[1]) for line in block.splitlines() if line.strip().startswith("threads:")
        ]
        for block in out.split("\nrule ")[1:]
    }
    assert threads["extract_features"] == [2] and threads["inspect_layers_small_cnn"] == [2]
    assert threads["train_model"] == [2]
    assert threads["prepare_dataset"] == []  # 1 thread is not printed


def test_bad_config_is_refused_before_any_job(tmp_path):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["models"]["small_cnn"]["layers"]["relu5"] = "median"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "--cores", "1", "--configfile", str(bad), check=False)
    assert result.returncode != 0
    assert "models.small_cnn.layers.relu5: 'median' is not allowed" in result.stderr + result.stdout
    assert not (tmp_path / "results").exists()


def test_tiny_run_writes_every_expected_output(tiny_run):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    missing = [p for p in expected_outputs(config) if not (tiny_run / p).is_file()]
    assert not missing
    leftovers = [p for p in tiny_run.rglob(".*.tmp*")]
    assert not leftovers  # no half-written temporary files
    summary = pl.read_parquet(tiny_run / "results/summary/layers.parquet")
    assert summary.height == sum(len(m["layers"]) for m in config["models"].values())
    assert (summary["n_samples"] == 300).all()  # 30 per class x 10 classes, split "all"
    assert (summary["n_train"] + summary["n_val"] + summary["n_test"] == 300).all()  # probes use every split
    for column in ("linear_probe_accuracy", "knn_accuracy", "silhouette", "nc1", "trustworthiness_umap"):
        assert summary[column].is_not_null().all(), column
    history = pl.read_parquet(tiny_run / "results/training/small_cnn/history.parquet")
    assert history["epoch"].to_list() == [1]


def test_tiny_run_features_match_exported_and_trained_models(tiny_run):
    """Features on disk = onnxruntime on the exported graph = eager PyTorch on the trained checkpoint."""
    images = np.load(tiny_run / "results/datasets/digits/images.npy")[:16]
    for model in ("small_cnn", "efficientnet_lite0_finetuned"):
        meta = json.loads((tiny_run / f"models/{model}/extractor.json").read_text())
        spec = yaml.safe_load(TINY_CONFIG.read_text())["models"][model]
        eager = build_extractor(load_checkpoint(tiny_run / f"models/{model}/checkpoint.pt"), spec)
        session = ort.InferenceSession(
            str(tiny_run / f"models/{model}/extractor.onnx"), providers=["CPUExecutionProvider"]
        )
        scripted = torch.jit.load(str(tiny_run / f"models/{model}/extractor.torchscript.pt"))
        with torch.no_grad():
            expected = [t.numpy() for t in eager(torch.from_numpy(images))]
            traced = [t.numpy() for t in scripted(torch.from_numpy(images))]
        onnx_out = session.run(None, {"images": images})
        for layer_meta, e, t, o in zip(meta["layers"], expected, traced, onnx_out, strict=True):
            name, how = layer_meta["name"], layer_meta["reduction"]
            scale = float(np.abs(e).max()) or 1.0
            np.testing.assert_allclose(
                t, e, rtol=1e-5, atol=1e-6 * scale, err_msg=f"{model} {name} TorchScript"
            )
            np.testing.assert_allclose(o, e, rtol=1e-3, atol=1e-4 * scale, err_msg=f"{model} {name} ONNX")
            stored = np.load(tiny_run / f"results/features/digits/{model}/{name}.npy")[:16]
            axes = tuple(range(2, e.ndim))
            reduced = {"none": e.reshape(len(e), -1), "avg": e.mean(axis=axes), "max": e.max(axis=axes)}[how]
            np.testing.assert_allclose(
                stored, reduced, rtol=1e-3, atol=1e-4 * scale, err_msg=f"{model} {name} stored"
            )


def test_tiny_run_is_complete_and_reports(tiny_run):
    dry = snakemake(tiny_run, "--dry-run", "--cores", "1", "--configfile", str(TINY_CONFIG)).stdout
    assert "Nothing to be done" in dry
    snakemake(tiny_run, "--configfile", str(TINY_CONFIG), "--report", "report.html")
    html = (tiny_run / "report.html").read_text(errors="replace")
    assert "embedding_tsne.png" in html and "class_variance_heatmap.png" in html and "history.png" in html


# What reads the embedding maps (besides the thumbnail maps drawn in their jobs): cluster quality (and
# class variance, in its job), the explorer, the atlas and comparisons (the t-SNE map in the tiny config,
# and the summary and class variance), and what reads those in turn.
MAP_READERS = {
    "class_separation",
    "embedding_explorer",
    "report_atlas",
    "report_compare",
    "summarize_layers",
    "plot_metrics_vs_depth",
    "comparisons",
    "study_tables",
    "front_page",
    "all",
}


def _changed_run(tiny_run, tmp_path, method: str, key: str, value) -> dict[str, int]:
    """The jobs a dry run of the finished tiny run plans with analyses.<method>.<key> = value."""
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["analyses"][method][key] = value
    path = tmp_path / f"{method}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))  # Snakemake compares params in key order
    counts = job_counts(snakemake(tiny_run, "--dry-run", "--cores", "1", "--configfile", str(path)).stdout)
    return {rule: n for rule, n in counts.items() if rule != "total"}


def test_tiny_run_changed_perplexity_reruns_only_the_tsne_maps(tiny_run, tmp_path):
    """Issue 22: a t-SNE map's job also draws its thumbnail map, and PCA and UMAP share a job; a changed
    perplexity still reruns only the t-SNE maps among the embeddings (and what reads them), never PCA or
    UMAP."""
    config = yaml.safe_load(TINY_CONFIG.read_text())
    n_layers = sum(len(m["layers"]) for m in config["models"].values())
    counts = _changed_run(
        tiny_run, tmp_path, "tsne", "perplexity", config["analyses"]["tsne"]["perplexity"] + 2
    )
    assert counts["embed_features_thumbnails"] == n_layers and counts["class_separation"] == n_layers
    assert counts.keys() - {"embed_features_thumbnails"} <= MAP_READERS  # nor probes, PCA, UMAP, training


def test_tiny_run_changed_umap_options_rerun_the_shared_pca_umap_jobs(tiny_run, tmp_path):
    """Issue 22: UMAP's options are params of the job it shares with PCA (PCA, ~0.1 s, recomputed too:
    everything that reads the PCA map reads the UMAP one); t-SNE's jobs are not rerun."""
    config = yaml.safe_load(TINY_CONFIG.read_text())
    n_layers = sum(len(m["layers"]) for m in config["models"].values())
    counts = _changed_run(
        tiny_run, tmp_path, "umap", "n_neighbors", config["analyses"]["umap"]["n_neighbors"] + 2
    )
    assert counts["embed_pca_umap"] == n_layers and counts["class_separation"] == n_layers
    assert counts.keys() - {"embed_pca_umap"} <= MAP_READERS  # no t-SNE job


def test_tiny_run_jobs_sleep_while_they_wait(tiny_run):
    """Training's OpenMP threads sleep, not spin, while they wait (issue 22: spinning cost 4.6x the CPU
    seconds on a shared machine); the workflow sets it for every job."""
    log = (tiny_run / "logs/train_model/small_cnn.log").read_text()
    assert "OMP_WAIT_POLICY=PASSIVE" in log


def test_unknown_layer_stops_snakemake_before_any_job(tmp_path):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["models"]["small_cnn"]["layers"] = {"relu6": "none"}
    bad = tmp_path / "typo.yaml"
    bad.write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "--cores", "1", "--configfile", str(bad), check=False)
    assert result.returncode != 0
    assert "models.small_cnn.layers: 'relu6' is not a layer of small_cnn (closest: relu5" in result.stderr
    assert not (tmp_path / "results").exists()
