"""The explorer's data: the embedding tables read and aligned by sample id (one row per image, an x/y
column pair per map and embedding), the seeded sample of images, the thumbnails as small data URIs, the
class colours."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import polars as pl

from layeratlas.io import Pathish

NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
# Thumbnails are stored at their own size up to this many pixels (larger images are shrunk) and drawn
# larger by the browser with nearest-neighbour scaling: 8x8 digits cost ~100 bytes each, not ~1 kB.
THUMB_MAX_PX = 32
LOSSLESS_MAX_BYTES = 1024

_PATH = re.compile(r"embedding_(?P<embedding>[a-z]+)\.parquet$")


def read_embedding_tables(paths: Sequence[Pathish]) -> dict[tuple[str, str], dict[str, pl.DataFrame]]:
    """``.../{model}/{layer}/embedding_{embedding}.parquet`` files -> {(model, layer): {embedding: table}},
    in the order of ``paths`` (the maps' order on the page)."""
    maps: dict[tuple[str, str], dict[str, pl.DataFrame]] = {}
    for path in map(Path, paths):
        match = _PATH.search(path.name)
        if not match:
            raise ValueError(
                f"{path}: not an embedding table (expected .../<model>/<layer>/embedding_<x>.parquet)"
            )
        key = (path.parent.parent.name, path.parent.name)
        maps.setdefault(key, {})[match["embedding"]] = pl.read_parquet(path)
    return maps


def thumbnail_uri(image: np.ndarray, max_px: int = THUMB_MAX_PX) -> str:
    """A uint8 (H, W, C) image as a data URI, shrunk to at most ``max_px`` on its longer side: PNG, or
    WebP when the PNG would exceed LOSSLESS_MAX_BYTES and the WebP is smaller.

    Gray images are inverted (dark ink on white), as every figure of layeratlas draws them (gray_r).
    """
    from PIL import Image

    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = 255 - image[..., 0]
    picture = Image.fromarray(np.ascontiguousarray(image))
    if max(picture.size) > max_px:
        picture.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    encoded, mime = buffer.getvalue(), "png"
    if len(encoded) > LOSSLESS_MAX_BYTES:
        # Photos (CIFAR-10: ~1.9 kB as PNG) are ~6x smaller as lossy WebP, which every current browser shows;
        # small gray images (digits, MNIST) stay lossless.
        buffer = io.BytesIO()
        try:
            picture.save(buffer, format="WEBP", quality=85)
        except (OSError, KeyError):  # a Pillow built without WebP
            pass
        else:
            if len(buffer.getvalue()) < len(encoded):
                encoded, mime = buffer.getvalue(), "webp"
    return f"data:image/{mime};base64," + base64.b64encode(encoded).decode("ascii")


def subsample(n: int, max_points: int, seed: int) -> np.ndarray:
    """Sorted row numbers of a seeded sample of ``max_points`` of ``n`` rows (all rows when n <= cap)."""
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, got {max_points}")
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))


def aligned(maps: Mapping[tuple[str, str], Mapping[str, pl.DataFrame]]) -> tuple[pl.DataFrame, dict]:
    """One row per image (sample_id, label, class_name) and {(model, layer): {embedding: (x, y)}} aligned
    to its rows. Every map must hold the same images (it is the same dataset and split)."""
    if not maps:
        raise ValueError("no embedding tables: the explorer needs at least one (model, layer) map")
    first_key, first = next(iter(maps.items()))
    base = next(iter(first.values())).select("sample_id", "label", "class_name")
    ids = base["sample_id"]
    if ids.is_duplicated().any():
        raise ValueError(f"embedding of {'/'.join(first_key)} repeats sample ids")
    coords: dict[tuple[str, str], dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for key, tables in maps.items():
        for embedding, table in tables.items():
            if table.height != base.height or not table["sample_id"].is_in(ids).all():
                raise ValueError(
                    f"embedding {embedding} of {'/'.join(key)} holds {table.height} images, not the same "
                    f"{base.height} as {'/'.join(first_key)}: were they computed on another split?"
                )
            table = base.select("sample_id").join(table, on="sample_id", how="left", maintain_order="left")
            xy = (table["x"].to_numpy().astype(np.float32), table["y"].to_numpy().astype(np.float32))
            coords.setdefault(key, {})[embedding] = xy
    return base, coords


def palette(n_classes: int) -> list[str]:
    """The class colours of the report's figures (``plots.class_colours``), by class id, as hex."""
    from matplotlib.colors import to_hex

    from layeratlas.plots import class_colours, colour_of

    cmap = class_colours(n_classes)
    return [to_hex(colour_of(cmap, i)) for i in range(n_classes)]


def split_words(splits: Sequence[str]) -> str:
    """The splits for the page title: 'test split', or 'train, val, test splits' in that order."""
    order = {"train": 0, "val": 1, "test": 2}
    present = sorted(set(splits), key=lambda s: (order.get(s, 3), s))
    return f"{present[0]} split" if len(present) == 1 else f"{', '.join(present)} splits"
