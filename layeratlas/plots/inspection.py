"""Figures of a network's insides: filter grids, feature maps beside their image, top patches, dead units.

Grids are drawn as one mosaic image per panel (not one axes per tile), so a 64-map figure stays cheap."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.figure import Figure


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


def _show(ax, image: np.ndarray, **kwargs) -> object:  # noqa: ANN001
    ax.set_axis_off()
    if image.ndim == 3:  # RGB with NaN gaps: white there
        image = np.where(np.isnan(image), 1.0, image)
        return ax.imshow(np.clip(image, 0, 1), interpolation="nearest")
    cmap = plt.get_cmap(kwargs.pop("cmap", "gray")).with_extremes(bad="white")
    return ax.imshow(np.ma.masked_invalid(image), cmap=cmap, interpolation="nearest", **kwargs)


def filter_grid(tiles: np.ndarray, title: str, note: str | None = None, per_channel: bool = False) -> Figure:
    """First-layer tiles (F, kh, kw) gray or (F, kh, kw, 3) RGB as a square grid; with ``per_channel``,
    (F, C, kh, kw) tiles as one row per filter and one column per input channel."""
    tiles = np.asarray(tiles)
    if per_channel:  # (F, C, kh, kw)
        f, c = tiles.shape[:2]
        image = mosaic(tiles.reshape(f * c, *tiles.shape[2:]), cols=c)
        size = (min(14.0, max(5.0, 1.0 + 0.35 * c)), min(14.0, max(3.0, 1.2 + 0.35 * f)))
    else:
        image = mosaic(tiles)
        side = min(12.0, 2.0 + 0.5 * math.sqrt(len(tiles)))
        size = (side, side + 0.4)
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    _show(ax, image)
    if note:
        ax.set_title(note, fontsize="small")
    fig.suptitle(title)
    return fig


def _tiles(maps: np.ndarray, channels: int) -> np.ndarray:
    """The first ``channels`` maps (C, H, W), or a vector (C,) as 1x1 tiles."""
    maps = np.asarray(maps, dtype=np.float64)[:channels]
    return maps[:, None, None] if maps.ndim == 1 else maps


def activation_figure(
    image: np.ndarray, post: np.ndarray, pre: np.ndarray | None, channels: int, title: str, relu: str | None
) -> Figure:
    """An input image (H, W, C uint8) beside the first ``channels`` maps of one layer for it: after and
    (when ``pre`` is given) before the layer's ReLU. Each channel is divided by its largest |response|
    (over both panels), so weak channels stay visible and a channel reads the same in both panels."""
    panels = [("after " + relu if relu else "output", _tiles(post, channels))]
    if pre is not None:
        panels.insert(0, ("before " + (relu or "ReLU"), _tiles(pre, channels)))
    scale = np.max([np.abs(t).reshape(len(t), -1).max(axis=1) for _, t in panels], axis=0)
    scale = np.where(scale > 0, scale, 1.0)[:, None, None]
    signed = any((t < 0).any() for _, t in panels)
    fig, axes = plt.subplots(
        1,
        len(panels) + 1,
        figsize=(3.2 + 4.6 * len(panels), 4.9),
        layout="constrained",
        gridspec_kw={"width_ratios": [0.6] + [1.0] * len(panels)},
    )
    image = np.asarray(image)
    gray = image.shape[-1] == 1
    axes[0].imshow(image[..., 0] if gray else image, cmap="gray" if gray else None)
    axes[0].set_axis_off()
    axes[0].set_title("input", fontsize="small")
    kind = "units" if np.asarray(post).ndim == 1 else "channels"
    for ax, (name, tiles) in zip(axes[1:], panels, strict=True):
        im = _show(
            ax,
            mosaic(tiles / scale),
            cmap="RdBu_r" if signed else "viridis",
            vmin=-1 if signed else 0,
            vmax=1,
        )
        ax.set_title(f"{name}: first {len(tiles)} {kind}", fontsize="small")
    bar = fig.colorbar(im, ax=axes[1:], shrink=0.8)
    bar.set_label("response / the channel's largest |response|", fontsize="small")
    fig.suptitle(title)
    return fig


def patches_figure(
    patches: Sequence[Sequence[np.ndarray]], scores: np.ndarray, title: str, note: str
) -> Figure:
    """Row per channel, column per rank: each patch (h, w, C uint8) with its response above it."""
    rows = len(patches)
    cols = max((len(r) for r in patches), default=1)
    fig, axes = plt.subplots(
        rows, cols + 1, figsize=(1.3 * (cols + 1), 1.35 * rows + 0.8), squeeze=False, layout="constrained"
    )
    for r, row in enumerate(patches):
        axes[r, 0].set_axis_off()
        axes[r, 0].text(0.5, 0.5, f"channel {r}", ha="center", va="center", fontsize="small")
        for c in range(cols):
            ax = axes[r, c + 1]
            if c >= len(row):
                ax.set_axis_off()
                continue
            patch = np.asarray(row[c])
            ax.imshow(patch[..., 0] if patch.shape[-1] == 1 else patch, cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])  # a frame, not axis off: the white padding outside the image stays visible
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_edgecolor("0.6")
            ax.set_title(f"{scores[r, c]:.3g}", fontsize="x-small", pad=2)
    width = max(30, int(12 * (cols + 1)))
    fig.suptitle("\n".join([title, *textwrap.wrap(note, width)]), fontsize="medium")
    return fig


def dead_units_figure(table: pl.DataFrame, title: str) -> Figure:
    """Horizontal bar per layer of the fraction of dead channels (with the count)."""
    layers = table["layer"].to_list()
    fractions = table["dead_fraction"].to_numpy()
    fig, ax = plt.subplots(figsize=(7.0, 1.2 + 0.22 * max(len(layers), 1)), layout="constrained")
    y = np.arange(len(layers))
    ax.barh(y, fractions, color="tab:red")
    for i, (dead, channels) in enumerate(zip(table["dead"], table["channels"], strict=True)):
        ax.text(min(fractions[i], 1.0) + 0.01, i, f"{dead}/{channels}", va="center", fontsize="x-small")
    ax.set_yticks(y, layers, fontsize="x-small" if len(layers) > 15 else "small")
    ax.invert_yaxis()  # forward order top to bottom
    ax.set_xlim(0, 1.1)
    ax.set(xlabel="fraction of channels never above 0", title=title)
    return fig
