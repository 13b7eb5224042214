"""Class-coloured 2-D maps of embeddings and maps of image thumbnails."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

from layeratlas.plots import image_for_display


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
            color=cmap(int(c) % cmap.N),
            label=str(class_names[int(c)]),
            linewidths=0,
        )
    return present


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
    colour across layers and methods. Beyond 20 classes the tab20 colours repeat.
    """
    coords, labels = np.asarray(coords), np.asarray(labels)
    if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) != len(labels):
        raise ValueError(f"need coords of shape (n, 2) and n labels, got {coords.shape} and {labels.shape}")
    cmap = plt.get_cmap("tab10" if len(class_names) <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(7.5, 5.5), layout="constrained")
    present = scatter_classes(ax, coords, labels, class_names, cmap)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.legend(
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
        markerscale=3,  # points are tiny; legend dots must be readable
        frameon=False,
        fontsize="small",
        ncol=-(-len(present) // 25),  # wrap long legends into columns of at most 25
    )
    return fig


def thumbnail_map(
    coords: np.ndarray, images: np.ndarray, labels: np.ndarray, title: str, *, zoom: float = 1.0
) -> Figure:
    """The 2-D map with each point drawn as its image, framed in its class colour."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    coords = np.asarray(coords, dtype=np.float64)
    if len(coords) != len(images) or len(coords) != len(labels):
        raise ValueError(f"{len(coords)} points, {len(images)} images and {len(labels)} labels")
    fig, ax = plt.subplots(figsize=(10, 10), layout="constrained")
    ax.scatter(coords[:, 0], coords[:, 1], s=0)  # sets the limits
    cmap = plt.get_cmap("tab10")
    for (x, y), image, label in zip(coords, images, labels, strict=True):
        image, gray = image_for_display(image)
        box = OffsetImage(image, zoom=zoom, cmap=gray)
        ax.add_artist(
            AnnotationBbox(
                box, (x, y), frameon=True, pad=0.05, bboxprops={"edgecolor": cmap(int(label) % 10)}
            )
        )
    ax.set_title(title)
    return fig
