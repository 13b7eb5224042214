"""Maximally activating dataset patches: per channel, the k images whose strongest response is highest,
where that response is, and the patch of the image its unit sees (its receptive field)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from layeratlas.inspection.receptive_field import Field


@dataclass
class TopUnits:
    """Per channel (rows) the k best images (columns), best first: response, image position, unit."""

    score: np.ndarray  # (C, k) float64, -inf where fewer than k images were seen
    image: np.ndarray  # (C, k) int64 position in the dataset (-1: none yet)
    y: np.ndarray  # (C, k) int64 unit row (0 for vectors)
    x: np.ndarray  # (C, k) int64 unit column

    @classmethod
    def empty(cls, channels: int, k: int) -> TopUnits:
        shape = (channels, k)
        zeros = np.zeros(shape, dtype=np.int64)
        return cls(np.full(shape, -np.inf), np.full(shape, -1, dtype=np.int64), zeros, zeros.copy())


def strongest_units(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per image and channel of (N, C, H, W) maps or (N, C) vectors: the highest response and its (y, x)."""
    maps = np.asarray(maps)
    if maps.ndim == 2:
        zeros = np.zeros(maps.shape, dtype=np.int64)
        return maps.astype(np.float64), zeros, zeros
    if maps.ndim != 4:
        raise ValueError(f"need (N, C, H, W) maps or (N, C) vectors, got shape {maps.shape}")
    n, c, h, w = maps.shape
    flat = maps.reshape(n, c, h * w)
    where = flat.argmax(axis=2)
    best = np.take_along_axis(flat, where[..., None], axis=2)[..., 0]
    return best.astype(np.float64), where // w, where % w


def update_top(top: TopUnits, maps: np.ndarray, offset: int) -> TopUnits:
    """Merge a batch of maps (images ``offset``, ``offset + 1``, ...) into the running top-k.

    Each image counts once per channel (at its strongest unit); ties keep the earlier image."""
    channels, k = top.score.shape
    best, ys, xs = strongest_units(np.asarray(maps)[:, :channels])
    n = best.shape[0]
    score = np.concatenate([top.score, best.T], axis=1)
    image = np.concatenate([top.image, np.broadcast_to(np.arange(offset, offset + n), (channels, n))], axis=1)
    y = np.concatenate([top.y, ys.T], axis=1)
    x = np.concatenate([top.x, xs.T], axis=1)
    order = _order(score, image)[:, :k]
    pick = lambda a: np.take_along_axis(a, order, axis=1)  # noqa: E731
    return TopUnits(pick(score), pick(image), pick(y), pick(x))


def _order(score: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Per row: descending score, then ascending image position (empty slots, image -1, last)."""
    empty = image < 0
    key_image = np.where(empty, np.iinfo(np.int64).max, image)
    return np.stack([np.lexsort((key_image[r], -score[r])) for r in range(score.shape[0])])


def top_table(top: TopUnits, field: Field, sample_ids: np.ndarray, input_hw: tuple[int, int]) -> pl.DataFrame:
    """One row per (channel, rank): sample id, response, unit and its receptive-field box (model-input
    pixels; the box may reach past the image edge, where the network sees padding)."""
    rows = []
    channels, k = top.score.shape
    for c in range(channels):
        for r in range(k):
            if top.image[c, r] < 0:
                continue
            box = field.box(int(top.y[c, r]), int(top.x[c, r]), input_hw)
            rows.append(
                {
                    "channel": c,
                    "rank": r + 1,
                    "sample_id": int(sample_ids[top.image[c, r]]),
                    "activation": float(top.score[c, r]),
                    "unit_y": int(top.y[c, r]),
                    "unit_x": int(top.x[c, r]),
                    "top": box[0],
                    "left": box[1],
                    "bottom": box[2],
                    "right": box[3],
                }
            )
    columns = (
        "channel",
        "rank",
        "sample_id",
        "activation",
        "unit_y",
        "unit_x",
        "top",
        "left",
        "bottom",
        "right",
    )
    return pl.DataFrame(rows, schema={c: pl.Float64 if c == "activation" else pl.Int64 for c in columns})


def crop(image: np.ndarray, box: tuple[int, int, int, int], fill: int = 255) -> np.ndarray:
    """Crop (H, W, C) ``image`` to ``box`` (top, left, bottom, right), filling what lies outside it."""
    image = np.asarray(image)
    top, left, bottom, right = box
    h, w = image.shape[:2]
    out = np.full((bottom - top, right - left, *image.shape[2:]), fill, dtype=image.dtype)
    t, lft, b, r = max(top, 0), max(left, 0), min(bottom, h), min(right, w)
    if b > t and r > lft:
        out[t - top : b - top, lft - left : r - left] = image[t:b, lft:r]
    return out


def clip_wide(box: tuple[int, int, int, int], input_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """``box`` clipped to the image along each axis where it is at least as wide as the image (a field
    larger than the input would otherwise show a small image inset in a canvas of padding)."""
    top, left, bottom, right = box
    h, w = input_hw
    if bottom - top >= h:
        top, bottom = 0, h
    if right - left >= w:
        left, right = 0, w
    return top, left, bottom, right


def crop_rgb(
    image: np.ndarray, box: tuple[int, int, int, int], outside: tuple[float, float, float]
) -> np.ndarray:
    """(h, w, 3) float RGB in [0, 1] of ``image`` (H, W, 1 or 3 uint8) cropped to ``box``, with the
    pixels outside the image (the network's padding) in the colour ``outside``, unlike any gray value."""
    image = np.asarray(image)
    inside = crop(np.ones(image.shape[:2] + (1,), dtype=np.uint8), box, fill=0)[..., 0].astype(bool)
    patch = crop(image, box, fill=0).astype(np.float64) / 255.0
    if patch.shape[-1] == 1:
        patch = np.repeat(patch, 3, axis=-1)
    patch[~inside] = outside
    return patch
