"""Figures across layers: metrics versus depth, CKA heatmaps, learning curves of the linear layer."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

# Panels of the metric-versus-depth plot: (title, columns, log scale, direction hint).
DEPTH_PANELS = (
    (
        "test accuracy",
        (
            "linear_probe_accuracy",
            "knn_accuracy",
            "ncm_l2_accuracy",
            "ncm_l1_accuracy",
            "random_forest_accuracy",
            "linear_adam_accuracy",
        ),
        False,
        "higher is better",
    ),
    ("silhouette of the features", ("silhouette",), False, "higher is better separated"),
    ("Davies-Bouldin of the features", ("davies_bouldin",), True, "lower is better separated"),
    ("inter / intra-class variance", ("inter_to_intra_ratio",), True, "higher is better separated"),
    ("NC1 (within-class collapse)", ("nc1",), True, "lower is more collapsed"),
    ("NC2 to NC4", ("nc2_equinorm", "nc2_max_angle", "nc3", "nc4"), False, "lower is more collapsed"),
)


def metrics_vs_depth(rows: pl.DataFrame, model: str) -> Figure:
    """Per-layer metrics of one model in config (depth) order, a line per dataset, a panel per metric.

    ``rows``: the summary table (columns dataset, model, layer, depth and any metric of DEPTH_PANELS;
    panels whose columns are all missing are left out).
    """
    part = rows.filter(pl.col("model") == model).sort("depth")
    if part.height == 0:
        raise ValueError(f"no summary rows for model {model!r}")
    panels = [p for p in DEPTH_PANELS if any(c in part.columns and part[c].is_not_null().any() for c in p[1])]
    if not panels:
        panels = [("(no metric computed)", (), False, "")]
    cols = min(3, len(panels))
    nrows = -(-len(panels) // cols)
    fig, axes = plt.subplots(
        nrows, cols, figsize=(4.6 * cols, 3.4 * nrows), layout="constrained", squeeze=False
    )
    layers = list(dict.fromkeys(part["layer"].to_list()))
    datasets = list(dict.fromkeys(part["dataset"].to_list()))
    styles = ["-", "--", ":", "-."]
    for ax, (title, columns, log, hint) in zip(axes.ravel(), panels, strict=False):
        for d_i, dataset in enumerate(datasets):
            sub = part.filter(pl.col("dataset") == dataset)
            x = [layers.index(layer) for layer in sub["layer"]]
            for c_i, column in enumerate(c for c in columns if c in sub.columns):
                y = sub[column].cast(pl.Float64).to_numpy()
                label = column if len(datasets) == 1 else f"{column} ({dataset})"
                ax.plot(x, y, styles[d_i % 4], marker="o", color=f"C{c_i}", label=label)
        values = np.concatenate(
            [
                part[c].cast(pl.Float64).drop_nulls().drop_nans().to_numpy()
                for c in columns
                if c in part.columns
            ]
            + [np.empty(0)]
        )
        # Log scale only where it helps: positive values spanning more than a factor of 20.
        if log and len(values) and values.min() > 0 and values.max() > 20 * values.min():
            ax.set_yscale("log")
        ax.set_xticks(range(len(layers)), layers, rotation=30, ha="right", rotation_mode="anchor")
        ax.set(title=title, xlabel=f"layer ({hint})" if hint else "layer")
        if len(columns) > 1 or len(datasets) > 1:
            ax.legend(fontsize="x-small")
    for ax in axes.ravel()[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(f"{model}: class separability through the network ({', '.join(datasets)})")
    return fig


def cka_heatmap(
    matrix: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str], title: str
) -> Figure:
    """Annotated heatmap of CKA values in [0, 1] (nan blank)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (len(row_labels), len(col_labels)):
        raise ValueError(f"matrix {matrix.shape} does not match {len(row_labels)} x {len(col_labels)} labels")
    h, w = matrix.shape
    fig, ax = plt.subplots(figsize=(max(4.5, 0.6 * w + 3.5), max(3.5, 0.5 * h + 2.5)), layout="constrained")
    im = ax.imshow(matrix, cmap="magma", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, label="linear CKA (unbiased)")
    if h * w <= 400:
        for i in range(h):
            for j in range(w):
                if np.isfinite(matrix[i, j]):
                    colour = "black" if matrix[i, j] > 0.6 else "white"
                    ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(w), list(col_labels), rotation=45, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_yticks(range(h), list(row_labels), fontsize=8)
    ax.set_title(title)
    return fig


def accuracy_curves(history: pl.DataFrame, title: str) -> Figure:
    """Train loss and train/test accuracy per epoch (epoch, train_loss, train_accuracy, test_accuracy)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    epoch = history["epoch"].to_numpy()
    left.plot(epoch, history["train_loss"].to_numpy(), marker="o", markersize=3)
    left.set(xlabel="epoch", ylabel="cross-entropy", title="train loss")
    for split in ("train", "test"):
        right.plot(epoch, history[f"{split}_accuracy"].to_numpy(), marker="o", markersize=3, label=split)
    right.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    right.legend()
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title)
    return fig
