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
- classes: ``class_colours`` (tab10 up to 10 classes, tab20 up to 20, tab20 + tab20b + tab20c up to 60,
  then repeating, which ``colour_note`` says), by class id, so a class keeps its colour across figures;
  legends of classes are titled ``"class"``;
- study scale: above ``MANY_CLASSES`` classes a figure changes form, not only size: heatmaps lose their
  per-cell numbers and order classes by a clustering of the class means (``cluster_order``), tick labels
  are thinned to those that fit (``class_axis``), bars become sorted dot plots of the top and bottom
  classes, and class legends leave the maps for a note naming the explorer (``legend_or_note``);
- size: a figure is at most ``MAX_PIXELS`` at the resolution it is saved at (``budget_size``);
- colour bars always carry a label with the quantity and its unit (``colorbar``); sequential
  quantities use ``SEQUENTIAL``, signed ones ``DIVERGING`` on a range symmetric around zero;
- titles are wrapped to the width they have (``suptitle``, ``set_title``), never clipped;
- numbers in one figure share one format (``number_format``).
"""

from __future__ import annotations

import io
import logging
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
MANY_CLASSES = 30  # above this many classes, figures change form (see the module notes)
MAX_PIXELS = 6_000_000  # the largest report figure at the resolution it is saved at
EXPLORER_HINT = "find a class in the embedding explorer"

plt.rcParams.update(STYLE)
log = logging.getLogger(__name__)


def class_colours(n_classes: int) -> ListedColormap:
    """The colour map of classes: index it with ``colour_of(cmap, class_id)``. Distinct colours up to 60
    classes (tab10, tab20, then tab20 + tab20b + tab20c); beyond that they repeat (``colour_note``)."""
    if n_classes <= 10:
        return plt.get_cmap("tab10")
    if n_classes <= 20:
        return plt.get_cmap("tab20")
    colours = [c for name in ("tab20", "tab20b", "tab20c") for c in plt.get_cmap(name).colors]
    return ListedColormap(colours, name="classes60")


def colour_of(cmap: Colormap, class_id: int) -> tuple[float, float, float, float]:
    n = cmap.N if isinstance(cmap, ListedColormap) else 256
    return cmap(int(class_id) % n)


def many_classes(n_classes: int) -> bool:
    """Whether a figure of ``n_classes`` takes its study-scale form (see the module notes)."""
    return n_classes > MANY_CLASSES


def colour_note(n_classes: int) -> str:
    """What a reader must know about the class colours: "" while each class has its own colour."""
    n = class_colours(n_classes).N
    return f"{n_classes} classes; colours repeat every {n}" if n_classes > n else ""


def legend_or_note(
    target: Figure | Axes, present: Iterable[int], class_names: Sequence[str], cmap: Colormap, **kwargs
) -> str:
    """One class legend (titled "class", beside ``target``) while the classes are few; above
    ``MANY_CLASSES`` no legend, and the returned note (a line for the title) names the explorer instead."""
    present = sorted(int(c) for c in present)
    if many_classes(len(class_names)):
        note = colour_note(len(class_names)) or f"{len(class_names)} classes"
        return f"\n({note}; no legend: {EXPLORER_HINT})"
    from matplotlib.lines import Line2D

    options = {"title": kwargs.pop("title", "class"), "frameon": False, "ncol": -(-len(present) // 25)}
    kwargs = {"marker": "o", "markersize": 6} | kwargs
    hollow = kwargs.get("markerfacecolor") == "none"  # frames of thumbnails: the edge carries the colour

    def handle(c: int) -> Line2D:
        colour = {"markeredgecolor" if hollow else "color": colour_of(cmap, c)}
        return Line2D([], [], linestyle="", label=str(class_names[c]), **colour, **kwargs)

    handles = [handle(c) for c in present]
    if isinstance(target, Figure):
        target.legend(handles=handles, loc="outside right center", **options)
    else:
        target.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), **options)
    return ""


def budget_size(
    width: float, height: float, dpi: int = DPI, max_pixels: int = MAX_PIXELS
) -> tuple[float, float]:
    """(width, height) in inches, scaled down in proportion where the figure would exceed ``max_pixels``
    at ``dpi``."""
    scale = min(1.0, math.sqrt(max_pixels / (width * height * dpi * dpi)))
    return width * scale, height * scale


def cluster_order(matrix: np.ndarray, *, distances: bool = True) -> np.ndarray:
    """An order of the classes that puts similar ones together: the leaves of an average-linkage
    clustering (scipy, optimal leaf ordering). ``matrix``: a symmetric (K, K) matrix of distances (e.g.
    squared distances between class means) when ``distances``, else (K, d) class means."""
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    matrix = np.nan_to_num(np.asarray(matrix, dtype=np.float64))
    if len(matrix) < 3:
        return np.arange(len(matrix))
    if distances:
        condensed = squareform(np.maximum((matrix + matrix.T) / 2, 0), checks=False)
        tree = linkage(condensed, method="average", optimal_ordering=True)
    else:
        tree = linkage(matrix, method="average", optimal_ordering=True)
    return leaves_list(tree)


def class_axis(ax: Axes, which: str, names: Sequence[str], length_inches: float, fontsize: float = 7) -> None:
    """Class tick labels on the x or y axis (``which``), thinned to every n-th where all would not fit
    the ``length_inches`` of the axis at ``fontsize``; the axis label says when they are thinned."""
    k = len(names)
    fits = max(2, int(length_inches * 72 / (1.25 * fontsize)))
    step = max(1, -(-k // fits))
    ticks = np.arange(0, k, step)
    labels = [str(names[i]) for i in ticks]
    label = "class" + (f" (1 label in {step} shown)" if step > 1 else "")
    if which == "x":
        ax.set_xticks(ticks, labels, fontsize=fontsize, rotation=90)
        ax.set_xlabel(label)
    else:
        ax.set_yticks(ticks, labels, fontsize=fontsize)
        ax.set_ylabel(label)


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


PALETTE = "layeratlas-palette"  # the group id (gid) of a figure that asks for a 256-colour PNG


def prefer_palette(fig: Figure) -> Figure:
    """Mark ``fig`` (a figure made mostly of images) to be saved in 256 colours (``save_figure``), so that
    whichever step saves it keeps its thumbnails' bytes down."""
    fig.set_gid(PALETTE)
    return fig


def _savefig(fig: Figure, path: os.PathLike, dpi: int, palette: bool) -> int:
    """``fig`` written to ``path``; returns its bytes. A PNG is rendered to raw RGBA and encoded once:
    as RGB where opaque (~10% fewer bytes than matplotlib's RGBA, the same pixels), in 256 colours where
    ``palette``. (Matplotlib's own PNG, read back and written again, cost two encodes and a decode: about
    60% of saving an activation figure, issue 22.)"""
    if not str(path).endswith(".png"):
        fig.savefig(path, dpi=dpi)
        return os.path.getsize(path)
    from PIL import Image

    raw = io.BytesIO()
    fig.savefig(raw, format="rgba", dpi=dpi)
    renderer = fig.canvas.renderer  # the one the figure was just drawn with (at dpi): its pixel size
    image = Image.frombuffer("RGBA", (int(renderer.width), int(renderer.height)), raw.getbuffer(), "raw")
    opaque = image.getchannel("A").getextrema() == (255, 255)
    if palette:
        # no dithering: flat areas stay flat (dither noise would cost bytes and look grainy)
        image = image.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
        image.save(path, format="PNG", optimize=True)
    else:
        (image.convert("RGB") if opaque else image).save(path, format="PNG")
    return os.path.getsize(path)


def lay_out(fig: Figure, dpi: int = DPI) -> Figure:
    """``fig`` laid out by its layout engine at the resolution it is saved at, and left without one: saving
    draws it once. (With an engine, matplotlib's ``savefig`` draws a figure twice: first with drawing
    switched off, to run the engine; that pass still resamples every image and lays out every text, about a
    third of saving a figure, issue 22.) As ``Figure.draw`` runs the engine: after fitting every axes (and
    child axes) to its aspect. The pixels are the same as matplotlib's own two passes (tests compare them)."""
    engine = fig.get_layout_engine()
    if engine is None:
        return fig
    if fig.axes:  # Figure.draw runs the engine only then
        before = fig.get_dpi()
        fig.set_dpi(dpi)
        renderer = fig.canvas.get_renderer()
        for ax in fig.axes:
            for child in (ax, *ax.get_children()):
                if hasattr(child, "apply_aspect"):
                    locator = child.get_axes_locator()
                    child.apply_aspect(locator(child, renderer) if locator else None)
        engine.execute(fig)
        fig.set_dpi(before)
    fig.set_layout_engine(None)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = DPI, *, palette: bool = False) -> None:
    """Write ``fig`` to ``path`` atomically (see ``layeratlas.io.atomic_path``) and close it.

    The format follows the suffix of ``path``. ``palette`` (or a figure marked by ``prefer_palette``): a
    PNG in 256 colours, for figures made mostly of images (thumbnail maps, example grids), about a third
    of the bytes of full colour; figures of colour
    scales stay in full colour (a colour bar would show bands). A PNG larger than an item of the report
    may be (``layeratlas.report.budget``) is written again at the lower resolution that fits, with a
    warning.
    """
    from layeratlas.report.budget import MAX_ITEM_BYTES

    palette = palette or fig.get_gid() == PALETTE
    engine = fig.get_layout_engine()
    try:
        with atomic_path(path) as tmp:
            size = _savefig(lay_out(fig, dpi), tmp, dpi, palette)
            while tmp.suffix == ".png" and size > MAX_ITEM_BYTES and dpi > 40:
                if engine is not None:  # laid out again at the new resolution, by matplotlib itself
                    fig.set_layout_engine(engine)
                smaller = max(40, int(dpi * math.sqrt(MAX_ITEM_BYTES / size) * 0.9))
                log.warning(
                    "%s: %s bytes at %d dpi, over the report's item budget; %d dpi",
                    path,
                    f"{size:,}",
                    dpi,
                    smaller,
                )
                dpi = smaller
                size = _savefig(fig, tmp, dpi, palette)
    finally:
        plt.close(fig)
