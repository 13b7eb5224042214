# Config validation, wildcard constraints, target lists and input functions. No rule lives here.
import re

from snakemake.exceptions import WorkflowError

from layeratlas.config import ConfigError, validate_config
from layeratlas.models.sweeps import sweep_groups
from layeratlas.downloads import DOWNLOADABLE, DatasetFilesError, check_dataset_files

try:
    # In place: rules and scripts (snakemake.config) see the validated config with defaults filled in.
    config.update(validate_config(config))
except ConfigError as error:
    raise WorkflowError(str(error)) from None

if workflow.is_main_process:
    # Before any job (and once, not again in every cluster job): every chosen layer exists.
    from layeratlas.checks import layer_errors

    if errors := layer_errors(config):
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
    return dataset_files(config["models"][wildcards.model]["train"]["dataset"])


def checkpoint_if_trained(wildcards):
    snapshot = config["models"][wildcards.model].get("snapshot_of")
    if snapshot:  # train.snapshots: the training run's folder of per-epoch checkpoints
        return [f"models/{snapshot['model']}/snapshots"]
    return [f"models/{wildcards.model}/checkpoint.pt"] if trained(wildcards.model) else []


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
    return targets + analysis_targets()  # analysis.smk: pixel baselines, CKA, results/summary/
