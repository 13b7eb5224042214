"""The atlas: every model (rows) by every layer (columns) as class-coloured 2-D maps with one shared
legend. (The depth profile lives in plots.layers.)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.figure import Figure

from layeratlas.plots import budget_size, class_colours, legend_or_note, many_classes, suptitle
from layeratlas.plots.embeddings import scatter_classes


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
