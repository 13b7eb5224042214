"""Convolution filters for display: the first convolution as one (RGB or gray) tile per filter, deeper
ones as one gray tile per (filter, input channel) for the first few filters."""

from __future__ import annotations

import numpy as np
from torch import nn

from layeratlas.inspection.graph import TracedModel


def conv_layers(traced: TracedModel) -> list[tuple[str, nn.Conv2d]]:
    """Every 2-D convolution in forward order, with its layer name (a module used twice counts once)."""
    out: dict[str, nn.Conv2d] = {}
    for node in traced.compute_nodes():
        module = traced.module(node)
        if isinstance(module, nn.Conv2d):
            out.setdefault(str(node.target), module)
    return list(out.items())


def pick_filter_layers(convs: list[tuple[str, nn.Conv2d]], deeper: int) -> list[tuple[str, nn.Conv2d]]:
    """The first convolution, then the next ``deeper`` ones with a kernel larger than 1x1."""
    if not convs:
        return []
    rest = [(n, c) for n, c in convs[1:] if max(c.kernel_size) > 1]
    return [convs[0], *rest[:deeper]]


def symmetric_rgb(tiles: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Weights as RGB in [0, 1] with zero at mid-grey (0.5): each tile divided by twice its largest
    |weight| over ``axes`` (an all-zero tile stays grey), so the sign of every weight stays readable."""
    tiles = np.asarray(tiles, dtype=np.float64)
    peak = np.abs(tiles).max(axis=axes, keepdims=True)
    return 0.5 + tiles / (2 * np.where(peak > 0, peak, 1.0))


def first_layer_tiles(weight: np.ndarray, max_filters: int) -> np.ndarray:
    """Tiles of the first ``max_filters`` filters of a (F, C, kh, kw) weight: (F, kh, kw, 3) RGB in
    [0, 1], each filter scaled symmetrically (0.5 = a zero weight), for C = 3; the raw (F, kh, kw)
    weights for C = 1 (drawn on one colour scale centred on zero)."""
    weight = np.asarray(weight)[:max_filters]
    if weight.shape[1] == 3:
        return symmetric_rgb(weight.transpose(0, 2, 3, 1), (1, 2, 3))
    if weight.shape[1] == 1:
        return weight[:, 0].astype(np.float64)
    raise ValueError(f"a first-layer grid needs 1 or 3 input channels, got {weight.shape[1]}")


def per_channel_tiles(weight: np.ndarray, max_filters: int, max_inputs: int) -> np.ndarray:
    """(F', C', kh, kw) raw weights: the first filters x their first input channels (a depthwise
    convolution has C' = 1), drawn on one colour scale centred on zero so strengths stay comparable."""
    return np.asarray(weight)[:max_filters, :max_inputs].astype(np.float64)
