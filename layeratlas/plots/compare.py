"""Two models (or layers) side by side, as the seeds compare them by hand: the same 2-D map on shared axis
ranges, per-class intra-class variance as grouped bars, and inter-class variance heatmaps on one colour
scale."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.figure import Figure

from layeratlas.plots import (
    MANY_CLASSES,
    SEQUENTIAL,
    budget_size,
    class_axis,
    class_colours,
    cluster_order,
    colorbar,
    legend_or_note,
    many_classes,
    set_title,
    suptitle,
)
from layeratlas.plots.classes import top_bottom_dots
from layeratlas.plots.embeddings import scatter_classes


def _check_two(names: Sequence[str], tables: Sequence[pl.DataFrame]) -> None:
    if len(names) != 2 or len(tables) != 2:
        raise ValueError(f"need two names and two tables, got {len(names)} and {len(tables)}")


def maps_side_by_side(
    names: Sequence[str], maps: Sequence[pl.DataFrame], class_names: Sequence[str], *, title: str = ""
) -> Figure:
    """Two embedding tables (columns x, y, label) in two panels with the same x and y ranges."""
    _check_two(names, maps)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2), sharex=True, sharey=True, layout="constrained")
    cmap = class_colours(len(class_names))
    present: set[int] = set()
    for ax, name, table in zip(axes, names, maps, strict=True):
        labels = table["label"].to_numpy()
        present.update(
            int(c) for c in scatter_classes(ax, table.select("x", "y").to_numpy(), labels, class_names, cmap)
        )
        set_title(ax, name)
        ax.set_xticks([])  # the coordinates of a 2-D map mean nothing by themselves
        ax.set_yticks([])
    note = legend_or_note(fig, present, class_names, cmap)
    if title or note:
        suptitle(fig, " ".join(filter(None, [title, note])))
    return fig


def intra_grouped_bars(names: Sequence[str], tables: Sequence[pl.DataFrame], *, title: str = "") -> Figure:
    """Per-class intra-class variance of two models as grouped bars (tables: class_id, class_name,
    intra_class_variance); classes in class-id order, missing ones left empty. Above ``MANY_CLASSES``
    classes a sorted dot plot of both models: the classes where the first model is most and least
    spread."""
    _check_two(names, tables)
    classes = sorted(
        {(int(i), str(n)) for t in tables for i, n in t.select("class_id", "class_name").iter_rows()}
    )
    colours = ("#4c72b0", "#dd8452")
    columns = []
    for table in tables:
        lookup = dict(zip(table["class_id"].to_list(), table["intra_class_variance"].to_list(), strict=True))
        columns.append(np.array([lookup.get(i, np.nan) for i, _ in classes], dtype=np.float64))
    title = title or "Intra-class variance per class (dashed: mean over classes; lower: more compact)"
    if many_classes(len(classes)):
        return top_bottom_dots(
            dict(zip(names, columns, strict=True)),
            [n for _, n in classes],
            title,
            xlabel="intra-class variance (squared feature units)",
            what=f"most spread in {names[0]}",
            colours=colours,
        )
    x = np.arange(len(classes))
    width = 0.4
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(classes) + 2), 4.2), layout="constrained")
    for k, (name, values) in enumerate(zip(names, columns, strict=True)):
        ax.bar(x + (k - 0.5) * width, values, width, label=name, color=colours[k])
        ax.axhline(np.nanmean(values), color=colours[k], linestyle="--", linewidth=1)
    ax.set_xticks(
        x,
        [n for _, n in classes],
        rotation=45 if len(classes) > 10 else 0,
        ha="right" if len(classes) > 10 else "center",
    )
    ax.set(xlabel="class", ylabel="intra-class variance (squared feature units)")
    ax.legend(frameon=False)
    set_title(ax, title)
    return fig


def inter_matrix(table: pl.DataFrame) -> tuple[np.ndarray, list[str]]:
    """The symmetric class x class matrix of an inter-class table (class_a_id, class_a, class_b_id,
    class_b, inter_class_variance; one row per pair a < b); zeros on the diagonal."""
    names: dict[int, str] = {}
    for ia, a, ib, b in table.select("class_a_id", "class_a", "class_b_id", "class_b").iter_rows():
        names[int(ia)], names[int(ib)] = str(a), str(b)
    ids = sorted(names)
    pos = {c: k for k, c in enumerate(ids)}
    matrix = np.zeros((len(ids), len(ids)))
    for ia, ib, v in table.select("class_a_id", "class_b_id", "inter_class_variance").iter_rows():
        matrix[pos[int(ia)], pos[int(ib)]] = matrix[pos[int(ib)], pos[int(ia)]] = v
    return matrix, [names[c] for c in ids]


def inter_heatmaps(names: Sequence[str], tables: Sequence[pl.DataFrame], *, title: str = "") -> Figure:
    """The inter-class variance matrices of two models on one colour scale (one shared colour bar).
    Above ``MANY_CLASSES`` classes both in one order, a clustering of the first model's matrix, with
    thinned labels."""
    _check_two(names, tables)
    matrices = [inter_matrix(t) for t in tables]
    vmax = max(float(m.max()) for m, _ in matrices) or 1.0
    n = max(len(c) for _, c in matrices)
    many = many_classes(n) and len(matrices[0][1]) == len(matrices[1][1])
    size = 6.0 if many else min(6.0, 2.5 + 0.3 * n)
    fig, axes = plt.subplots(
        1, 2, figsize=budget_size(2 * size + 1.2, size + (1.8 if many else 0.0)), layout="constrained"
    )
    image = None
    order = cluster_order(matrices[0][0]) if many else None
    for i, (ax, name, (matrix, classes)) in enumerate(zip(axes, names, matrices, strict=True)):
        if many:
            image = ax.imshow(matrix[np.ix_(order, order)], cmap=SEQUENTIAL, vmin=0, vmax=vmax)
            shown = [classes[j] for j in order]
            class_axis(ax, "x", shown, size - 1.8, fontsize=6)
            if i == 0:
                class_axis(ax, "y", shown, size - 1.8, fontsize=6)
            else:
                ax.set_yticks([])
                ax.set_ylabel("class (order of the left panel)")
        else:
            image = ax.imshow(matrix, cmap=SEQUENTIAL, vmin=0, vmax=vmax)
            ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize="small")
            ax.set_yticks(range(len(classes)), classes, fontsize="small")
            ax.set(xlabel="class", ylabel="class")
        set_title(ax, name)
    colorbar(fig, image, list(axes), "inter-class variance (squared distance of class means)", shrink=0.85)
    title = title or "Inter-class variance, one colour scale"
    if many:
        title += (
            f"\n({n} classes in one order, a clustering of {names[0]}'s class means; "
            f"no numbers above {MANY_CLASSES} classes)"
        )
    suptitle(fig, title)
    return fig
