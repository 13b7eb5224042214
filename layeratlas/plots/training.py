"""Figures of a training run: loss and accuracy curves, the test confusion matrix, the highest-loss test
images."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.ticker import MaxNLocator

from layeratlas.plots import (
    CORRECT,
    WRONG,
    class_axis,
    class_ticks,
    cluster_order,
    colorbar,
    many_classes,
    set_title,
    suptitle,
)

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


def row_fractions(counts: np.ndarray) -> np.ndarray:
    """A confusion matrix's counts as fractions of each true class (rows)."""
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)


def confusion_order(counts: np.ndarray) -> np.ndarray:
    """Classes ordered so that those often mistaken for each other sit together: a clustering of the
    symmetrised off-diagonal confusion fractions (distance: the largest fraction minus the pair's)."""
    f = row_fractions(counts)
    np.fill_diagonal(f, 0)
    similar = (f + f.T) / 2
    return cluster_order(similar.max() - similar)


def most_confused_pairs(counts: np.ndarray, class_names: Sequence[str], k: int = 15) -> pl.DataFrame:
    """The ``k`` largest off-diagonal cells of a confusion matrix: true class, predicted class, images and
    their fraction of the true class, largest fraction first."""
    counts = np.asarray(counts)
    f = row_fractions(counts)
    np.fill_diagonal(f, 0)
    flat = np.argsort(-f, axis=None, kind="stable")[:k]
    rows = [np.unravel_index(i, f.shape) for i in flat if f.flat[i] > 0]
    return pl.DataFrame(
        {
            "true": [str(class_names[i]) for i, _ in rows],
            "predicted as": [str(class_names[j]) for _, j in rows],
            "images": [int(counts[i, j]) for i, j in rows],
            "fraction of true": [float(f[i, j]) for i, j in rows],
        },
        schema={
            "true": pl.String,
            "predicted as": pl.String,
            "images": pl.Int64,
            "fraction of true": pl.Float64,
        },
    )


def pairs_panel(ax: Axes, pairs: pl.DataFrame, title: str) -> None:
    """``most_confused_pairs`` as a table drawn on ``ax`` (axes hidden)."""
    ax.set_axis_off()
    if pairs.height == 0:
        ax.set_title(title, fontsize=8)
        ax.text(0.5, 0.5, "no confusions", ha="center", va="center", transform=ax.transAxes)
        return
    # Names longer than the panel holds are cut with an ellipsis (said, not clipped by the cell): the
    # panel's width in characters of the table's font, less the two number columns.
    fig = ax.get_figure()
    chars = ax.get_position().width * fig.get_figwidth() * 72 / (0.55 * 7)
    room = max(8, int((chars - 16) / 2))
    cut = lambda name: name if len(name) <= room else name[: room - 1] + "…"  # noqa: E731
    cells = [[cut(t), cut(p), str(n), f"{100 * x:.0f}%"] for t, p, n, x in pairs.iter_rows()]
    labels = ["true", "predicted as", "n", "% of true"]
    # Inside the axes (bbox), so that constrained layout sees no table running past them.
    widths = [max(len(str(r[i])) for r in [labels, *cells]) + 2 for i in range(len(labels))]
    height = min(1.0, 0.05 * (len(cells) + 1))
    table = ax.table(
        cellText=cells,
        colLabels=labels,
        cellLoc="left",
        colWidths=[w / sum(widths) for w in widths],
        bbox=[0, 1 - height, 1, height],
    )
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    ax.set_title(title, fontsize=8)


def draw_confusion(
    ax: Axes,
    counts: np.ndarray,
    class_names: Sequence[str],
    *,
    max_annotated: int = 30,
    fontsize="small",
    order: np.ndarray | None = None,
    side_inches: float = 5.0,
    labelled: str = "xy",
) -> AxesImage:
    """Draw a confusion matrix (rows: true class, columns: predicted) on ``ax``, coloured by the fraction
    of the true class, with the counts written in when there are at most ``max_annotated`` classes.

    Above ``MANY_CLASSES`` classes: classes in ``order`` (default ``confusion_order``), a square-root
    colour scale so that the small off-diagonal fractions show, tick labels thinned to the
    ``side_inches`` of the axes, on the axes in ``labelled`` only (rows and columns share one order, so
    the labels of one axis name the other's too)."""
    counts = np.asarray(counts)
    k = len(class_names)
    if counts.shape != (k, k):
        raise ValueError(f"confusion matrix of shape {counts.shape} for {k} class names")
    fractions = row_fractions(counts)
    if many_classes(k):
        order = confusion_order(counts) if order is None else np.asarray(order)
        shown = fractions[np.ix_(order, order)]
        image = ax.imshow(shown, cmap="Blues", norm=PowerNorm(0.5, vmin=0, vmax=1), interpolation="nearest")
        names = [str(class_names[i]) for i in order]
        for axis in "xy":
            if axis in labelled:
                class_axis(ax, axis, names, side_inches, fontsize=6)
            else:
                getattr(ax, f"set_{axis}ticks")([])
        ax.set_xlabel(
            ax.get_xlabel().replace("class", "predicted class", 1) or "predicted class (order of the rows)"
        )
        ax.set_ylabel(
            ax.get_ylabel().replace("class", "true class", 1) or "true class (order of the columns)"
        )
        return image
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
    labels = [str(c) for c in class_names]
    ax.set_xticks(np.arange(k), labels, fontsize=fontsize, **class_ticks(labels))
    ax.set_yticks(np.arange(k), labels, fontsize=fontsize)
    ax.set(xlabel="predicted class", ylabel="true class")
    return image


def confusion_figure(counts: np.ndarray, class_names: Sequence[str], title: str) -> Figure:
    """Confusion matrix of one classifier, with counts and its accuracy in the title; above
    ``MANY_CLASSES`` classes clustered, without numbers, beside a table of the most confused pairs."""
    counts = np.asarray(counts)
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    if many_classes(len(class_names)):
        fig, (ax, side) = plt.subplots(
            1, 2, figsize=(13.5, 9.5), layout="constrained", gridspec_kw={"width_ratios": [1.6, 1]}
        )
        image = draw_confusion(ax, counts, class_names, side_inches=5.5)
        pairs_panel(side, most_confused_pairs(counts, class_names), "most confused pairs")
        set_title(
            ax, f"{title} (accuracy {accuracy:.3f}; {len(class_names)} classes, confused ones together)"
        )
        colorbar(fig, image, ax, "fraction of the true class (square-root scale)", shrink=0.7)
        return fig
    side = max(4.5, 0.45 * len(class_names) + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1, side), layout="constrained")
    image = draw_confusion(ax, counts, class_names)
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
        pred, true = str(class_names[p]), str(class_names[y])
        # long class names go on lines of their own rather than run into the next image's title
        short = len(pred) + len(true) <= 20
        sep = " / " if short else "\n/ "
        ax.set_title(
            f"{pred}{sep}{true} ({mark})\nloss {loss:.2f}", color=colour, fontsize=None if short else 8
        )
    n_right = sum(int(p) == int(y) for p, y in zip(predicted, labels, strict=True))
    suptitle(fig, f"{title} (predicted / true, highest loss first; {n_right} of {n} correct, green)")
    return fig
