"""The atlas: every model (rows) by every layer (columns) as class-coloured 2-D maps with one shared
legend, and the depth profile: the key separability metrics of every model overlaid against layer order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

from layeratlas.plots import budget_size, class_colours, legend_or_note, many_classes, suptitle
from layeratlas.plots.embeddings import scatter_classes

# Panels of the depth profile: (column, title, log scale, percent).
PROFILE_PANELS = (
    ("linear_probe_accuracy", "linear-probe test accuracy (higher: more separable)", False, True),
    ("inter_to_intra_ratio", "inter / intra-class variance (higher: more separable)", True, False),
    ("silhouette", "silhouette of the features (higher: better separated)", False, False),
    ("nc1", "NC1, within-class variability (lower: more collapsed)", True, False),
)


def accuracy_text(value: float | Sequence[float]) -> str:
    """ "98.2%", or with its interval "98.2% [96.5, 99.1]" when ``value`` is (accuracy, low, high)."""
    acc, *ci = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if len(ci) == 2 and np.all(np.isfinite(ci)):
        return f"{100 * acc:.1f}% [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"
    return f"{100 * acc:.1f}%"


def atlas_grid(
    maps: Mapping[tuple[str, str], pl.DataFrame],
    layers: Mapping[str, Sequence[str]],
    class_names: Sequence[str],
    accuracy: Mapping[tuple[str, str], float | Sequence[float]] | None = None,
    *,
    title: str = "",
    method: str = "t-SNE",
) -> Figure:
    """A grid with a row per model and a column per layer (each model's layers in order, left-aligned).

    ``maps[(model, layer)]``: an embedding table (columns x, y, label); ``accuracy[(model, layer)]``: the
    linear-probe accuracy written in the cell's corner, or (accuracy, low, high) to write its interval
    too. Class colours follow the class id (``plots.class_colours``), as in every other map of the
    report; one legend for the whole grid, none above ``MANY_CLASSES`` classes (the title names the
    explorer instead).
    """
    models = list(layers)
    ncols = max((len(v) for v in layers.values()), default=1)
    if not models:
        raise ValueError("atlas_grid needs at least one model")
    cell = 2.6 if ncols > 3 else 3.0
    legend_width = 0.0 if many_classes(len(class_names)) else 1.6
    fig, axes = plt.subplots(
        len(models),
        ncols,
        figsize=budget_size(cell * ncols + legend_width, cell * len(models) + 0.8),
        squeeze=False,
        layout="constrained",
    )
    cmap = class_colours(len(class_names))
    present: set[int] = set()
    for r, model in enumerate(models):
        for c in range(ncols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(layers[model]):
                ax.set_axis_off()
                continue
            layer = layers[model][c]
            table = maps.get((model, layer))
            if table is None:
                ax.text(0.5, 0.5, "no map", ha="center", va="center", transform=ax.transAxes, color="gray")
            else:
                coords = table.select("x", "y").to_numpy()
                labels = table["label"].to_numpy()
                present.update(int(v) for v in scatter_classes(ax, coords, labels, class_names, cmap))
            ax.set_title(layer, fontsize="small")
            if c == 0:
                ax.set_ylabel(model, fontsize="small", fontweight="bold")
            acc = (accuracy or {}).get((model, layer))
            if acc is not None and np.isfinite(np.atleast_1d(np.asarray(acc, dtype=np.float64))[0]):
                ax.text(
                    0.02,
                    0.98,
                    accuracy_text(acc),
                    transform=ax.transAxes,
                    ha="left",
                    va="top",
                    fontsize="small",
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "0.7", "alpha": 0.85},
                )
    note = legend_or_note(fig, present, class_names, cmap)
    interval = any(np.size(v) == 3 for v in (accuracy or {}).values())
    corner = "linear-probe test accuracy" + (" [95% interval]" if interval else "")
    suptitle(
        fig, " ".join(filter(None, [title or f"{method} of every model and layer (corner: {corner})", note]))
    )
    return fig


def depth_profile(summary: pl.DataFrame, models: Sequence[str] | None = None, *, title: str = "") -> Figure:
    """Linear-probe accuracy, inter/intra ratio, silhouette and NC1 against layer order, every model overlaid.

    ``summary``: rows of one dataset of the summary table (model, layer, depth and the metrics). The x axis
    is each model's layer position (0 = first configured layer), ticks labelled with the layer names of
    every model that has a layer there. Panels whose metric is absent are left out.
    """
    models = list(models or dict.fromkeys(summary["model"].to_list()))
    panels = [p for p in PROFILE_PANELS if p[0] in summary.columns and summary[p[0]].is_not_null().any()]
    if not panels:
        raise ValueError(
            f"the summary has none of the depth-profile metrics {[p[0] for p in PROFILE_PANELS]}"
        )
    cols = 2 if len(panels) == 4 else len(panels)  # 2 x 2 stays readable at the width of the front page
    rows = -(-len(panels) // cols)
    fig, grid = plt.subplots(
        rows, cols, figsize=(5.2 * cols, 3.9 * rows + 0.5), squeeze=False, layout="constrained"
    )
    axes = grid.reshape(1, -1)
    colours = plt.get_cmap("Dark2")
    markers = "osD^vP*X"
    ticks: dict[int, list[str]] = {}
    for i, model in enumerate(models):
        part = summary.filter(pl.col("model") == model).sort("depth")
        for d, layer in zip(part["depth"], part["layer"], strict=True):
            names = ticks.setdefault(int(d), [])
            if layer not in names:
                names.append(layer)
        for ax, (column, _, _, percent) in zip(axes[0], panels, strict=True):
            values = part[column].to_numpy().astype(float) * (100 if percent else 1)
            ax.plot(
                part["depth"].to_numpy(),
                values,
                marker=markers[i % len(markers)],
                color=colours(i % colours.N),
                label=model,
            )
    labels = {d: "\n".join(names) for d, names in ticks.items()}
    for ax, (_, name, log, percent) in zip(axes[0], panels, strict=True):
        ax.set_title(name, fontsize="medium")
        ax.set_xticks(
            sorted(labels), [labels[d] for d in sorted(labels)], fontsize="small", rotation=30, ha="right"
        )
        ax.set_xlabel("layer (config order)")
        if percent:
            ax.set_ylabel("%")
        if log:
            ax.set_yscale("log")
            # ticks at 1, 2, 5 per decade written as plain numbers (2, not 2 x 10^0)
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.grid(alpha=0.3)
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=min(len(names), 4), frameon=False)
    if title:
        fig.suptitle(title)
    return fig
