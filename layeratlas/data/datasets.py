"""Datasets as uint8 image arrays (N, H, W, C) with labels, class names and a seeded stratified split.

On disk a prepared dataset is a folder: ``images.npy`` (uint8 NHWC), ``index.parquet``
(sample_id, split, label, class_name) and ``dataset.json`` (name, source, class names, image shape,
split counts, corruption). ``sample_id`` is the image's position in its source (for MNIST, Fashion-MNIST
and CIFAR-10: the train images, then the test images), so a subset, a split or a corrupted copy of a
dataset keeps the ids of the clean images it came from.

Building one (``build_dataset``): read the source (``layeratlas.data.sources``), keep a per-class subset,
split it (the source's own test split where it has one), keep the configured splits, resize, and
corrupt (``layeratlas.data.corruptions``) when the config asks for it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from layeratlas.data.corruptions import CORRUPTIONS, corrupt_images
from layeratlas.data.downloads import DOWNLOADABLE, RESOURCES, DatasetFilesError, remote_files
from layeratlas.data.sources import (
    CIFAR10_C_CORRUPTIONS,
    SourceImages,
    load_sklearn_digits,
    load_source,
    resize_images,
)
from layeratlas.io import atomic_path, read_json, write_json, write_parquet, write_table

__all__ = [
    "SPLITS",
    "SOURCES",
    "ImageDataset",
    "build_dataset",
    "dataset_errors",
    "expand_datasets",
    "fraction_subset",
    "load_dataset",
    "load_sklearn_digits",
    "per_class_subset",
    "save_dataset",
    "select_split",
    "stratified_split",
]

SPLITS = ("train", "val", "test")
SOURCES = ("sklearn_digits", "mnist", "fashion_mnist", "cifar10", "cifar10_c", "image_folder")
OWN_TEST_SPLIT = ("mnist", "fashion_mnist", "cifar10")  # sources that come with a test split


@dataclass(frozen=True)
class ImageDataset:
    name: str
    images: np.ndarray  # (N, H, W, C) uint8
    labels: np.ndarray  # (N,) int64, index into class_names
    class_names: tuple[str, ...]
    split: np.ndarray  # (N,) str, one of SPLITS
    ids: np.ndarray | None = None  # (N,) int64 sample ids (position in the source); None = 0..N-1
    skipped: pl.DataFrame | None = None  # files of the source left out (path, error)
    info: Mapping[str, Any] | None = None  # what dataset.json records about its making

    @property
    def sample_ids(self) -> np.ndarray:
        if self.ids is None:
            return np.arange(len(self.labels), dtype=np.int64)
        return np.asarray(self.ids, dtype=np.int64)

    def index(self) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "sample_id": self.sample_ids,
                "split": self.split.astype(str),
                "label": self.labels.astype(np.int64),
                "class_name": [self.class_names[i] for i in self.labels],
            }
        )


# --- subsets and splits --------------------------------------------------------------------------------


def per_class_subset(labels: np.ndarray, max_per_class: int, seed: int) -> np.ndarray:
    """Sorted indices of at most ``max_per_class`` samples of each class, picked with ``seed``."""
    rng = np.random.default_rng(seed)
    keep = [rng.permutation(np.flatnonzero(labels == c))[:max_per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(keep))


def fraction_subset(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of ``fraction`` of each class (rounded, at least one), picked with ``seed``."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], not {fraction}")
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        keep.append(idx[: max(1, int(round(fraction * len(idx))))])
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


def _subset(labels: np.ndarray, spec: Mapping[str, Any], seed: int) -> np.ndarray:
    keep = np.arange(len(labels))
    if spec.get("fraction") is not None and spec["fraction"] < 1:
        keep = fraction_subset(labels, spec["fraction"], seed)
    if spec.get("max_per_class"):
        keep = keep[per_class_subset(labels[keep], spec["max_per_class"], seed)]
    return keep


def _subset_and_split(src: SourceImages, spec: Mapping[str, Any], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices into the source kept, and their split names."""
    fractions = spec.get("split") or {"train": 0.6, "val": 0.15, "test": 0.25}
    if src.part is None or not spec.get("own_test_split", True):
        keep = _subset(src.labels, spec, seed)
        return keep, stratified_split(src.labels[keep], fractions, seed)
    # The source's own test images are the test split; its train images are split into train and val
    # in the proportion train : val of the configured fractions.
    train_idx, test_idx = np.flatnonzero(src.part == "train"), np.flatnonzero(src.part == "test")
    train_idx = train_idx[_subset(src.labels[train_idx], spec, seed)]
    if spec.get("subset_test"):
        test_idx = test_idx[_subset(src.labels[test_idx], spec, seed)]
    t, v = fractions.get("train", 0.0), fractions.get("val", 0.0)
    inner = {"train": t / (t + v), "val": v / (t + v)} if t + v > 0 else {"train": 1.0}
    keep = np.concatenate([train_idx, test_idx])
    split = np.concatenate(
        [stratified_split(src.labels[train_idx], inner, seed), np.full(len(test_idx), "test")]
    )
    return keep, split


def build_dataset(
    name: str,
    spec: Mapping[str, Any],
    seed: int,
    resources: str | os.PathLike = RESOURCES,
    verify: bool = True,
) -> ImageDataset:
    """Load the source named in a validated dataset config, subset, split, resize and corrupt it."""
    src = load_source(spec, resources, verify=verify)
    keep, split = _subset_and_split(src, spec, seed)
    wanted = spec.get("splits") or list(SPLITS)
    mask = np.isin(split, wanted)
    keep, split = keep[mask], split[mask]
    images, labels, ids = src.images[keep], src.labels[keep], src.ids[keep]
    if spec.get("image_size") and spec["source"] != "image_folder":  # folders are resized while decoding
        images = resize_images(images, spec["image_size"])
    corruption = spec.get("corruption")
    if corruption and spec["source"] != "cifar10_c":  # CIFAR-10-C's corruptions are the published ones
        images = corrupt_images(images, corruption["name"], corruption["severity"], seed, ids)
    info = {
        "source": spec["source"],
        "corruption": dict(corruption) if corruption else None,
        "corruption_kind": (
            None if not corruption else "published" if spec["source"] == "cifar10_c" else "generated"
        ),
        "own_test_split": bool(src.part is not None and spec.get("own_test_split", True)),
        "n_skipped": int(src.skipped.height),
    }
    return ImageDataset(
        name, np.ascontiguousarray(images), labels, src.class_names, split, ids, src.skipped, info
    )


# --- on disk -------------------------------------------------------------------------------------------


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
            **dict(ds.info or {}),
        },
        folder / "dataset.json",
    )


def save_skipped(ds: ImageDataset, path: str | os.PathLike) -> None:
    """The files the source left out (path, error) as ``<path>.tsv`` and ``.parquet``; empty if none."""
    table = ds.skipped
    if table is None:
        table = pl.DataFrame({"path": [], "error": []}, schema={"path": pl.String, "error": pl.String})
    write_table(table, path)


def load_dataset(folder: str | os.PathLike, mmap: bool = True) -> ImageDataset:
    folder = Path(folder)
    meta = read_json(folder / "dataset.json")
    index = pl.read_parquet(folder / "index.parquet")
    try:
        images = np.load(folder / "images.npy", mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DatasetFilesError(f"{folder / 'images.npy'}: not a readable .npy array ({exc})") from exc
    if len(images) != index.height:
        raise DatasetFilesError(
            f"{folder}: images.npy has {len(images)} images but index.parquet {index.height} rows"
        )
    shape = tuple(meta.get("image_shape", images.shape[1:]))
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != shape:
        raise DatasetFilesError(
            f"{folder / 'images.npy'}: must be uint8 (N, {', '.join(map(str, shape))}) as dataset.json "
            f"says, found {images.dtype} {images.shape}; delete the folder to prepare the dataset again"
        )
    labels = index["label"].to_numpy()
    if not np.issubdtype(labels.dtype, np.integer):
        raise DatasetFilesError(f"{folder / 'index.parquet'}: labels must be integers, found {labels.dtype}")
    outside = np.flatnonzero((labels < 0) | (labels >= len(meta["class_names"])))
    if len(outside):
        raise DatasetFilesError(
            f"{folder / 'index.parquet'}: {len(outside)} label(s) outside the {len(meta['class_names'])} "
            f"classes of dataset.json, e.g. label {labels[outside[0]]} of sample id "
            f"{index['sample_id'][int(outside[0])]}"
        )
    return ImageDataset(
        meta["name"],
        images,
        index["label"].to_numpy(),
        tuple(meta["class_names"]),
        index["split"].to_numpy().astype(str),
        index["sample_id"].to_numpy(),
    )


def select_split(split: np.ndarray, which: str) -> np.ndarray:
    """Boolean mask of the samples in split ``which`` ("all" selects every sample)."""
    if which == "all":
        return np.ones(len(split), dtype=bool)
    if which not in SPLITS:
        raise ValueError(f"unknown split {which!r}; choose one of all, {', '.join(SPLITS)}")
    return split == which


# --- config helpers (called by layeratlas.config) -----------------------------------------------------


def corruption_choices(source: str) -> tuple[str, ...]:
    """Corruptions a dataset of ``source`` can name: the published arrays for cifar10_c, else generated."""
    return CIFAR10_C_CORRUPTIONS if source == "cifar10_c" else CORRUPTIONS


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


def dataset_errors(datasets: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """What the schema cannot say about ``datasets``: each message names the key and the choices."""
    errors = []
    for name, spec in datasets.items():
        where, source = f"datasets.{name}", spec["source"]
        split = spec.get("split", {})
        total = sum(split.values())
        if source in OWN_TEST_SPLIT and spec.get("own_test_split", True):
            if (
                split.get("train", 0) + split.get("val", 0) <= 0
            ):  # test is the published one; split.test unused
                errors.append(
                    f"{where}.split: train + val must be above 0 (they divide {source}'s train images)"
                )
        elif abs(total - 1.0) > 1e-6:
            errors.append(f"{where}.split: fractions sum to {total:g}, they must sum to 1")
        if source == "image_folder" and not spec.get("path"):
            errors.append(f"{where}.path: required for source 'image_folder' (a folder of class sub-folders)")
        if source != "image_folder" and spec.get("path"):
            errors.append(f"{where}.path: only for source 'image_folder', not {source!r}")
        if source == "cifar10_c" and not spec.get("corruption"):
            errors.append(
                f"{where}.corruption: required for source 'cifar10_c' (name and severity), e.g. "
                "{name: gaussian_blur, severity: 3}"
            )
        if spec.get("corruption"):
            choices = corruption_choices(source)
            for c in _as_list(spec["corruption"]["name"]):
                if c != "all" and c not in choices:
                    kind = "published CIFAR-10-C" if source == "cifar10_c" else "generated"
                    errors.append(
                        f"{where}.corruption.name: {c!r} is not a {kind} corruption; choose one of "
                        f"all, {', '.join(choices)}"
                    )
        if spec.get("checksums"):
            files = {f.path for f in remote_files(source)}
            if source not in DOWNLOADABLE:
                errors.append(f"{where}.checksums: source {source!r} has no downloaded files")
            for path in sorted(set(spec["checksums"]) - files):
                if source in DOWNLOADABLE:
                    errors.append(
                        f"{where}.checksums: {path!r} is not a file of {source}; "
                        f"its files: {', '.join(sorted(files))}"
                    )
    return errors


def expand_datasets(datasets: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """A dataset whose corruption lists several names ("all" = every one) or severities becomes one
    dataset per (corruption, severity), named ``<name>-<corruption>-<severity>``; the others stay."""
    out: dict[str, dict[str, Any]] = {}
    for name, spec in datasets.items():
        corruption = spec.get("corruption")
        if not corruption or (
            not isinstance(corruption["name"], list | tuple)
            and corruption["name"] != "all"
            and not isinstance(corruption["severity"], list | tuple)
        ):
            out[name] = dict(spec)
            continue
        names = []
        for c in _as_list(corruption["name"]):
            names += list(corruption_choices(spec["source"])) if c == "all" else [c]
        for c in dict.fromkeys(names):
            for s in sorted(set(_as_list(corruption["severity"]))):
                out[f"{name}-{c}-{s}"] = {**spec, "corruption": {"name": c, "severity": s}}
    return out


# --- sizes: how many images preparation will make, before any job ------------------------------------

# Images per class in each part of the sources with a fixed content (published counts; CIFAR-10-C:
# per (corruption, severity), the CIFAR-10 test labels). "train"/"test": the source's own split.
SOURCE_CLASS_COUNTS: dict[str, dict[str, tuple[int, ...]]] = {
    "sklearn_digits": {"all": (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)},
    "mnist": {
        "train": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
        "test": (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
    },
    "fashion_mnist": {"train": (6000,) * 10, "test": (1000,) * 10},
    "cifar10": {"train": (5000,) * 10, "test": (1000,) * 10},
    "cifar10_c": {"all": (1000,) * 10},
}


def source_class_counts(
    spec: Mapping[str, Any], root: str | os.PathLike = "."
) -> dict[str, list[int]] | None:
    """Images per class of each part of a dataset's source (``"train"``/``"test"`` for a source with
    its own test split, else ``"all"``), or None when they cannot be told (an image folder that is
    not there or breaks the layout rules). An image folder's files are counted: an upper bound when
    some will turn out unreadable."""
    source = spec["source"]
    if source in SOURCE_CLASS_COUNTS:
        return {part: list(counts) for part, counts in SOURCE_CLASS_COUNTS[source].items()}
    if source != "image_folder" or not spec.get("path"):
        return None
    from layeratlas.data.sources import image_folder_files

    try:
        classes, files = image_folder_files(Path(root) / spec["path"])
    except DatasetFilesError:
        return None
    labels = np.bincount([label for _, label in files], minlength=len(classes))
    return {"all": labels.tolist()}


def _kept_per_class(count: int, spec: Mapping[str, Any]) -> int:
    """Images ``_subset`` keeps of a class of ``count``: the same arithmetic, without the images."""
    if spec.get("fraction") is not None and spec["fraction"] < 1:
        count = max(1, int(round(spec["fraction"] * count)))
    if spec.get("max_per_class"):
        count = min(count, spec["max_per_class"])
    return count


def _split_per_class(count: int, fractions: Mapping[str, float]) -> dict[str, int]:
    """How ``stratified_split`` divides one class of ``count`` images (its very cuts, on an index)."""
    split = stratified_split(np.zeros(count, dtype=np.int64), fractions, seed=0)
    return {name: int((split == name).sum()) for name in SPLITS}


def split_sizes(
    spec: Mapping[str, Any],
    root: str | os.PathLike = ".",
    counts: Mapping[str, list[int]] | None = None,
) -> dict[str, int] | None:
    """Images in each split ({"train", "val", "test"}) of a validated dataset spec as ``build_dataset``
    will make it (subset, split, kept splits), without reading a single image; None when the source's
    counts cannot be told (``source_class_counts``). The one count behind the checks before any job
    (PCA dims, size-dependent limits, the memory pre-check). ``counts`` replaces the source's."""
    counts = source_class_counts(spec, root) if counts is None else counts
    if counts is None:
        return None
    fractions = spec.get("split") or {"train": 0.6, "val": 0.15, "test": 0.25}
    sizes = dict.fromkeys(SPLITS, 0)
    if "all" in counts or not spec.get("own_test_split", True):
        merged = [sum(c) for c in zip(*counts.values(), strict=True)]
        for count in merged:
            for name, n in _split_per_class(_kept_per_class(count, spec), fractions).items():
                sizes[name] += n
    else:  # the source's own test images are the test split; its train images make train and val
        t, v = fractions.get("train", 0.0), fractions.get("val", 0.0)
        inner = {"train": t / (t + v), "val": v / (t + v)} if t + v > 0 else {"train": 1.0}
        for count in counts["train"]:
            for name, n in _split_per_class(_kept_per_class(count, spec), inner).items():
                sizes[name] += n
        test = counts["test"]
        sizes["test"] += sum(_kept_per_class(c, spec) if spec.get("subset_test") else c for c in test)
    wanted = spec.get("splits") or list(SPLITS)
    return {name: (n if name in wanted else 0) for name, n in sizes.items()}


def dataset_size(spec: Mapping[str, Any], root: str | os.PathLike = ".") -> int | None:
    """Images of a validated dataset spec as preparation will make them (all kept splits), or None."""
    sizes = split_sizes(spec, root)
    return None if sizes is None else sum(sizes.values())
