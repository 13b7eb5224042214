"""Class-coloured 2-D maps of embeddings and maps of image thumbnails."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

from layeratlas.plots import (
    class_colours,
    colour_of,
    image_for_display,
    legend_or_note,
    many_classes,
    prefer_palette,
    set_title,
)

THUMBNAILS_PER_CLASS = 15  # at most this many images of each class on a thumbnail map
MAX_THUMBNAILS = 300  # and this many in all: more overlap into a carpet where no image can be seen


def scatter_classes(
    ax: Axes, coords: np.ndarray, labels: np.ndarray, class_names: Sequence[str], cmap: Colormap
) -> np.ndarray:
    """Draw 2-D ``coords`` on ``ax``, one labelled colour per class id; returns the class ids present."""
    present = np.unique(labels)
    for c in present:
        mask = labels == c
        ax.scatter(
            coords[mask, 0],
            coords[mask, 1],
            s=6,
            alpha=0.7,
            color=colour_of(cmap, int(c)),
            label=str(class_names[int(c)]),
            linewidths=0,
        )
    return present


def class_legend(ax: Axes, n: int, title: str = "class", **kwargs) -> None:
    """The class legend beside the axes, titled, in columns of at most 25 entries."""
    ax.legend(
        title=title,
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
        markerscale=3,  # points are tiny; legend dots must be readable
        frameon=False,
        ncol=-(-n // 25),
        **kwargs,
    )


def class_scatter(
    coords: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    title: str,
    *,
    xlabel: str = "",
    ylabel: str = "",
) -> Figure:
    """Scatter of 2-D ``coords`` coloured by class; ``class_names`` is indexed by class id.

    Colours follow the class id (not its rank among the classes present), so a class keeps its
    colour across layers and methods. Above ``MANY_CLASSES`` classes no legend: the title says where to
    find a class (and whether colours repeat).
    """
    coords, labels = np.asarray(coords), np.asarray(labels)
    if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) != len(labels):
        raise ValueError(f"need coords of shape (n, 2) and n labels, got {coords.shape} and {labels.shape}")
    cmap = class_colours(len(class_names))
    fig, ax = plt.subplots(figsize=(7.5, 5.5), layout="constrained")
    present = scatter_classes(ax, coords, labels, class_names, cmap)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    if many_classes(len(class_names)):
        title = f"{title} {legend_or_note(ax, present, class_names, cmap)}"
    else:
        class_legend(ax, len(present))
    set_title(ax, title)
    return fig


def per_class_sample(labels: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """Sorted positions of a seeded sample of at most ``cap`` items of each class in ``labels``."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(labels):
        where = np.flatnonzero(labels == c)
        keep.append(where if len(where) <= cap else rng.choice(where, cap, replace=False))
    return np.sort(np.concatenate(keep)) if keep else np.empty(0, dtype=np.int64)


def thumbnail_map(
    coords: np.ndarray,
    images: np.ndarray,
    labels: np.ndarray,
    title: str,
    *,
    zoom: float = 1.0,
    class_names: Sequence[str] | None = None,
    background: tuple[np.ndarray, np.ndarray] | None = None,
    xlabel: str = "",
    ylabel: str = "",
    max_thumbnails: int = MAX_THUMBNAILS,
) -> Figure:
    """The 2-D map with each point drawn as its image, framed in its class colour (legend: the class
    names). ``background`` (coords, labels) of all points is drawn first as small class-coloured dots,
    so the clusters stay visible under a subsample of thumbnails. Beyond ``max_thumbnails`` images a
    seeded sample with as many of each class is drawn; above ``MANY_CLASSES`` classes no legend."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    coords = np.asarray(coords, dtype=np.float64)
    if len(coords) != len(images) or len(coords) != len(labels):
        raise ValueError(f"{len(coords)} points, {len(images)} images and {len(labels)} labels")
    labels = np.asarray(labels)
    if len(labels) > max_thumbnails:
        keep = per_class_sample(labels, max(1, max_thumbnails // len(np.unique(labels))), seed=0)
        coords, images, labels = coords[keep], np.asarray(images)[keep], labels[keep]
    n_classes = len(class_names) if class_names is not None else int(labels.max(initial=0)) + 1
    names = [str(n) for n in class_names] if class_names is not None else [str(c) for c in range(n_classes)]
    cmap = class_colours(n_classes)
    fig, ax = plt.subplots(figsize=(10.5, 9), layout="constrained")
    if background is not None:
        bx, by = np.asarray(background[0], dtype=np.float64), np.asarray(background[1])
        ax.scatter(bx[:, 0], bx[:, 1], s=4, c=[colour_of(cmap, int(c)) for c in by], alpha=0.35, lw=0)
    else:
        ax.scatter(coords[:, 0], coords[:, 1], s=0)  # sets the limits
    for (x, y), image, label in zip(coords, images, labels, strict=True):
        image, gray = image_for_display(image)
        box = OffsetImage(image, zoom=zoom, cmap=gray)
        ax.add_artist(
            AnnotationBbox(
                box,
                (x, y),
                frameon=True,
                pad=0.05,
                bboxprops={"edgecolor": colour_of(cmap, int(label)), "linewidth": 1.5},
            )
        )
    present = [int(c) for c in np.unique(labels)]
    if many_classes(n_classes):
        title = f"{title} {legend_or_note(ax, present, names, cmap)}"
    else:
        legend_or_note(ax, present, names, cmap, marker="s", markersize=9, markerfacecolor="none",
                       markeredgewidth=2, title="class (frame)")  # fmt: skip
    ax.set(xlabel=xlabel, ylabel=ylabel)
    set_title(ax, title)
    return prefer_palette(fig)  # hundreds of thumbnails: 0.6-0.9 MB each in full colour at 100 classes
