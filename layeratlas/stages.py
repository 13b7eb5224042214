"""One function per workflow step, callable without Snakemake: the scripts in scripts/ only unpack
``snakemake.input/output/params`` and call these."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from layeratlas import plots
from layeratlas.datasets import build_dataset, load_dataset, save_dataset, select_split
from layeratlas.io import read_json, write_json, write_parquet, write_table

log = logging.getLogger("layeratlas")

Pathish = str | os.PathLike


def prepare_dataset(name: str, spec: Mapping[str, Any], seed: int, out_dir: Pathish) -> None:
    ds = build_dataset(name, spec, seed)
    save_dataset(ds, out_dir)
    log.info(
        "dataset %s: %d images %s, splits %s",
        name,
        len(ds.labels),
        ds.images.shape[1:],
        {s: int((ds.split == s).sum()) for s in ("train", "val", "test")},
    )


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


def export_model(
    name: str,
    spec: Mapping[str, Any],
    checkpoint: Pathish | None,
    seed: int,
    onnx_path: Pathish,
    torchscript_path: Pathish,
    metadata_path: Pathish,
) -> None:
    from layeratlas.export import export_all
    from layeratlas.models import build_model
    from layeratlas.models.zoo import load_checkpoint

    model = load_checkpoint(checkpoint) if checkpoint else build_model(spec, seed=seed)
    meta = export_all(name, spec, model, onnx_path, torchscript_path, metadata_path)
    log.info("exported %s: %s", name, [(x["name"], x["shape"]) for x in meta["layers"]])


def extract_features(
    onnx_path: Pathish,
    metadata: Pathish,
    dataset_dir: Pathish,
    out_dir: Pathish,
    batch_size: int,
    threads: int,
) -> dict[str, Any]:
    from layeratlas.extraction import extract_features as run
    from layeratlas.extraction import make_session

    meta = read_json(metadata)
    ds = load_dataset(dataset_dir)
    layers = {x["name"]: x["reduction"] for x in meta["layers"]}
    shapes = {x["name"]: x["shape"] for x in meta["layers"]}
    session = make_session(onnx_path, threads)
    stats = run(session, ds.images, layers, shapes, out_dir, ds.index(), batch_size)
    log.info(
        "extracted %d images in %.1f s (%.1f images/s) with %s",
        stats["n_images"],
        stats["seconds"],
        stats["images_per_second"],
        stats["providers"][0],
    )
    return stats


def load_layer(features_dir: Pathish, dataset_dir: Pathish, layer: str, split: str):  # noqa: ANN201
    """Features of one layer for the samples of ``split``, with their ids, labels and class names."""
    features_dir = Path(features_dir)
    path = features_dir / f"{layer}.npy"
    if not path.exists():
        have = sorted(p.stem for p in features_dir.glob("*.npy"))
        raise FileNotFoundError(
            f"{path}: no features for layer {layer!r}; extracted layers: {', '.join(have)}"
        )
    index = pl.read_parquet(features_dir / "index.parquet")
    mask = select_split(index["split"].to_numpy().astype(str), split)
    features = np.load(path, mmap_mode="r")[mask]
    class_names = read_json(Path(dataset_dir) / "dataset.json")["class_names"]
    return features, index.filter(pl.Series(mask)), class_names


def embed_features(
    dataset: str,
    model: str,
    layer: str,
    method: str,
    features_dir: Pathish,
    dataset_dir: Pathish,
    split: str,
    options: Mapping[str, Any],
    seed: int,
    threads: int,
    table: Pathish,
    figure: Pathish,
) -> None:
    from layeratlas.analysis.embeddings import embed, embedding_table

    features, index, class_names = load_layer(features_dir, dataset_dir, layer, split)
    labels = index["label"].to_numpy()
    coords = embed(np.asarray(features, dtype=np.float32), method, seed=seed, n_jobs=threads, params=options)
    write_parquet(embedding_table(coords, index["sample_id"].to_numpy(), labels, class_names), table)
    names = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
    title = (
        f"{names[method]} of {model} / {layer} on {dataset} ({split}, n={len(labels)}, d={features.shape[1]})"
    )
    fig = plots.class_scatter(
        coords, labels, class_names, title, xlabel=f"{names[method]} 1", ylabel=f"{names[method]} 2"
    )
    plots.save_figure(fig, figure)


def class_variance(
    dataset: str,
    model: str,
    layer: str,
    features_dir: Pathish,
    dataset_dir: Pathish,
    split: str,
    intra: Pathish,
    inter: Pathish,
    summary: Pathish,
    heatmap: Pathish,
    intra_bar: Pathish,
) -> None:
    from layeratlas.analysis import variance

    features, index, class_names = load_layer(features_dir, dataset_dir, layer, split)
    v = variance.class_variances(features, index["label"].to_numpy())
    write_table(variance.intra_table(v, class_names), intra)
    write_table(variance.inter_table(v, class_names), inter)
    names = [class_names[c] for c in v.classes]
    where = f"{model} / {layer} on {dataset} ({split})"
    plots.save_figure(plots.variance_heatmap(v.inter, names, f"Inter-class variance: {where}"), heatmap)
    plots.save_figure(plots.intra_bar(v.intra, names, f"Intra-class variance: {where}"), intra_bar)
    row = {
        "dataset": dataset,
        "model": model,
        "layer": layer,
        "split": split,
        "n_samples": int(len(index)),
        "n_features": int(features.shape[1]),
        **variance.summary_row(v),
    }
    write_json(row, summary)
    log.info("%s: %s", where, row)


def summarize_class_variance(summaries: list[Pathish], table: Pathish, figure: Pathish) -> None:
    rows = pl.DataFrame([read_json(p) for p in summaries])
    write_table(rows, table)
    plots.save_figure(plots.variance_summary(rows), figure)
