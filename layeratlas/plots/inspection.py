"""Figures of a network's insides: filter grids, feature maps beside their image, top patches, dead units.

Grids are drawn as one mosaic image per panel (not one axes per tile), so a 64-map figure stays cheap;
their axes carry the tile indices."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from layeratlas.plots import (
    DIVERGING,
    DPI,
    OUTSIDE_IMAGE,
    SEQUENTIAL,
    colorbar,
    lay_out,
    prefer_palette,
    set_title,
    suptitle,
)


def mosaic(tiles: np.ndarray, cols: int | None = None, gap: int = 1) -> np.ndarray:
    """Lay (n, h, w) or (n, h, w, 3) tiles on a grid (``cols`` wide, square-ish by default) with NaN
    gaps between them, as one (H, W) or (H, W, 3) float image (NaN is drawn as the background)."""
    tiles = np.asarray(tiles, dtype=np.float64)
    n, h, w = tiles.shape[:3]
    cols = cols or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap, *tiles.shape[3:]), np.nan)
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = tiles[i]
    return out


def _show(ax: Axes, image: np.ndarray, **kwargs) -> object:
    if image.ndim == 3:  # RGB with NaN gaps: white there (RGB filters put zero at mid-grey)
        image = np.where(np.isnan(image), 1.0, image)
        return ax.imshow(np.clip(image, 0, 1), interpolation="nearest")
    cmap = plt.get_cmap(kwargs.pop("cmap", "gray")).with_extremes(bad="0.8")  # gaps: not a value colour
    return ax.imshow(np.ma.masked_invalid(image), cmap=cmap, interpolation="nearest", **kwargs)


def _index_axes(
    ax: Axes, shape: tuple[int, int], cols: int, rows: int, gap: int, xlabel: str, ylabel: str, rowstep: int
) -> None:
    """Tick every tile column (index) and row (index of its first tile, ``rowstep`` apart) of a mosaic;
    labels thinned to at most ~16 per axis."""
    h, w = shape
    for axis, n, size, step, label in ((ax.xaxis, cols, w, 1, xlabel), (ax.yaxis, rows, h, rowstep, ylabel)):
        every = max(1, math.ceil(n / 16))
        where = [i * (size + gap) + (size - 1) / 2 for i in range(0, n, every)]
        axis.set_ticks(where, [str(i * step) for i in range(0, n, every)])
        axis.set_label_text(label)
    ax.tick_params(length=0, labelsize=7)
    for spine in ax.spines.values():
        spine.set_visible(False)


def _square_side(n: int) -> int:
    return max(1, math.ceil(math.sqrt(n)))


def filter_grid(tiles: np.ndarray, title: str, note: str | None = None, per_channel: bool = False) -> Figure:
    """A square grid of filters with their indices. RGB tiles (F, kh, kw, 3) in [0, 1] with 0.5 = zero
    (``filters.first_layer_tiles``); raw weights (F, kh, kw), or with ``per_channel`` (F, C, kh, kw) as
    one row per filter and one column per input channel, on one colour scale symmetric around zero with
    a colour bar in weight units. Depthwise weights (C = 1) are laid as a square grid of filters."""
    tiles = np.asarray(tiles, dtype=np.float64)
    if per_channel and tiles.shape[1] == 1:  # depthwise: one kernel per channel
        tiles, per_channel = tiles[:, 0], False
    if per_channel:  # (F, C, kh, kw)
        f, c = tiles.shape[:2]
        cols, rows, rowstep = c, f, 1
        image = mosaic(tiles.reshape(f * c, *tiles.shape[2:]), cols=c)
        labels = ("input channel", "filter")
        size = (min(14.0, max(4.6, 2.4 + 0.32 * c)), min(14.0, max(4.0, 1.6 + 0.32 * f)))
    else:
        cols = _square_side(len(tiles))
        rows, rowstep = math.ceil(len(tiles) / cols), cols
        image = mosaic(tiles, cols=cols)
        labels = ("filter index: column", "filter index: row start")
        side = min(11.0, 3.0 + 0.5 * math.sqrt(len(tiles)))
        size = (side + (0 if tiles.ndim == 4 else 1.2), side + 0.6)
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    if tiles.ndim == 4 and not per_channel:  # RGB, already in [0, 1]
        _show(ax, image)
        scale = "each filter scaled by its largest |weight|: mid-grey = 0"
    else:
        peak = float(np.nanmax(np.abs(image))) or 1.0
        im = _show(ax, image, cmap=DIVERGING, vmin=-peak, vmax=peak)
        colorbar(fig, im, ax, "weight (0 = white; shared scale)", shrink=0.8)
        scale = None
    _index_axes(ax, tiles.shape[-3:-1] if tiles.ndim == 4 and not per_channel else tiles.shape[-2:],
                cols, rows, 1, *labels, rowstep)  # fmt: skip
    set_title(ax, "; ".join(p for p in (note, scale) if p), fontsize=8)
    suptitle(fig, title)
    return fig


def _tiles(maps: np.ndarray, channels: int) -> np.ndarray:
    """The first ``channels`` maps (C, H, W)."""
    return np.asarray(maps, dtype=np.float64)[:channels]


class _Panel(NamedTuple):
    """A panel of maps in an activation figure: its title, its mosaic, the mosaic's tile grid."""

    title: str
    image: np.ndarray
    cols: int
    rows: int
    tile: tuple[int, int]


def _activation_panels(
    post: np.ndarray, pre: np.ndarray | None, channels: int, relu: str | None
) -> tuple[list[_Panel], bool]:
    """The panels of an activation figure (before the ReLU, when given; after it): the first ``channels``
    maps, each divided by its largest |response| over both panels; and whether any map is signed (a
    colour scale around zero)."""
    panels = [("after " + relu if relu else "output", _tiles(post, channels))]
    if pre is not None:
        panels.insert(0, ("before " + (relu or "ReLU"), _tiles(pre, channels)))
    scale = np.max([np.abs(t).reshape(len(t), -1).max(axis=1) for _, t in panels], axis=0)
    scale = np.where(scale > 0, scale, 1.0)[:, None, None]
    signed = any((t < 0).any() for _, t in panels)
    out = []
    for name, tiles in panels:
        cols = _square_side(len(tiles))
        out.append(
            _Panel(
                f"{name}: first {len(tiles)} channels",
                mosaic(tiles / scale, cols=cols),
                cols,
                math.ceil(len(tiles) / cols),
                tiles.shape[1:],
            )  # fmt: skip
        )
    return out, signed


def activation_figure(
    image: np.ndarray, post: np.ndarray, pre: np.ndarray | None, channels: int, title: str, relu: str | None
) -> Figure:
    """An input image (H, W, C uint8) beside the first ``channels`` maps of one layer for it: after and
    (when ``pre`` is given) before the layer's ReLU. Maps: each channel divided by its largest |response|
    (over both panels), so weak channels stay visible and a channel reads the same in both panels.
    A vector layer (units, no map) is drawn as a bar per unit on one shared axis in response units, so
    magnitudes compare across units."""
    if np.asarray(post).ndim == 1:
        return _vector_figure(image, post, pre, title, relu)
    return _map_figure(image, *_activation_panels(post, pre, channels, relu), title)


def _map_figure(image: np.ndarray, panels: list[_Panel], signed: bool, title: str) -> Figure:
    fig, axes = plt.subplots(
        1,
        len(panels) + 1,
        figsize=(3.4 + 4.8 * len(panels), 5.4),
        layout="constrained",
        gridspec_kw={"width_ratios": [0.6] + [1.0] * len(panels)},
    )
    _input_panel(axes[0], image)
    for ax, panel in zip(axes[1:], panels, strict=True):
        im = _show(
            ax,
            panel.image,
            cmap=DIVERGING if signed else SEQUENTIAL,
            vmin=-1 if signed else 0,
            vmax=1,
        )
        _index_axes(ax, panel.tile, panel.cols, panel.rows, 1,
                    "channel: column", "channel: row start", panel.cols)  # fmt: skip
        set_title(ax, panel.title, fontsize=8)
    colorbar(fig, im, axes[1:], "response / the channel's largest |response| (per channel)", shrink=0.8)
    suptitle(fig, title)
    return fig


def _layout_key(fig: Figure) -> tuple:
    """Every text that sizes ``fig``'s constrained layout: per axes its tick labels, axis labels and
    titles; of the figure title only its line count (the layout reads its height; it is centred)."""
    title = fig.get_suptitle()
    axes = tuple(
        (
            tuple(t.get_text() for axis in (ax.xaxis, ax.yaxis) for t in axis.get_ticklabels()),
            ax.get_xlabel(),
            ax.get_ylabel(),
            tuple(ax.get_title(loc) for loc in ("left", "center", "right")),
            ax.get_subplotspec() and ax.get_subplotspec().get_geometry(),
        )
        for ax in fig.axes
    )
    return (tuple(fig.get_size_inches()), title.count("\n") if title else None, axes)


class SharedLayout:
    """One constrained layout for a series of figures alike but for their data (a layer's activation
    maps of ten images): laying a figure out costs about a third of drawing it. ``apply`` lays a figure
    out once (at the resolution it is saved at) and fixes its axes there, or, where every text that sizes
    the layout matches a figure laid out before (``_layout_key``), gives it that figure's positions."""

    def __init__(self, dpi: int = DPI) -> None:
        self.dpi = dpi
        self._layouts: dict[tuple, tuple] = {}
        self.reused = 0  # how many figures took a stored layout (tests count it)

    def apply(self, fig: Figure) -> Figure:
        if fig.get_layout_engine() is None:
            return fig
        key = _layout_key(fig)
        stored = self._layouts.get(key)
        if stored is None:
            lay_out(fig, self.dpi)
            title = fig._suptitle  # noqa: SLF001 (constrained layout moves it; matplotlib has no getter)
            stored = (
                [(a.get_position(original=True), a.get_anchor(), a.get_box_aspect()) for a in fig.axes],
                title.get_position() if title is not None else None,
            )
            self._layouts[key] = stored
        else:
            for ax, (position, anchor, aspect) in zip(fig.axes, stored[0], strict=True):
                ax._set_position(position)  # noqa: SLF001 (as constrained layout sets it: both positions)
                ax.set_anchor(anchor)
                ax.set_box_aspect(aspect)
            if stored[1] is not None:
                fig._suptitle.set_position(stored[1])  # noqa: SLF001
            self.reused += 1
        fig.set_layout_engine(None)  # laid out (see lay_out)
        return fig


class ActivationFigures:
    """A layer's activation figures (``activation_figure``) of a series of images, drawn with as few
    figures as their differences allow. Building and laying out a figure cost about half of writing one
    (issue 22), and the figures of one layer differ mostly in data: where a figure of the same make was
    drawn before (input and mosaic shapes, colour scale signed or not, a title of as many lines), it
    takes the new input image, mosaics and title and is saved again, the same pixels as a fresh figure
    (tests compare them). Otherwise a fresh figure is built and laid out (``SharedLayout``). Bars of a
    vector layer are always drawn fresh: their axis limits, tick labels and titles follow the data."""

    def __init__(self, channels: int, relu: str | None, dpi: int = DPI) -> None:
        self.channels, self.relu = channels, relu
        self.layout = SharedLayout(dpi)
        self.created = 0  # figures built (tests count them)
        self._figures: dict[tuple, tuple[Figure, int, tuple[float, float]]] = {}

    def figure(self, image: np.ndarray, post: np.ndarray, pre: np.ndarray | None, title: str) -> Figure:
        """The laid-out figure of one image. Save it (``save_figure``) before asking for the next image's:
        that may be the same figure with other data."""
        if np.asarray(post).ndim == 1:
            self.created += 1
            # laid out alone (by save_figure): their tick labels follow the data, so a stored layout never
            # fits (0 of 10 in the default run) and SharedLayout's key (every tick label) costs 0.06 CPU-s
            return _vector_figure(image, post, pre, title, self.relu)
        panels, signed = _activation_panels(post, pre, self.channels, self.relu)
        shown = _input_image(image)
        key = (shown.shape, signed, tuple((p.image.shape, p.cols, p.title) for p in panels))
        if key in self._figures:
            fig, lines, position = self._figures[key]
            suptitle(fig, title)
            text = fig._suptitle  # noqa: SLF001 (as in SharedLayout: matplotlib has no getter)
            if text.get_text().count("\n") == lines:  # the same layout: only the data change
                text.set_position(position)  # suptitle put it back where constrained layout started it
                FigureCanvasAgg(fig)  # saving closed it (to pyplot: a bare canvas); one to draw on again
                fig.axes[0].get_images()[0].set_data(shown)
                for ax, panel in zip(fig.axes[1:], panels, strict=False):
                    ax.get_images()[0].set_data(np.ma.masked_invalid(panel.image))
                return fig
        fig = self.layout.apply(_map_figure(image, panels, signed, title))
        self.created += 1
        text = fig._suptitle  # noqa: SLF001
        self._figures[key] = (fig, text.get_text().count("\n"), text.get_position())
        return fig


def _input_image(image: np.ndarray) -> np.ndarray:
    """An input image (H, W, C uint8) as the input panel shows it: a grey one as (H, W)."""
    image = np.asarray(image)
    return image[..., 0] if image.shape[-1] == 1 else image


def _input_panel(ax: Axes, image: np.ndarray) -> None:
    gray = np.asarray(image).shape[-1] == 1
    ax.imshow(_input_image(image), cmap="gray" if gray else None, vmin=0, vmax=255)
    ax.set_axis_off()
    ax.set_title("input (as the network sees it)", fontsize=8)


def _vector_figure(
    image: np.ndarray, post: np.ndarray, pre: np.ndarray | None, title: str, relu: str | None
) -> Figure:
    """Bar strips of a vector layer's units (all of them), after and before its ReLU, one shared y axis."""
    panels = [("after " + relu if relu else "output", np.asarray(post, dtype=np.float64))]
    if pre is not None:
        panels.insert(0, ("before " + (relu or "ReLU"), np.asarray(pre, dtype=np.float64)))
    fig = plt.figure(figsize=(11, 2.2 + 2.3 * len(panels)), layout="constrained")
    grid = fig.add_gridspec(len(panels), 2, width_ratios=[0.22, 1.0])
    _input_panel(fig.add_subplot(grid[:, 0]), image)
    low = min(0.0, *(float(v.min()) for _, v in panels))
    high = max(0.0, *(float(v.max()) for _, v in panels))
    first = None
    for i, (name, values) in enumerate(panels):
        ax = fig.add_subplot(grid[i, 1], sharex=first, sharey=first)
        first = first or ax
        units = np.arange(len(values))
        colours = np.where(values >= 0, "tab:blue", "tab:red")
        # One collection of unit-wide bars: ax.bar adds one patch per unit, 20x slower for 1,280 units.
        left, right, zero = units - 0.5, units + 0.5, np.zeros_like(values)
        bars = np.stack([np.c_[left, zero], np.c_[left, values], np.c_[right, values], np.c_[right, zero]], 1)
        ax.add_collection(PolyCollection(bars, facecolors=colours, linewidths=0))
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_xlim(-0.5, len(values) - 0.5)
        ax.set_ylim(low - 0.05 * (high - low or 1), high + 0.05 * (high - low or 1))
        active = int((values > 0).sum())
        ax.set(ylabel="response", xlabel="unit" if i == len(panels) - 1 else "")
        text = f"{name}: all {len(values)} units, one scale ({active} above 0; max {values.max():.3g})"
        set_title(ax, text, fontsize=8)
    suptitle(fig, title)
    return fig


def _distinct(row: Sequence[np.ndarray], scores: np.ndarray) -> tuple[list[int], int]:
    """Ranks to show of one channel: those responding above 0, less ties (a patch equal to one already
    kept, with the same response: e.g. a unit that sees only background and padding on many images).
    Returns the kept ranks and how many tied ones were left out."""
    kept: list[int] = []
    ties = 0
    for c in range(min(len(row), len(scores))):
        if not scores[c] > 0:
            continue
        patch = np.asarray(row[c], dtype=np.float64)
        if any(
            np.isclose(scores[c], scores[k], rtol=1e-4, atol=0)
            and patch.shape == np.shape(row[k])
            and np.allclose(patch, np.asarray(row[k], dtype=np.float64), atol=1 / 255 + 1e-9)
            for k in kept
        ):
            ties += 1
            continue
        kept.append(c)
    return kept, ties


def patches_figure(
    patches: Sequence[Sequence[np.ndarray]],
    scores: np.ndarray,
    title: str,
    note: str,
    *,
    searched: int | None = None,
) -> Figure:
    """Row per channel, best first: each patch ((h, w, 3) float RGB in [0, 1], or (h, w, C) uint8) with
    its response above it. A channel whose best response is at most 0 on every image is marked "no
    response" instead of showing arbitrary images; ranks at most 0 are left out (with a count), and so
    are ties: a patch identical to one shown, at the same response (counted too)."""
    scores = np.asarray(scores, dtype=np.float64)
    rows = len(patches)
    cols = max((len(r) for r in patches), default=1)
    fig, axes = plt.subplots(
        rows, cols + 1, figsize=(1.3 * (cols + 1), 1.35 * rows + 1.3), squeeze=False, layout="constrained"
    )
    over = f" of {searched}" if searched else ""
    for r, row in enumerate(patches):
        axes[r, 0].set_axis_off()
        axes[r, 0].text(0.5, 0.5, f"channel {r}", ha="center", va="center", fontsize=8)
        finite = scores[r][np.isfinite(scores[r])]
        kept, ties = _distinct(row, scores[r])
        for ax in axes[r, 1:]:
            ax.set_axis_off()
        for ax, c in zip(axes[r, 1:], kept, strict=False):
            patch = np.asarray(row[c])
            ax.set_axis_on()
            if patch.dtype == np.uint8:
                ax.imshow(patch[..., 0] if patch.shape[-1] == 1 else patch, cmap="gray", vmin=0, vmax=255)
            else:
                ax.imshow(np.clip(patch, 0, 1), interpolation="nearest")
            ax.set_xticks([])  # a frame, not axis off: the patch's edge stays visible
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_edgecolor("0.6")
            ax.set_title(f"{scores[r, c]:.3g}", fontsize=7, pad=2)
        words = []
        if len(row) and not kept:
            top = f"at most {finite.max():.3g}" if finite.size else "nothing"
            every = f"all {searched} images" if searched else "every image searched"
            words.append(f"no response: {top} on {every}")
        else:
            positive = int((finite > 0).sum())
            if positive < len(row):
                words.append(f"only {positive}{over} images respond above 0")
            if ties:
                words.append(f"{ties} tied patches (the same crop and response) left out")
        if words:
            at = axes[r, min(len(kept) + 1, cols)]
            label = at.text(0.05, 0.5, "\n".join(words), va="center", fontsize=8, color="tab:red",
                            transform=at.transAxes)  # fmt: skip
            label.set_in_layout(False)  # spills over the empty cells to its right, not into the layout
    width = max(30, int(12 * (cols + 1)))
    fig.suptitle("\n".join([*textwrap.wrap(title, width), *textwrap.wrap(note, width)]), fontsize=9)
    padded = any(
        p.dtype != np.uint8 and np.all(np.isclose(p, OUTSIDE_IMAGE), axis=-1).any()
        for row in patches
        for p in map(np.asarray, row)
    )
    if padded:  # say what the orange is, where it appears
        fig.legend(handles=[Patch(color=OUTSIDE_IMAGE, label="outside the image (padding)")],
                   loc="outside lower center", frameon=False)  # fmt: skip
    return prefer_palette(fig)  # 64 image crops and no colour scale: 256 colours, about a third of the bytes


def dead_units_figure(table: pl.DataFrame, title: str) -> Figure:
    """Horizontal bar per layer of the fraction of dead channels (with the count)."""
    layers = table["layer"].to_list()
    fractions = table["dead_fraction"].to_numpy()
    fig, ax = plt.subplots(figsize=(7.0, 1.6 + 0.22 * max(len(layers), 1)), layout="constrained")
    y = np.arange(len(layers))
    ax.barh(y, fractions, color="tab:red")
    for i, (dead, channels) in enumerate(zip(table["dead"], table["channels"], strict=True)):
        ax.text(min(fractions[i], 1.0) + 0.01, i, f"{dead}/{channels}", va="center", fontsize=7)
    ax.set_yticks(y, layers, fontsize=7 if len(layers) > 15 else 8)
    ax.invert_yaxis()  # forward order top to bottom
    ax.set_xlim(0, 1.1)
    ax.set(xlabel="fraction of channels never above 0", ylabel="ReLU layer (input to output)")
    set_title(ax, title)
    return fig
