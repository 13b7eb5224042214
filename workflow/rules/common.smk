# Config validation, wildcard constraints, target lists and input functions. No rule lives here.
import re

from snakemake.exceptions import WorkflowError

from layeratlas.config import ConfigError, validate_config
from layeratlas.models.sweeps import sweep_groups
from layeratlas.models.weights import local_weights_file, weights_file_errors
from layeratlas.robustness.finetune import training_datasets
from layeratlas.data.downloads import DOWNLOADABLE, DatasetFilesError, check_dataset_files

try:
    # In place: rules and scripts (snakemake.config) see the validated config with defaults filled in.
    config.update(validate_config(config))
except ConfigError as error:
    raise WorkflowError(str(error)) from None

if workflow.is_main_process:
    # Before any job (and once, not again in every cluster job): every chosen layer exists, and every
    # module a training recipe freezes, trains or gives a learning rate.
    from layeratlas.checks import config_errors

    if errors := config_errors(config):
        raise WorkflowError("invalid config:\n  " + "\n  ".join(errors))
    # Every analysed layer's features and analyses fit in this machine's RAM (layeratlas.analysis.memory).
    from layeratlas.analysis.memory import config_memory_errors

    if errors := config_memory_errors(config):
        raise WorkflowError("not enough memory:\n  " + "\n  ".join(errors))

# A local weights file (models.<model>.weights: path) must exist: it is an input of the rules that read it.
if errors := weights_file_errors(config["models"]):
    raise WorkflowError("invalid config:\n  " + "\n  ".join(errors))

try:
    # Before any job: every dataset's files are in resources/ (or can be downloaded), image folders exist.
    check_dataset_files(config["datasets"], "resources")
except DatasetFilesError as error:
    raise WorkflowError(str(error)) from None

DATASETS = list(config["datasets"])
MODELS = list(config["models"])
LAYERS = {model: list(spec["layers"]) for model, spec in config["models"].items()}
EMBEDDINGS = config["analyses"]["embeddings"]
SWEEPS = sweep_groups(config["models"])  # sweep name -> its member models (models.<name>.sweep)


def _one_of(names):
    return "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))


wildcard_constraints:
    dataset=_one_of(DATASETS),
    model=_one_of(MODELS),
    layer=_one_of([layer for layers in LAYERS.values() for layer in layers]),
    embedding=_one_of(["pca", "tsne", "umap"]),


def trained(model):
    return bool(config["models"][model].get("train"))


def sweep_metrics(wildcards):
    return [f"results/training/{m}/metrics.json" for m in SWEEPS[wildcards.sweep]]


def dataset_files(dataset):
    return multiext(f"results/datasets/{dataset}/", "images.npy", "index.parquet", "dataset.json")


def dataset_source_files(wildcards):
    """The verified-download manifest of a downloaded source (written by download_dataset)."""
    source = config["datasets"][wildcards.dataset]["source"]
    return {"checksums": f"resources/{source}/checksums.json"} if source in DOWNLOADABLE else {}


def training_dataset(wildcards):
    # train.dataset: one name or several (pooled; layeratlas.robustness.finetune): each one's files
    names = training_datasets(config["models"][wildcards.model]["train"]["dataset"], config["datasets"])
    return [path for name in names for path in dataset_files(name)]


def checkpoint_if_trained(wildcards):
    snapshot = config["models"][wildcards.model].get("snapshot_of")
    if snapshot:  # train.snapshots: the training run's folder of per-epoch checkpoints
        return [f"models/{snapshot['model']}/snapshots"]
    return [f"models/{wildcards.model}/checkpoint.pt"] if trained(wildcards.model) else []


def weights_input(wildcards):
    """models.<model>.weights as a file: an input of training (so a changed file retrains)."""
    path = local_weights_file(config["models"][wildcards.model])
    return [path] if path else []


def untrained_weights_input(wildcards):
    """The local weights file that jobs of an untrained model read (a trained one's read its checkpoint)."""
    return [] if checkpoint_if_trained(wildcards) else weights_input(wildcards)


def export_inputs(wildcards):
    """The trained checkpoint (or snapshot folder), else the local weights file the export reads."""
    if trained_files := checkpoint_if_trained(wildcards):
        return {"checkpoint": trained_files[0]}
    path = local_weights_file(config["models"][wildcards.model])
    return {"weights": path} if path else {}


def layer_targets(dataset, model, layer):
    base = f"results/analysis/{dataset}/{model}/{layer}"
    targets = [f"{base}/embedding_{e}.png" for e in EMBEDDINGS]
    if config["analyses"]["variance"]:
        targets += [f"{base}/class_variance_heatmap.png", f"{base}/intra_class_variance.png"]
    return targets + analysis_layer_targets(dataset, model, layer)  # analysis.smk


def all_targets():
    targets = [f"models/{m}/extractor.torchscript.pt" for m in MODELS]
    targets += [
        f"results/training/{m}/{figure}.png"
        for m in MODELS
        if trained(m)
        for figure in ("history", "confusion_matrix", "top_losses")
    ]
    targets += [
        f"results/training/sweeps/{sweep}/comparison.png"
        for sweep, members in SWEEPS.items()
        if all(trained(m) for m in members)
    ]
    for dataset in DATASETS:
        for model in MODELS:
            for layer in LAYERS[model]:
                targets += layer_targets(dataset, model, layer)
    targets += robustness_targets()  # robustness.smk: results/robustness/ (robustness: block)
    targets += inspection_targets()  # inspect.smk: results/inspection/ (analyses.inspection)
    return targets + analysis_targets()  # analysis.smk: pixel baselines, CKA, results/summary/


# Input functions and targets of analysis.smk (a snakefile holds rules or functions, not both).


def layer_summaries(dataset, model, layer):
    """The per-layer JSON rows that results/summary/layers.parquet merges, for the analyses switched on."""
    base = f"results/analysis/{dataset}/{model}/{layer}"
    paths = [f"{base}/class_variance_summary.json"] if ANALYSES["variance"] else []
    paths += [f"{base}/probes.json"] if ANALYSES["probes"]["enabled"] else []
    paths += [f"{base}/cluster_quality.json"] if ANALYSES["cluster_quality"] else []
    paths += [f"{base}/neural_collapse.json"] if ANALYSES["neural_collapse"] else []
    paths += [f"{base}/linear_adam.json"] if ANALYSES["linear_adam"]["enabled"] else []
    return paths


def analysis_layer_targets(dataset, model, layer):
    """What the analysis suite adds to one (dataset, model, layer)."""
    base = f"results/analysis/{dataset}/{model}/{layer}"
    targets = layer_summaries(dataset, model, layer)
    targets += [f"{base}/confusion.png"] if ANALYSES["probes"]["enabled"] else []
    targets += [f"{base}/linear_adam.png"] if ANALYSES["linear_adam"]["enabled"] else []
    if ANALYSES["thumbnails"]["enabled"]:
        thumbnails = ANALYSES["thumbnails"]["embeddings"]
        targets += [f"{base}/thumbnails_{e}.png" for e in EMBEDDINGS if e in thumbnails]
    return targets


def analysis_targets():
    """Per-dataset analyses and the summary across every dataset, model and layer."""
    targets = []
    for dataset in DATASETS:
        if ANALYSES["pixel_baselines"]:
            targets += [f"results/analysis/{dataset}/pixels/class_means.png"]
        if ANALYSES["cka"]:
            targets += [f"results/analysis/{dataset}/cka.png"]
            targets += [f"results/analysis/{dataset}/{m}/cka.png" for m in MODELS]
    if any(layer_summaries(DATASETS[0], MODELS[0], LAYERS[MODELS[0]][0])):
        targets += ["results/summary/layers.csv"]
        targets += [f"results/summary/metrics_vs_depth_{m}.png" for m in MODELS]
    return targets


def _labels(figure, **extra):
    return {"dataset": "{dataset}", "model": "{model}", "layer": "{layer}", "figure": figure, **extra}


# Input functions and targets of robustness.smk (a snakefile holds rules or functions, not both).


def _corrupted_entries(model=None):
    """One dict per corrupted dataset: dataset, corruption, severity, dataset_dir (and features_dir)."""
    entries = []
    for c in CORRUPTED:
        entry = {"dataset": c.dataset, "corruption": c.corruption, "severity": c.severity}
        entry["dataset_dir"] = f"results/datasets/{c.dataset}"
        if model is not None:
            entry["features_dir"] = f"results/features/{c.dataset}/{model}"
        entries.append(entry)
    return entries


def _robust_features(wildcards):
    """Features of the clean dataset and of every corrupted one, for the model of the job."""
    clean = f"results/features/{ROBUSTNESS['clean']}/{wildcards.model}"
    return [clean] + [f"results/features/{c.dataset}/{wildcards.model}" for c in CORRUPTED]


def _corrupted_metadata(wildcards):
    return [f"results/datasets/{c.dataset}/dataset.json" for c in CORRUPTED]


def _accuracy_tables(wildcards):
    tables = [
        f"{ROBUST_OUT}/{m}/{layer}/accuracy.parquet"
        for m, layers in ROBUST_LAYERS.items()
        for layer in layers
    ]
    return tables + [f"{ROBUST_OUT}/{m}/head_accuracy.parquet" for m in HEAD_MODELS]


def _compare_pair(wildcards):
    for pair in _robustness.compare_pairs(config):
        if (pair["finetuned"], pair["layer"], pair["dataset"]) == (
            wildcards.model,
            wildcards.layer,
            wildcards.dataset,
        ):
            return pair
    raise ValueError(
        f"no robustness.compare entry for {wildcards.model} / {wildcards.layer} / {wildcards.dataset}"
    )


def robustness_targets():
    """What the robustness block adds to `rule all` (nothing when it is off)."""
    if not ROBUSTNESS:
        return []
    targets = [f"{ROBUST_OUT}/accuracy.tsv", f"{ROBUST_OUT}/corruption_summary.tsv"]
    targets += [f"{ROBUST_OUT}/accuracy_vs_severity_{c}.png" for c in _robustness.corruptions(config)]
    targets += [f"{ROBUST_OUT}/{m}/drift.png" for m in ROBUST_LAYERS]
    targets += [
        f"{ROBUST_OUT}/{p['finetuned']}/{p['layer']}/pca_grid_{p['dataset']}.png"
        for p in _robustness.compare_pairs(config)
    ]
    return targets


def _robust_labels(figure, **extra):
    return {"model": "{model}", "layer": "{layer}", "figure": figure, **extra}


# Input functions and targets of inspect.smk (a snakefile holds rules or functions, not both).


def inspection_targets():
    """What analyses.inspection adds to `rule all` (nothing when it is off)."""
    if not INSPECTION["enabled"]:
        return []
    targets = []
    for model in MODELS:
        targets += [f"results/inspection/{model}/filters", f"results/inspection/{model}/layers.tsv"]
        for dataset in DATASETS:
            base = f"results/inspection/{dataset}/{model}"
            targets += [f"{base}/dead_units.png"]
            targets += [f"{base}/{layer}/top_patches.png" for layer in LAYERS[model]]
            targets += [f"{base}/{layer}/activations" for layer in LAYERS[model]]
    return targets


def _inspection_labels(figure, **extra):
    return {"model": "{model}", "figure": figure, **extra}
