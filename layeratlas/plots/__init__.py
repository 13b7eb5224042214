"""Every figure of layeratlas, one module per figure family; this module sets the headless backend and
the one figure style they all use (fonts, resolution, class colours, colour bars, titles, numbers) and
holds what they share (saving, image display).

- ``embeddings``: class-coloured 2-D maps and image-thumbnail maps
- ``classes``: class variances, class-mean images, confusion grids of the probes
- ``layers``: metrics versus depth, CKA heatmaps, learning curves of the linear layer
- ``training``: training curves, confusion matrix and highest-loss images of a training run
- ``inspection``: filters, activation maps, top patches, dead units
- ``robustness``: accuracy versus severity, feature drift, the clean/corrupted 2 x 2 grid

Style conventions (every figure):
- fonts: ``STYLE`` (9 pt text, 10 pt axes titles, 11 pt figure titles); PNGs at ``DPI``;
- classes: ``class_colours`` (tab10 up to 10 classes, tab20 up to 20, then repeating), by class id, so a
  class keeps its colour across figures; legends of classes are titled ``"class"``;
- colour bars always carry a label with the quantity and its unit (``colorbar``); sequential
  quantities use ``SEQUENTIAL``, signed ones ``DIVERGING`` on a range symmetric around zero;
- titles are wrapped to the width they have (``suptitle``, ``set_title``), never clipped;
- numbers in one figure share one format (``number_format``).
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Iterable, Sequence

import matplotlib

matplotlib.use("Agg")  # headless: figures are only ever written to files

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colorbar import Colorbar
from matplotlib.colors import Colormap, ListedColormap
from matplotlib.figure import Figure

from layeratlas.io import atomic_path

DPI = 150
STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.title_fontsize": 8,
    "figure.titlesize": 11,
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "image.cmap": "viridis",
    "axes.grid": False,
}
SEQUENTIAL = "viridis"
DIVERGING = "RdBu_r"
OUTSIDE_IMAGE = (0.85, 0.45, 0.1)  # orange: pixels outside the image (padding), unlike any gray value
CORRECT, WRONG = "tab:green", "tab:red"

plt.rcParams.update(STYLE)


def class_colours(n_classes: int) -> Colormap:
    """The colour map of classes: index it with ``colour_of(cmap, class_id)``."""
    return plt.get_cmap("tab10" if n_classes <= 10 else "tab20")


def colour_of(cmap: Colormap, class_id: int) -> tuple[float, float, float, float]:
    n = cmap.N if isinstance(cmap, ListedColormap) else 256
    return cmap(int(class_id) % n)


def colorbar(fig: Figure, mappable, ax: Axes | Iterable[Axes], label: str, **kwargs) -> Colorbar:  # noqa: ANN001
    """A colour bar that always says what it shows (quantity and unit)."""
    if not label:
        raise ValueError("a colour bar needs a label (quantity and unit)")
    bar = fig.colorbar(mappable, ax=ax, **kwargs)
    bar.set_label(label)
    return bar


def _wrap(text: str, width_inches: float, fontsize: float) -> str:
    """``text`` wrapped (at spaces, or at ', ' and ' / ') to lines that fit ``width_inches`` at
    ``fontsize`` points, an average character being ~0.58 em wide."""
    chars = max(12, int(width_inches * 72 / (0.58 * fontsize)))
    lines = []
    for line in str(text).split("\n"):
        lines.extend(textwrap.wrap(line, chars, break_on_hyphens=False) or [""])
    return "\n".join(lines)


def suptitle(fig: Figure, text: str, **kwargs) -> None:
    """The figure's title, wrapped to the figure's width."""
    size = matplotlib.font_manager.FontProperties(size=kwargs.get("fontsize", STYLE["figure.titlesize"]))
    fig.suptitle(_wrap(text, fig.get_figwidth() * 0.95, size.get_size_in_points()), **kwargs)


def set_title(ax: Axes, text: str, **kwargs) -> None:
    """An axes title wrapped to the axes' width (the figure's width for narrow axes)."""
    size = matplotlib.font_manager.FontProperties(size=kwargs.get("fontsize", STYLE["axes.titlesize"]))
    # Before layout, an axes spans the default subplot fraction (0.775) of its grid cell; constrained
    # layout widens it, so scale back to the cell, within the figure's width.
    fig_width = ax.figure.get_figwidth()
    width = min(ax.get_position().width * fig_width / 0.775, 0.95 * fig_width)
    ax.set_title(_wrap(text, max(width, 2.5), size.get_size_in_points()), **kwargs)


def number_format(values: np.ndarray | Iterable[float], digits: int = 3) -> str:
    """One format spec for all ``values`` of a figure: fixed point with as many decimals as the largest
    magnitude needs for ``digits`` significant digits (761 and 1160, not 761 and 1.16e+03); scientific
    only when the largest is below 0.001 or at least 1e6."""
    finite = np.abs(np.asarray(list(values) if not isinstance(values, np.ndarray) else values, float))
    finite = finite[np.isfinite(finite)]
    largest = float(finite.max()) if finite.size else 1.0
    if largest == 0:
        return ".0f"
    if largest < 1e-3 or largest >= 1e6:
        return f".{digits - 1}e"
    return f".{max(0, digits - 1 - math.floor(math.log10(largest)))}f"


def class_ticks(names: Sequence[str]) -> dict:
    """Tick-label options: upright for short class names (digits), slanted when they would collide."""
    if max((len(str(n)) for n in names), default=0) <= 3:
        return {}
    return {"rotation": 45, "ha": "right", "rotation_mode": "anchor"}


def image_for_display(image: np.ndarray) -> tuple[np.ndarray, str | None]:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    return image, ("gray" if image.ndim == 2 else None)


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = DPI) -> None:
    """Write ``fig`` to ``path`` atomically (see ``layeratlas.io.atomic_path``) and close it.

    The format follows the suffix of ``path``.
    """
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi)
    finally:
        plt.close(fig)
