"""Datasets as uint8 image arrays (N, H, W, C) with labels, class names and a seeded stratified split.

On disk a prepared dataset is a folder: ``images.npy`` (uint8 NHWC), ``index.parquet``
(sample_id, split, label, class_name) and ``dataset.json`` (name, class names, image shape).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from layeratlas.io import atomic_path, read_json, write_json, write_parquet

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ImageDataset:
    name: str
    images: np.ndarray  # (N, H, W, C) uint8
    labels: np.ndarray  # (N,) int64, index into class_names
    class_names: tuple[str, ...]
    split: np.ndarray  # (N,) str, one of SPLITS

    @property
    def sample_ids(self) -> np.ndarray:
        return np.arange(len(self.labels), dtype=np.int64)

    def index(self) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "sample_id": self.sample_ids,
                "split": self.split.astype(str),
                "label": self.labels.astype(np.int64),
                "class_name": [self.class_names[i] for i in self.labels],
            }
        )


def load_sklearn_digits() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """scikit-learn's 1,797 real 8x8 handwritten digits (pixel values 0..16), as uint8 0..255."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    return images, digits.target.astype(np.int64), tuple(str(i) for i in range(10))


SOURCES: dict[str, Callable[[], tuple[np.ndarray, np.ndarray, tuple[str, ...]]]] = {
    "sklearn_digits": load_sklearn_digits,
}


def per_class_subset(labels: np.ndarray, max_per_class: int, seed: int) -> np.ndarray:
    """Sorted indices of at most ``max_per_class`` samples of each class, picked with ``seed``."""
    rng = np.random.default_rng(seed)
    keep = [rng.permutation(np.flatnonzero(labels == c))[:max_per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(keep))


def stratified_split(labels: np.ndarray, fractions: Mapping[str, float], seed: int) -> np.ndarray:
    """Assign each sample to a split so that every class is divided in the given proportions.

    Within a class the samples are shuffled with ``seed`` and cut at the rounded cumulative
    fractions, so the split is deterministic and every class appears in every non-empty split.
    """
    unknown = set(fractions) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown split name(s) {sorted(unknown)}; allowed: {', '.join(SPLITS)}")
    rng = np.random.default_rng(seed)
    out = np.empty(len(labels), dtype="<U5")
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        start = 0
        cumulative = 0.0
        for name in SPLITS:
            cumulative += fractions.get(name, 0.0)
            stop = len(idx) if name == SPLITS[-1] else int(round(cumulative * len(idx)))
            out[idx[start:stop]] = name
            start = stop
    return out


def build_dataset(name: str, spec: Mapping, seed: int) -> ImageDataset:
    """Load the source named in a validated dataset config and split it."""
    images, labels, class_names = SOURCES[spec["source"]]()
    if spec.get("max_per_class"):
        keep = per_class_subset(labels, spec["max_per_class"], seed)
        images, labels = images[keep], labels[keep]
    split = stratified_split(labels, spec["split"], seed)
    return ImageDataset(name, np.ascontiguousarray(images), labels, class_names, split)


def save_dataset(ds: ImageDataset, folder: str | os.PathLike) -> None:
    folder = Path(folder)
    with atomic_path(folder / "images.npy") as tmp:
        np.save(tmp, ds.images)
    write_parquet(ds.index(), folder / "index.parquet")
    write_json(
        {
            "name": ds.name,
            "class_names": list(ds.class_names),
            "image_shape": list(ds.images.shape[1:]),
            "n_samples": int(len(ds.labels)),
            "split_counts": {s: int((ds.split == s).sum()) for s in SPLITS},
        },
        folder / "dataset.json",
    )


def load_dataset(folder: str | os.PathLike, mmap: bool = True) -> ImageDataset:
    folder = Path(folder)
    meta = read_json(folder / "dataset.json")
    index = pl.read_parquet(folder / "index.parquet")
    images = np.load(folder / "images.npy", mmap_mode="r" if mmap else None)
    if len(images) != index.height:
        raise ValueError(
            f"{folder}: images.npy has {len(images)} images but index.parquet {index.height} rows"
        )
    return ImageDataset(
        meta["name"],
        images,
        index["label"].to_numpy(),
        tuple(meta["class_names"]),
        index["split"].to_numpy().astype(str),
    )


def select_split(split: np.ndarray, which: str) -> np.ndarray:
    """Boolean mask of the samples in split ``which`` ("all" selects every sample)."""
    if which == "all":
        return np.ones(len(split), dtype=bool)
    if which not in SPLITS:
        raise ValueError(f"unknown split {which!r}; choose one of all, {', '.join(SPLITS)}")
    return split == which
