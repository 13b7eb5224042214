"""Training steps."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import polars as pl

from layeratlas import plots
from layeratlas.datasets import load_dataset
from layeratlas.io import Pathish, write_json, write_parquet

log = logging.getLogger("layeratlas")


def train_model(
    name: str,
    spec: Mapping[str, Any],
    dataset_dir: Pathish,
    seed: int,
    checkpoint: Pathish,
    history: Pathish,
    metrics: Pathish,
    threads: int = 1,
) -> None:
    import torch

    from layeratlas.models import build_model, get_architecture
    from layeratlas.models.preprocess import Preprocess
    from layeratlas.models.zoo import input_size, save_checkpoint
    from layeratlas.training import pick_device, train_classifier

    torch.set_num_threads(threads)
    ds = load_dataset(dataset_dir, mmap=False)
    arch = get_architecture(spec["architecture"])
    num_classes = len(ds.class_names)
    model = build_model(spec, num_classes, seed)
    preprocess = Preprocess(input_size(spec), arch.channels, arch.mean, arch.std)
    device = pick_device()
    table, test = train_classifier(model, preprocess, ds, spec["train"], arch.classifier, seed, device)
    save_checkpoint(model, spec, num_classes, checkpoint)
    write_parquet(table, history)
    write_json(
        {
            "model": name,
            "dataset": ds.name,
            "device": str(device),
            **test,
            "final_val_accuracy": table["val_accuracy"][-1],
        },
        metrics,
    )
    log.info("model %s: test accuracy %.4f", name, test["test_accuracy"])


def plot_training(model: str, history: Pathish, figure: Pathish) -> None:
    plots.save_figure(plots.training_curves(pl.read_parquet(history), f"{model}: training"), figure)
