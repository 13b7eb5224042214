"""Per-class figures: class variances, class-mean images and the probes' confusion grids."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from layeratlas.plots import image_for_display
from layeratlas.plots.training import draw_confusion


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


def class_mean_images(means: np.ndarray, class_names: Sequence[str], title: str) -> Figure:
    """Grid of class-mean images (K, H, W[, C]), in ``class_names`` order."""
    k = len(means)
    cols = min(k, 10)
    rows = -(-k // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(1.3 * cols, 1.4 * rows + 0.6), squeeze=False, layout="constrained"
    )
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, name in zip(axes.ravel(), means, class_names, strict=False):
        image, cmap = image_for_display(image)
        ax.imshow(image.astype(np.float64) / 255.0 if image.ndim == 3 else image, cmap=cmap)
        ax.set_title(str(name), fontsize=8)
    fig.suptitle(title)
    return fig


def confusion_grid(
    matrices: Mapping[str, np.ndarray],
    class_names: Sequence[str],
    title: str,
    accuracies: Mapping[str, float],
) -> Figure:
    """One row-normalised confusion matrix (rows: true class) per classifier, side by side."""
    k = len(class_names)
    n = len(matrices)
    if n == 0:
        raise ValueError("no confusion matrices to draw")
    side = max(3.0, 0.3 * k + 1.5)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(side * cols + 1, (side + 0.5) * rows + 0.3), layout="constrained", squeeze=False
    )
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    for ax, (name, matrix) in zip(axes.ravel(), matrices.items(), strict=False):
        try:
            im = draw_confusion(ax, matrix, class_names, max_annotated=12, fontsize=7)
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from None
        ax.set(xlabel="predicted", ylabel="true", title=f"{name}: {accuracies.get(name, float('nan')):.3f}")
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.6, label="share of the true class")
    fig.suptitle(title)
    return fig
