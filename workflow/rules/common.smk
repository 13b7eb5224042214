# Config validation, wildcard constraints, target lists and input functions. No rule lives here.
import re

from snakemake.exceptions import WorkflowError

from layeratlas.config import ConfigError, validate_config

try:
    # In place: rules and scripts (snakemake.config) see the validated config with defaults filled in.
    config.update(validate_config(config))
except ConfigError as error:
    raise WorkflowError(str(error)) from None

DATASETS = list(config["datasets"])
MODELS = list(config["models"])
LAYERS = {model: list(spec["layers"]) for model, spec in config["models"].items()}
EMBEDDINGS = config["analyses"]["embeddings"]


def _one_of(names):
    return "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))


wildcard_constraints:
    dataset=_one_of(DATASETS),
    model=_one_of(MODELS),
    layer=_one_of([layer for layers in LAYERS.values() for layer in layers]),
    embedding=_one_of(["pca", "tsne", "umap"]),


def trained(model):
    return bool(config["models"][model].get("train"))


def dataset_files(dataset):
    return multiext(f"results/datasets/{dataset}/", "images.npy", "index.parquet", "dataset.json")


def training_dataset(wildcards):
    return dataset_files(config["models"][wildcards.model]["train"]["dataset"])


def checkpoint_if_trained(wildcards):
    return [f"models/{wildcards.model}/checkpoint.pt"] if trained(wildcards.model) else []


def layer_targets(dataset, model, layer):
    base = f"results/analysis/{dataset}/{model}/{layer}"
    targets = [f"{base}/embedding_{e}.png" for e in EMBEDDINGS]
    if config["analyses"]["variance"]:
        targets += [f"{base}/class_variance_heatmap.png", f"{base}/intra_class_variance.png"]
    return targets


def all_targets():
    targets = [f"models/{m}/extractor.torchscript.pt" for m in MODELS]
    targets += [f"results/training/{m}/history.png" for m in MODELS if trained(m)]
    for dataset in DATASETS:
        for model in MODELS:
            for layer in LAYERS[model]:
                targets += layer_targets(dataset, model, layer)
    if config["analyses"]["variance"]:
        targets += ["results/summary/class_variance.parquet", "results/summary/class_variance.png"]
    return targets
