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


def normalise(tiles: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Scale each tile to [0, 1] over ``axes`` (min -> 0, max -> 1; a constant tile -> 0.5)."""
    tiles = np.asarray(tiles, dtype=np.float64)
    low, high = tiles.min(axis=axes, keepdims=True), tiles.max(axis=axes, keepdims=True)
    span = high - low
    return np.where(span > 0, (tiles - low) / np.where(span > 0, span, 1), 0.5)


def first_layer_tiles(weight: np.ndarray, max_filters: int) -> np.ndarray:
    """(F, kh, kw, 3) RGB or (F, kh, kw) gray tiles of the first ``max_filters`` filters of a
    (F, C, kh, kw) weight, each filter normalised on its own; C must be 1 or 3."""
    weight = np.asarray(weight)[:max_filters]
    if weight.shape[1] == 3:
        return normalise(weight.transpose(0, 2, 3, 1), (1, 2, 3))
    if weight.shape[1] == 1:
        return normalise(weight[:, 0], (1, 2))
    raise ValueError(f"a first-layer grid needs 1 or 3 input channels, got {weight.shape[1]}")


def per_channel_tiles(weight: np.ndarray, max_filters: int, max_inputs: int) -> np.ndarray:
    """(F', C', kh, kw) gray tiles: the first filters x their first input channels, each filter normalised
    over all its input channels (so the strength of each input channel stays comparable)."""
    weight = np.asarray(weight)[:max_filters, :max_inputs]
    return normalise(weight, (1, 2, 3))
