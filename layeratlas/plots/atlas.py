"""The atlas: every model (rows) by every layer (columns) as class-coloured 2-D maps with one shared
legend. (The depth profile lives in plots.layers.)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from layeratlas.plots.embeddings import scatter_classes


def class_cmap(n_classes: int):  # noqa: ANN201 (a matplotlib Colormap)
    """The class colours of ``plots.embeddings.class_scatter``: tab10 up to 10 classes, else tab20."""
    return plt.get_cmap("tab10" if n_classes <= 10 else "tab20")


def atlas_grid(
    maps: Mapping[tuple[str, str], pl.DataFrame],
    layers: Mapping[str, Sequence[str]],
    class_names: Sequence[str],
    accuracy: Mapping[tuple[str, str], float] | None = None,
    *,
    title: str = "",
    method: str = "t-SNE",
) -> Figure:
    """A grid with a row per model and a column per layer (each model's layers in order, left-aligned).

    ``maps[(model, layer)]``: an embedding table (columns x, y, label); ``accuracy[(model, layer)]``: the
    linear-probe accuracy written in the cell's corner. Class colours follow the class id, as in every
    other map of the report; one legend for the whole grid.
    """
    models = list(layers)
    ncols = max((len(v) for v in layers.values()), default=1)
    if not models:
        raise ValueError("atlas_grid needs at least one model")
    cell = 2.6 if ncols > 3 else 3.0
    fig, axes = plt.subplots(
        len(models),
        ncols,
        figsize=(cell * ncols + 1.6, cell * len(models) + 0.6),
        squeeze=False,
        layout="constrained",
    )
    cmap = class_cmap(len(class_names))
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
            if acc is not None and np.isfinite(acc):
                ax.text(
                    0.02,
                    0.98,
                    f"{100 * acc:.1f}%",
                    transform=ax.transAxes,
                    ha="left",
                    va="top",
                    fontsize="small",
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "0.7", "alpha": 0.85},
                )
    handles = [
        Line2D([], [], marker="o", linestyle="", color=cmap(c % cmap.N), label=str(class_names[c]))
        for c in sorted(present)
    ]
    fig.legend(
        handles=handles,
        loc="outside right center",
        frameon=False,
        fontsize="small",
        title="class",
        ncol=-(-len(handles) // 25),
    )
    fig.suptitle(title or f"{method} of every model and layer (corner: linear-probe test accuracy)")
    return fig
