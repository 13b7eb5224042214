"""Figures across layers: metrics versus depth (one model; every model overlaid in the depth profile), CKA
heatmaps, learning curves of the linear layer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, MaxNLocator, NullFormatter

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


def depth_axis(part: pl.DataFrame) -> tuple[np.ndarray, str]:
    """x positions of one model's rows (sorted by depth): ``relative_depth`` (0 = the network's first
    module, 1 = its last), so that networks of different depth line up; config order where the summary
    lacks it."""
    if "relative_depth" in part.columns and part["relative_depth"].is_not_null().all():
        return part["relative_depth"].cast(
            pl.Float64
        ).to_numpy(), "relative depth in the network (0: first module, 1: last)"
    return part["depth"].cast(pl.Float64).to_numpy(), "layer (config order)"


def _whiskers(part: pl.DataFrame, column: str, scale: float = 1.0) -> np.ndarray | None:
    """The 95% interval of ``column`` as errorbar lengths (2, n) below and above the value, or None."""
    low, high = f"{column}_ci_low", f"{column}_ci_high"
    if low not in part.columns or high not in part.columns:
        return None
    y = part[column].cast(pl.Float64).to_numpy() * scale
    lo = part[low].cast(pl.Float64).fill_null(np.nan).to_numpy() * scale
    hi = part[high].cast(pl.Float64).fill_null(np.nan).to_numpy() * scale
    err = np.vstack([y - lo, hi - y])
    return np.where(np.isfinite(err), np.clip(err, 0, None), 0.0)


def _plot_with_ci(
    ax: Any, x: np.ndarray, part: pl.DataFrame, column: str, scale: float = 1.0, **style: Any
) -> None:
    y = part[column].cast(pl.Float64).fill_null(np.nan).to_numpy() * scale
    err = _whiskers(part, column, scale)
    if err is None:
        ax.plot(x, y, **style)
    else:
        ax.errorbar(x, y, yerr=err, capsize=3, elinewidth=1, **style)


def metrics_vs_depth(rows: pl.DataFrame, model: str, reference: Mapping[str, float] | None = None) -> Figure:
    """Per-layer metrics of one model at their relative depth in the network (config order without the
    ``relative_depth`` column), a line per dataset, a panel per metric, whiskers where the summary has
    the metric's ``_ci_low``/``_ci_high``.

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
    datasets = list(dict.fromkeys(part["dataset"].to_list()))
    first = part.filter(pl.col("dataset") == datasets[0]).unique("layer", keep="first", maintain_order=True)
    ticks, xlabel = depth_axis(first)
    where = dict(zip(first["layer"].to_list(), ticks, strict=True))
    styles = ["-", "--", ":", "-."]
    for ax, (title, columns, log, ylabel) in zip(axes.ravel(), panels, strict=False):
        for d_i, dataset in enumerate(datasets):
            sub = part.filter(pl.col("dataset") == dataset)
            x = np.array([where.get(layer, np.nan) for layer in sub["layer"]], dtype=float)
            present = [c for c in columns if c in part.columns and part[c].is_not_null().any()]
            for c_i, column in enumerate(c for c in present if c in sub.columns):
                words = COLUMN_WORDS.get(column, column.replace("_", " "))
                label = words if len(datasets) == 1 else f"{words} ({dataset})"
                style = {"linestyle": styles[d_i % 4], "marker": "o", "color": f"C{c_i}", "label": label}
                _plot_with_ci(ax, x, sub, column, **style)
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
        ax.set_xticks(ticks, list(where), rotation=30, ha="right", rotation_mode="anchor")
        if xlabel.startswith("relative"):  # the whole network's span, so the spacing means depth
            ax.set_xlim(-0.05, 1.05)
        ax.set(xlabel=xlabel, ylabel=ylabel)
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
                    ax.text(  # inside its cell: no margin to make, so constrained layout skips it
                        j,
                        i,
                        f"{matrix[i, j]:.2f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color=colour,
                        in_layout=False,
                    )
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


# Panels of the depth profile: (column, title, log scale, percent). The linear layer (Adam) stands in for
# the linear probe when only it was run.
PROFILE_PANELS = (
    ("linear_probe_accuracy", "linear-probe test accuracy (higher: more separable)", False, True),
    ("linear_adam_accuracy", "linear layer (Adam) test accuracy (higher: more separable)", False, True),
    ("inter_to_intra_ratio", "inter / intra-class variance (higher: more separable)", True, False),
    ("silhouette", "silhouette of the features (higher: better separated)", False, False),
    ("nc1", "NC1, within-class variability (lower: more collapsed)", True, False),
)


def depth_profile(summary: pl.DataFrame, models: Sequence[str] | None = None, *, title: str = "") -> Figure:
    """Linear-probe accuracy, inter/intra ratio, silhouette and NC1 against depth, every model overlaid,
    with 95% whiskers where the summary has the metric's ``_ci_low``/``_ci_high``.

    ``summary``: rows of one dataset of the summary table (model, layer, depth, the metrics and, where
    known, relative_depth). x is the layer's relative depth in its network (0 = first module, 1 = last),
    so networks of different depth line up, each point named by its layer on the first panel; without
    relative_depth, each model's layer position in the config. Panels whose metric is absent are left out.
    """
    models = list(models or dict.fromkeys(summary["model"].to_list()))
    present = lambda c: c in summary.columns and summary[c].is_not_null().any()  # noqa: E731
    panels = [p for p in PROFILE_PANELS if present(p[0])]
    if present("linear_probe_accuracy"):
        panels = [p for p in panels if p[0] != "linear_adam_accuracy"]
    cols = 2 if len(panels) == 4 else max(1, len(panels))  # 2 x 2 stays readable on the front page
    rows = -(-max(1, len(panels)) // cols)
    fig, grid = plt.subplots(
        rows, cols, figsize=(5.2 * cols, 3.9 * rows + 0.5), squeeze=False, layout="constrained"
    )
    axes = grid.ravel()
    if not panels:
        axes[0].text(0.5, 0.5, "no depth-profile metric was computed", ha="center", va="center")
        axes[0].set_axis_off()
        return fig
    colours = plt.get_cmap("Dark2")
    markers = "osD^vP*X"
    relative = "relative_depth" in summary.columns and summary["relative_depth"].is_not_null().all()
    ticks: dict[float, list[str]] = {}
    point_labels: list[tuple[float, float, str, tuple]] = []  # (x, y, layer, colour) on the first panel
    xlabel = ""
    for i, model in enumerate(models):
        part = summary.filter(pl.col("model") == model).sort("depth")
        x, xlabel = depth_axis(part)
        if relative:  # models side by side at a shared depth, so that whiskers do not hide each other
            x = x + 0.012 * (i - (len(models) - 1) / 2)
        for d, layer in zip(x, part["layer"], strict=True):
            names = ticks.setdefault(float(d), [])
            if layer not in names:
                names.append(layer)
        style = {"marker": markers[i % len(markers)], "color": colours(i % colours.N), "label": model}
        for ax, (column, _, _, percent) in zip(axes, panels, strict=False):
            _plot_with_ci(ax, x, part, column, 100.0 if percent else 1.0, **style)
        if relative:  # the x axis is a fraction: name each point by its layer on the first panel
            y = part[panels[0][0]].cast(pl.Float64).fill_null(np.nan).to_numpy() * (
                100 if panels[0][3] else 1
            )
            point_labels += [
                (float(xi), float(yi), str(layer), style["color"])
                for xi, yi, layer in zip(x, y, part["layer"], strict=True)
                if np.isfinite(yi)
            ]
    labels = {d: "\n".join(names) for d, names in ticks.items()}
    for ax, (_, name, log, percent) in zip(axes, panels, strict=False):
        ax.set_title(name, fontsize="medium")
        if relative:
            ax.set_xlim(-0.05, 1.08)
        else:
            ax.set_xticks(
                sorted(labels), [labels[d] for d in sorted(labels)], fontsize="small", rotation=30, ha="right"
            )
        ax.set_xlabel(xlabel)
        if percent:
            ax.set_ylabel("%")
        if log:
            ax.set_yscale("log")
            # ticks at 1, 2, 5 per decade written as plain numbers (2, not 2 x 10^0)
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.grid(alpha=0.3)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=min(len(names), 4), frameon=False)
    if title:
        fig.suptitle(title)
    if point_labels:
        place_point_labels(axes[0], point_labels)
    return fig


def place_point_labels(ax: Axes, labels: Sequence[tuple[float, float, str, Any]], tries: int = 4) -> None:
    """Name points of ``ax`` (x, y, text, colour), each just below-right of its point where that is free:
    two models' layers at the same relative depth and accuracy otherwise print their names on top of
    each other. Where it is not, the label tries above the point, then a line further below, above, ...
    (``tries`` lines each way), and turns to the left of its point where it would leave the axes on the
    right; it stays inside the axes. Labels are placed left to right, higher points first."""
    fig = ax.figure
    fig.canvas.draw()  # the layout and limits as they will be drawn: overlaps are measured in pixels
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    placed: list = []
    for x, y, text, colour in sorted(labels, key=lambda label: (label[0], -label[1])):
        note = ax.annotate(text, (x, y), xytext=(3, -9), textcoords="offset points", fontsize="x-small",
                           color=colour)  # fmt: skip
        line = note.get_window_extent(renderer).height * 72 / fig.dpi + 1  # points
        offsets = [(-9 - k * line, +3 + k * line)[j] for k in range(tries + 1) for j in (0, 1)]
        choice = None
        for dy in offsets:
            for dx, ha in ((3, "left"), (-3, "right")):
                note.set(position=(dx, dy), ha=ha)
                box = note.get_window_extent(renderer)
                inside = (
                    box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y0 >= frame.y0 and box.y1 <= frame.y1
                )
                if inside and not any(box.overlaps(other) for other in placed):
                    choice = (dx, dy, ha, box)
                    break
            if choice:
                break
        if choice is None:  # nowhere free: below-right as before
            note.set(position=(3, -9), ha="left")
            choice = (3, -9, "left", note.get_window_extent(renderer))
        placed.append(choice[3])
