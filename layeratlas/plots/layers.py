"""Figures across layers: metrics versus depth, CKA heatmaps, learning curves of the linear layer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from layeratlas.plots import colorbar, set_title, suptitle

# Panels of the metric-versus-depth plot: (title, columns, log scale, y label).
DEPTH_PANELS = (
    (
        "test accuracy of classifiers on the features",
        (
            "linear_probe_accuracy",
            "knn_accuracy",
            "ncm_l2_accuracy",
            "ncm_l1_accuracy",
            "random_forest_accuracy",
            "linear_adam_accuracy",
        ),
        False,
        "test accuracy",
    ),
    ("silhouette of the classes", ("silhouette",), False, "silhouette (-1..1, higher: more separated)"),
    ("Davies-Bouldin index", ("davies_bouldin",), True, "Davies-Bouldin (lower: more separated)"),
    ("inter / intra-class variance", ("inter_to_intra_ratio",), True, "mean inter / mean intra"),
    ("NC1 (within-class collapse)", ("nc1",), True, "NC1 (lower: more collapsed)"),
    ("NC2 to NC4", ("nc2_equinorm", "nc2_max_angle", "nc3", "nc4"), False, "value (lower: more collapsed)"),
)

# Words for the summary's columns in legends.
COLUMN_WORDS = {
    "linear_probe_accuracy": "linear probe",
    "knn_accuracy": "k nearest neighbours",
    "ncm_l2_accuracy": "nearest class mean (L2)",
    "ncm_l1_accuracy": "nearest class mean (L1)",
    "random_forest_accuracy": "random forest",
    "linear_adam_accuracy": "linear layer (Adam)",
    "silhouette": "silhouette",
    "davies_bouldin": "Davies-Bouldin",
    "inter_to_intra_ratio": "inter / intra",
    "nc1": "NC1",
    "nc2_equinorm": "NC2: spread of class-mean norms",
    "nc2_max_angle": "NC2: largest angle gap to the simplex",
    "nc3": "NC3: squared distance, probe to class means",
    "nc4": "NC4: probe and nearest mean disagree",
}


def metrics_vs_depth(rows: pl.DataFrame, model: str, reference: Mapping[str, float] | None = None) -> Figure:
    """Per-layer metrics of one model in config (depth) order, a line per dataset, a panel per metric.

    ``rows``: the summary table (columns dataset, model, layer, depth and any metric of DEPTH_PANELS;
    panels whose columns are all missing are left out). ``reference``: horizontal lines on the accuracy
    panel (label -> accuracy), e.g. the trained network's own test accuracy.
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
        nrows, cols, figsize=(5.0 * cols, 3.9 * nrows + 0.4), layout="constrained", squeeze=False
    )
    layers = list(dict.fromkeys(part["layer"].to_list()))
    datasets = list(dict.fromkeys(part["dataset"].to_list()))
    styles = ["-", "--", ":", "-."]
    for ax, (title, columns, log, ylabel) in zip(axes.ravel(), panels, strict=False):
        for d_i, dataset in enumerate(datasets):
            sub = part.filter(pl.col("dataset") == dataset)
            x = [layers.index(layer) for layer in sub["layer"]]
            present = [c for c in columns if c in part.columns and part[c].is_not_null().any()]
            for c_i, column in enumerate(c for c in present if c in sub.columns):
                y = sub[column].cast(pl.Float64).to_numpy()
                words = COLUMN_WORDS.get(column, column.replace("_", " "))
                label = words if len(datasets) == 1 else f"{words} ({dataset})"
                ax.plot(x, y, styles[d_i % 4], marker="o", color=f"C{c_i}", label=label)
        if columns and columns[0].endswith("_accuracy"):
            for r_i, (name, value) in enumerate((reference or {}).items()):
                ax.axhline(value, color="black", linestyle=styles[r_i % 4], linewidth=1.2, label=name)
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
        ax.set(xlabel="layer (input to output)", ylabel=ylabel)
        set_title(ax, title)
        if len(columns) > 1 or len(datasets) > 1 or ax.get_legend_handles_labels()[0][1:]:
            ax.legend(fontsize="x-small")
    for ax in axes.ravel()[len(panels) :]:
        ax.set_visible(False)
    suptitle(fig, f"{model}: class separability through the network ({', '.join(datasets)})")
    return fig


def cka_heatmap(
    matrix: np.ndarray,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    title: str,
    axis_label: str = "layer",
) -> Figure:
    """Annotated heatmap of CKA values in [0, 1] (nan blank)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (len(row_labels), len(col_labels)):
        raise ValueError(f"matrix {matrix.shape} does not match {len(row_labels)} x {len(col_labels)} labels")
    h, w = matrix.shape
    fig, ax = plt.subplots(figsize=(max(5.5, 0.6 * w + 3.5), max(4.5, 0.5 * h + 2.5)), layout="constrained")
    im = ax.imshow(matrix, cmap="magma", vmin=0, vmax=1)
    colorbar(fig, im, ax, "linear CKA (unbiased; 0..1)")
    if h * w <= 400:
        for i in range(h):
            for j in range(w):
                if np.isfinite(matrix[i, j]):
                    colour = "black" if matrix[i, j] > 0.6 else "white"
                    ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(w), list(col_labels), rotation=45, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_yticks(range(h), list(row_labels), fontsize=8)
    ax.set(xlabel=axis_label, ylabel=axis_label)
    set_title(ax, title)
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
    suptitle(fig, title)
    return fig
