"""Per-layer analysis steps and their summary."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from layeratlas import plots
from layeratlas.datasets import select_split
from layeratlas.io import Pathish, read_json, write_json, write_parquet, write_table

log = logging.getLogger("layeratlas")


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
