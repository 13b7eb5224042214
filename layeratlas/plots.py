"""Figures for layer analyses: class scatter plots, variance charts, training curves."""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # headless: figures are only ever written to files

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from layeratlas.io import atomic_path

_HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy")


def scatter_classes(
    ax: Axes, coords: np.ndarray, labels: np.ndarray, class_names: Sequence[str], cmap: Colormap
) -> np.ndarray:
    """Draw 2-D ``coords`` on ``ax``, one labelled colour per class id; returns the class ids present."""
    present = np.unique(labels)
    for c in present:
        mask = labels == c
        ax.scatter(
            coords[mask, 0],
            coords[mask, 1],
            s=6,
            alpha=0.7,
            color=cmap(int(c) % cmap.N),
            label=str(class_names[int(c)]),
            linewidths=0,
        )
    return present


def class_scatter(
    coords: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    title: str,
    *,
    xlabel: str = "",
    ylabel: str = "",
) -> Figure:
    """Scatter of 2-D ``coords`` coloured by class; ``class_names`` is indexed by class id.

    Colours follow the class id (not its rank among the classes present), so a class keeps its
    colour across layers and methods. Beyond 20 classes the tab20 colours repeat.
    """
    coords, labels = np.asarray(coords), np.asarray(labels)
    if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) != len(labels):
        raise ValueError(f"need coords of shape (n, 2) and n labels, got {coords.shape} and {labels.shape}")
    cmap = plt.get_cmap("tab10" if len(class_names) <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(7.5, 5.5), layout="constrained")
    present = scatter_classes(ax, coords, labels, class_names, cmap)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.legend(
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
        markerscale=3,  # points are tiny; legend dots must be readable
        frameon=False,
        fontsize="small",
        ncol=-(-len(present) // 25),  # wrap long legends into columns of at most 25
    )
    return fig


def variance_heatmap(matrix: np.ndarray, class_names: Sequence[str], title: str) -> Figure:
    """Annotated heatmap of a (K, K) matrix; ``class_names`` labels rows and columns in order."""
    matrix = np.asarray(matrix, dtype=np.float64)
    k = len(class_names)
    if matrix.shape != (k, k):
        raise ValueError(f"matrix shape {matrix.shape} does not match {k} class names")
    side = max(4.0, 0.55 * k + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1.0, side), layout="constrained")
    im = ax.imshow(matrix, cmap="viridis")
    fig.colorbar(im, ax=ax)
    fontsize = 8 if k <= 12 else 6
    for i in range(k):
        for j in range(k):
            value = matrix[i, j]
            # viridis is dark at the low end: white text there, black on the bright end.
            dark = np.isfinite(value) and im.norm(value) < 0.5
            ax.text(
                j,
                i,
                f"{value:.3g}",
                ha="center",
                va="center",
                color="white" if dark else "black",
                fontsize=fontsize,
            )
    ax.set_xticks(range(k), [str(n) for n in class_names], rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(k), [str(n) for n in class_names])
    ax.set_title(title)
    return fig


def intra_bar(values: np.ndarray, class_names: Sequence[str], title: str) -> Figure:
    """Bar per class of intra-class variance (``class_names`` in bar order), mean dashed."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (len(class_names),):
        raise ValueError(f"{values.shape[0]} values for {len(class_names)} class names")
    fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(values) + 2.0), 4.0), layout="constrained")
    x = np.arange(len(values))
    ax.bar(x, values, color="tab:blue")
    mean = float(np.mean(values))
    ax.axhline(mean, color="black", linestyle="--", linewidth=1, label=f"mean = {mean:.3g}")
    ax.set_xticks(x, [str(n) for n in class_names], rotation=45, ha="right", rotation_mode="anchor")
    ax.set(title=title, ylabel="intra-class variance")
    ax.margins(y=0.15)  # headroom so the legend does not cover the bars
    ax.legend(loc="upper right")
    return fig


def training_curves(history: pl.DataFrame, title: str) -> Figure:
    """Loss and accuracy per epoch, train vs val, in two side-by-side panels."""
    if missing := [c for c in _HISTORY_COLUMNS if c not in history.columns]:
        raise ValueError(f"history lacks columns {missing}")
    history = history.sort("epoch")
    epoch = history["epoch"].to_numpy()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for split, marker in (("train", "o"), ("val", "s")):
            ax.plot(
                epoch,
                history[f"{split}_{metric}"].to_numpy(),
                marker=marker,
                markersize=4,
                label=split,
            )
        ax.set(xlabel="epoch", ylabel=metric, title=metric)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    fig.suptitle(title)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 120) -> None:
    """Write ``fig`` to ``path`` atomically (see ``layeratlas.io.atomic_path``) and close it.

    The format follows the suffix of ``path``.
    """
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi)
    finally:
        plt.close(fig)
