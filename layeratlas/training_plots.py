"""Figures of a training run's test predictions: confusion matrix and the highest-loss test images."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # headless: figures are only ever written to files

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def confusion_figure(counts: np.ndarray, class_names: Sequence[str], title: str) -> Figure:
    """Confusion matrix (rows: true class, columns: predicted), coloured by row fraction, with counts."""
    counts = np.asarray(counts)
    k = len(class_names)
    if counts.shape != (k, k):
        raise ValueError(f"confusion matrix of shape {counts.shape} for {k} class names")
    fractions = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    side = max(4.5, 0.45 * k + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1, side), layout="constrained")
    image = ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    if k <= 30:
        for i in range(k):
            for j in range(k):
                if counts[i, j]:
                    colour = "white" if fractions[i, j] > 0.5 else "black"
                    ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize="small", color=colour)
    ticks = np.arange(k)
    ax.set_xticks(ticks, [str(c) for c in class_names], rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(ticks, [str(c) for c in class_names])
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    ax.set(xlabel="predicted class", ylabel="true class", title=f"{title} (accuracy {accuracy:.3f})")
    fig.colorbar(image, ax=ax, label="fraction of the true class")
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
    """A grid of uint8 NHWC ``images`` titled ``predicted / true / loss`` (as fastai's plot_top_losses)."""
    images = np.asarray(images)
    n = len(images)
    if not (n == len(labels) == len(predicted) == len(losses)):
        raise ValueError("images, labels, predictions and losses differ in length")
    columns = max(1, min(columns, n))
    rows = max(1, -(-n // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 2.6 * rows + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, y, p, loss in zip(axes.flat, images, labels, predicted, losses, strict=False):
        gray = image.shape[-1] == 1
        ax.imshow(image[..., 0] if gray else image, cmap="gray" if gray else None, vmin=0, vmax=255)
        ax.set_title(f"{class_names[p]} / {class_names[y]}\nloss {loss:.2f}", fontsize="small")
    fig.suptitle(f"{title}\n(predicted / true, highest loss first)")
    fig.tight_layout()
    return fig
