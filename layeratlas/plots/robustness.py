"""Figures of the robustness study: accuracy versus severity per corruption, feature drift per layer, and
the 2 x 2 comparison of clean and corrupted features for an original and a fine-tuned model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.figure import Figure

from layeratlas.plots import class_colours, legend_or_note, suptitle
from layeratlas.plots.embeddings import scatter_classes


def accuracy_vs_severity(table: pl.DataFrame, corruption: str, title: str) -> Figure:
    """One panel per model: accuracy versus severity for each (layer, classifier), the clean accuracy
    (severity 0 rows of corruption ``none``) as a dashed line of the same colour."""
    rows = table.filter(pl.col("corruption") == corruption)
    if rows.is_empty():
        raise ValueError(f"no rows for corruption {corruption!r}")
    models = list(dict.fromkeys(rows["model"].to_list()))
    fig, axes = plt.subplots(
        1, len(models), figsize=(5.0 * len(models) + 1.5, 4.2), layout="constrained", squeeze=False
    )
    cmap = plt.get_cmap("tab10")
    for ax, model in zip(axes[0], models, strict=True):
        part = rows.filter(pl.col("model") == model)
        keys = list(dict.fromkeys(zip(part["layer"].to_list(), part["classifier"].to_list(), strict=True)))
        for i, (layer, classifier) in enumerate(keys):
            curve = part.filter((pl.col("layer") == layer) & (pl.col("classifier") == classifier)).sort(
                "severity"
            )
            color = cmap(i % cmap.N)
            label = f"{layer} / {classifier}"
            ax.plot(curve["severity"], curve["accuracy"], marker="o", color=color, label=label)
            clean = table.filter(
                (pl.col("corruption") == "none")
                & (pl.col("model") == model)
                & (pl.col("layer") == layer)
                & (pl.col("classifier") == classifier)
            )["accuracy"]
            if len(clean):
                ax.axhline(float(clean[0]), color=color, linestyle="--", linewidth=1)
        severities = sorted(set(rows["severity"].to_list()))
        ax.set_xticks(severities)
        ax.set(
            title=model, xlabel="corruption severity", ylabel="test accuracy (dashed: clean)", ylim=(0, 1.02)
        )
        ax.legend(fontsize="x-small", loc="lower left")
    suptitle(fig, title)
    return fig


def drift_figure(table: pl.DataFrame, layers: Sequence[str], title: str) -> Figure:
    """CKA(clean, corrupted) and the relative change of inter/intra class variance per layer (in the
    order of ``layers``), a line per corrupted dataset: colour = corruption, darker = more severe."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    corruptions = list(dict.fromkeys(table["corruption"].to_list()))
    cmaps = ["Blues", "Oranges", "Greens", "Reds", "Purples", "Greys", "YlOrBr", "PuRd"]
    x = np.arange(len(layers))
    for ci, corruption in enumerate(corruptions):
        part = table.filter(pl.col("corruption") == corruption)
        for severity in sorted(set(part["severity"].to_list())):
            rows = part.filter(pl.col("severity") == severity)
            by_layer = dict(zip(rows["layer"].to_list(), rows.iter_rows(named=True), strict=True))
            shade = plt.get_cmap(cmaps[ci % len(cmaps)])(0.35 + 0.13 * min(severity, 5))
            for ax, key in zip(axes, ("cka", "ratio_change"), strict=True):
                y = [by_layer[layer][key] if layer in by_layer else np.nan for layer in layers]
                ax.plot(x, y, marker="o", color=shade, label=f"{corruption} {severity}")
    for ax, ylabel in zip(
        axes, ("linear CKA (clean, corrupted)", "change of inter/intra variance ratio"), strict=True
    ):
        ax.set_xticks(x, list(layers), rotation=30, ha="right", rotation_mode="anchor")
        ax.set(xlabel="layer (input to output)", ylabel=ylabel)
    axes[1].axhline(0, color="black", linewidth=0.8)
    axes[0].set_ylim(top=1.02)
    axes[1].legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    suptitle(fig, title)
    return fig


def pca_grid(
    coords: Mapping[tuple[str, str], np.ndarray],
    labels: Mapping[tuple[str, str], np.ndarray],
    class_names: Sequence[str],
    rows: Sequence[str],
    columns: Sequence[str],
    title: str,
) -> Figure:
    """A grid of class scatters: ``coords[(row, column)]`` (n, 2), axes shared within each row."""
    cmap = class_colours(len(class_names))
    fig, axes = plt.subplots(
        len(rows),
        len(columns),
        figsize=(5.2 * len(columns) + 1.5, 4.6 * len(rows)),
        layout="constrained",
        squeeze=False,
    )
    for i, row in enumerate(rows):
        for j, column in enumerate(columns):
            ax = axes[i, j]
            if j:
                ax.sharex(axes[i, 0])
                ax.sharey(axes[i, 0])
            xy, y = np.asarray(coords[(row, column)]), np.asarray(labels[(row, column)])
            scatter_classes(ax, xy, y, class_names, cmap)
            ax.set(title=f"{row} on {column}", xlabel="PC 1", ylabel="PC 2")
    present = {int(c) for y in labels.values() for c in np.unique(y)}
    note = legend_or_note(fig, present, class_names, cmap)
    suptitle(fig, " ".join(filter(None, [title, note])))
    return fig
