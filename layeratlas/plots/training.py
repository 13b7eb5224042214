"""Figures of a training run: loss and accuracy curves, the test confusion matrix, the highest-loss test
images."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.ticker import MaxNLocator

from layeratlas.plots import CORRECT, WRONG, class_ticks, colorbar, set_title, suptitle

_HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy")


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
        ax.set(xlabel="epoch", ylabel="cross-entropy loss" if metric == "loss" else "accuracy", title=metric)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    suptitle(fig, title)
    return fig


def draw_confusion(
    ax: Axes, counts: np.ndarray, class_names: Sequence[str], *, max_annotated: int = 30, fontsize="small"
) -> AxesImage:
    """Draw a confusion matrix (rows: true class, columns: predicted) on ``ax``, coloured by the fraction
    of the true class, with the counts written in when there are at most ``max_annotated`` classes."""
    counts = np.asarray(counts)
    k = len(class_names)
    if counts.shape != (k, k):
        raise ValueError(f"confusion matrix of shape {counts.shape} for {k} class names")
    totals = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    image = ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    if k <= max_annotated:
        for i in range(k):
            for j in range(k):
                if counts[i, j]:
                    colour = "white" if fractions[i, j] > 0.5 else "black"
                    ax.text(
                        j,
                        i,
                        f"{int(counts[i, j])}",
                        ha="center",
                        va="center",
                        fontsize=fontsize,
                        color=colour,
                    )
    ticks = np.arange(k) if k <= 30 else []
    labels = [str(c) for c in class_names] if k <= 30 else []
    ax.set_xticks(ticks, labels, fontsize=fontsize, **class_ticks(labels))
    ax.set_yticks(ticks, labels, fontsize=fontsize)
    return image


def confusion_figure(counts: np.ndarray, class_names: Sequence[str], title: str) -> Figure:
    """Confusion matrix of one classifier, with counts and its accuracy in the title."""
    counts = np.asarray(counts)
    side = max(4.5, 0.45 * len(class_names) + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1, side), layout="constrained")
    image = draw_confusion(ax, counts, class_names)
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    ax.set(xlabel="predicted class", ylabel="true class")
    set_title(ax, f"{title} (accuracy {accuracy:.3f})")
    colorbar(fig, image, ax, "fraction of the true class")
    return fig


def top_losses_figure(
    images: np.ndarray,
    labels: Sequence[int],
    predicted: Sequence[int],
    losses: Sequence[float],
    class_names: Sequence[str],
    title: str,
    columns: int = 4,
) -> Figure:
    """A grid of uint8 NHWC ``images`` titled ``predicted / true / loss`` (as fastai's plot_top_losses);
    correctly classified ones (the highest losses of a good model can be right answers given with little
    confidence) are framed and titled in green and marked "correct", the others in red."""
    images = np.asarray(images)
    n = len(images)
    if not (n == len(labels) == len(predicted) == len(losses)):
        raise ValueError("images, labels, predictions and losses differ in length")
    columns = max(1, min(columns, n))
    rows = max(1, -(-n // columns))
    fig, axes = plt.subplots(
        rows, columns, figsize=(2.4 * columns, 2.7 * rows + 0.8), squeeze=False, layout="constrained"
    )
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, y, p, loss in zip(axes.flat, images, labels, predicted, losses, strict=False):
        gray = image.shape[-1] == 1
        ax.imshow(image[..., 0] if gray else image, cmap="gray" if gray else None, vmin=0, vmax=255)
        right = int(p) == int(y)
        colour = CORRECT if right else WRONG
        ax.set_axis_on()
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set(edgecolor=colour, linewidth=2.5 if right else 1.5)
        mark = "correct" if right else "wrong"
        ax.set_title(f"{class_names[p]} / {class_names[y]} ({mark})\nloss {loss:.2f}", color=colour)
    n_right = sum(int(p) == int(y) for p, y in zip(predicted, labels, strict=True))
    suptitle(fig, f"{title} (predicted / true, highest loss first; {n_right} of {n} correct, green)")
    return fig
