"""Training steps."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from layeratlas.data.datasets import load_dataset
from layeratlas.io import Pathish, write_json, write_parquet, write_table

log = logging.getLogger("layeratlas")

TOP_LOSSES = 16


def training_set(dataset_dir: Pathish | list[Pathish], sample_size: int | None, seed: int):  # noqa: ANN201
    """The dataset a model trains on: one folder, or several pooled (train.dataset as a list), with
    ``sample_size`` train images drawn (layeratlas.robustness.finetune)."""
    from layeratlas.robustness.finetune import pool_datasets

    dirs = [dataset_dir] if isinstance(dataset_dir, str | Path) else list(dataset_dir)
    return pool_datasets([load_dataset(d, mmap=False) for d in dirs], sample_size, seed)


def train_model(
    name: str,
    spec: Mapping[str, Any],
    dataset_dir: Pathish | list[Pathish],
    seed: int,
    checkpoint: Pathish,
    history: Pathish,
    metrics: Pathish,
    predictions: Pathish | None = None,
    snapshots: Pathish | None = None,
    threads: int = 1,
) -> None:
    import torch

    from layeratlas.models import build_model
    from layeratlas.models.preprocess import Preprocess
    from layeratlas.models.zoo import head_modules, input_size, model_architecture, save_checkpoint
    from layeratlas.training import keep_freed_memory, pick_device, train_classifier

    keep_freed_memory()
    torch.set_num_threads(threads)
    # the workflow sets PASSIVE (workflow/rules/common.smk): spinning threads cost 4.6x the CPU under load
    log.info("%d torch threads, OMP_WAIT_POLICY=%s", threads, os.environ.get("OMP_WAIT_POLICY", "unset"))
    ds = training_set(dataset_dir, spec["train"].get("sample_size"), seed)
    arch = model_architecture(spec)
    num_classes = len(ds.class_names)
    model = build_model(spec, num_classes, seed)
    preprocess = Preprocess(input_size(spec), arch.channels, arch.mean, arch.std)
    device = pick_device()
    snapshot_epochs = set(spec["train"].get("snapshots") or [])
    if snapshots is not None:
        Path(snapshots).mkdir(parents=True, exist_ok=True)

    def snapshot(epoch: int, current: torch.nn.Module) -> None:
        if snapshots is not None and epoch in snapshot_epochs:
            save_checkpoint(current, spec, num_classes, Path(snapshots) / f"epoch{epoch}.pt")
            log.info("model %s: snapshot after epoch %d", name, epoch)

    result = train_classifier(
        model, preprocess, ds, spec["train"], head_modules(spec), seed, device, on_epoch_end=snapshot
    )
    save_checkpoint(model, spec, num_classes, checkpoint)
    write_parquet(result.history, history)
    if predictions is not None:
        write_parquet(result.predictions, predictions)
    write_json(
        {
            "model": name,
            "dataset": ds.name,
            "device": str(device),
            **result.metrics,
            "final_val_accuracy": result.history["val_accuracy"][-1],
        },
        metrics,
    )
    log.info("model %s: test accuracy %.4f", name, result.metrics["test_accuracy"])
    warn_if_at_chance(name, result, num_classes)


def warn_if_at_chance(name: str, result: Any, num_classes: int) -> str | None:
    """Log a warning (and return it) when the trained network ended at chance (training.chance_warning)."""
    from layeratlas.training import chance_warning

    preds = result.predictions
    correct = int((preds["label"] == preds["predicted"]).sum()) if preds.height else 0
    last_loss = float(result.history["train_loss"][-1]) if result.history.height else float("nan")
    message = chance_warning(last_loss, correct, preds.height, num_classes)
    if message:
        log.warning("model %s: %s", name, message)
    return message


def plot_training(model: str, history: Pathish, figure: Pathish) -> None:
    from layeratlas import plots  # matplotlib: not in the training job (tests/test_training_imports.py)
    from layeratlas.plots import training as training_plots

    plots.save_figure(training_plots.training_curves(pl.read_parquet(history), f"{model}: training"), figure)


def plot_test_predictions(
    model: str,
    predictions: Pathish,
    dataset_dir: Pathish | list[Pathish],
    confusion_table: Pathish,
    confusion_figure: Pathish,
    top_losses_figure: Pathish,
) -> None:
    """Confusion matrix (tsv + png) and the highest-loss test images of a trained model."""
    from layeratlas import plots
    from layeratlas.analysis.probes import confusion_matrix  # numpy: this job loads no torch
    from layeratlas.plots.training import confusion_figure as confusion_plot
    from layeratlas.plots.training import top_losses_figure as top_losses_plot

    preds = pl.read_parquet(predictions)
    ds = training_set(dataset_dir, None, 0)  # the same row positions as in training
    class_names = [str(c) for c in ds.class_names]
    labels = np.arange(len(class_names))
    counts = confusion_matrix(preds["label"].to_numpy(), preds["predicted"].to_numpy(), labels)
    table = pl.DataFrame({"true_class": class_names}).with_columns(
        pl.Series(str(name), counts[:, j]) for j, name in enumerate(class_names)
    )
    write_table(table, confusion_table)
    plots.save_figure(
        confusion_plot(counts, class_names, f"{model}: test confusion matrix"), confusion_figure
    )
    top = preds.sort("loss", descending=True).head(TOP_LOSSES)
    plots.save_figure(
        top_losses_plot(
            np.asarray(ds.images[top["sample_id"].to_numpy()]),
            top["label"].to_list(),
            top["predicted"].to_list(),
            top["loss"].to_list(),
            class_names,
            f"{model}: highest-loss test images",
        ),
        top_losses_figure,
    )


def compare_sweep(
    sweep: str,
    members: list[str],
    specs: list[Mapping[str, Any]],
    metrics: list[Pathish],
    table: Pathish,
    figure: Pathish,
) -> None:
    """Comparison table (tsv + parquet) and figure of a sweep's trained members."""
    from layeratlas import plots
    from layeratlas.io import read_json
    from layeratlas.models.sweeps import comparison_figure, comparison_table

    rows = comparison_table(members, specs, [read_json(m) for m in metrics])
    write_table(rows, table)
    plots.save_figure(comparison_figure(rows, f"sweep {sweep}: {rows['parameter'][0]}"), figure)
    log.info("sweep %s: %s", sweep, rows.select("value", "test_accuracy").rows())


def summarize_seeds(summary: Pathish, groups: Mapping[str, list[str]], table: Pathish) -> None:
    """Mean and spread of every summary metric across the runs of each model trained once per seed
    (``train.seeds``), from results/summary/layers.parquet; ``table`` (.parquet) with a .tsv beside it."""
    from layeratlas.analysis.seeds import across_seeds

    rows = across_seeds(pl.read_parquet(summary), groups)
    write_table(rows, table)
    log.info("spread across seeds of %s: %d rows", ", ".join(groups), rows.height)
