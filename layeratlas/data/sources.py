"""Read each dataset source from its files into uint8 NHWC arrays.

MNIST, Fashion-MNIST and CIFAR-10 are read by torchvision's own dataset classes from the published
archives (checked against their MD5s first); CIFAR-10-C from its published ``.npy`` arrays (inside the
tar, or extracted); image folders with Pillow, one sub-folder per class.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from layeratlas.data.downloads import (
    CIFAR10_C_DIR,
    DOWNLOADABLE,
    OFFLINE_ENV,
    RESOURCES,
    DatasetFilesError,
    missing_files,
    network_available,
    placement_help,
    remote_files,
    source_root,
    verify_files,
)

log = logging.getLogger("layeratlas")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# The 19 arrays published in CIFAR-10-C.tar (15 benchmark corruptions + 4 extra).
CIFAR10_C_CORRUPTIONS = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
    "speckle_noise",
    "gaussian_blur",
    "spatter",
    "saturate",
)
CIFAR10_TEST_OFFSET = 50_000  # CIFAR-10-C image i is CIFAR-10 test image i = sample_id 50,000 + i here


def _empty_skipped() -> pl.DataFrame:
    return pl.DataFrame({"path": [], "error": []}, schema={"path": pl.String, "error": pl.String})


@dataclass
class SourceImages:
    """What a source holds before subsetting and splitting."""

    images: np.ndarray  # (N, H, W, C) uint8
    labels: np.ndarray  # (N,) int64
    class_names: tuple[str, ...]
    part: np.ndarray | None = None  # (N,) "train"/"test": the source's own split, None when it has none
    ids: np.ndarray | None = None  # (N,) stable sample ids; default 0..N-1
    skipped: pl.DataFrame = field(default_factory=_empty_skipped)  # files left out (path, error)

    def __post_init__(self) -> None:
        if self.ids is None:
            self.ids = np.arange(len(self.labels), dtype=np.int64)


def check_arrays(images: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...], where: str) -> None:
    """Raise DatasetFilesError naming ``where`` (the file) unless ``images`` is uint8 (N, H, W, 1 or 3)
    and ``labels`` are N integers that index ``class_names``."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise DatasetFilesError(
            f"{where}: images must be uint8 (N, height, width, 1 or 3 channels), found {images.dtype} "
            f"{images.shape}"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise DatasetFilesError(
            f"{where}: {len(images)} images but labels of shape {labels.shape}; expected ({len(images)},)"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise DatasetFilesError(f"{where}: labels must be integers, found {labels.dtype}")
    outside = np.flatnonzero((labels < 0) | (labels >= len(class_names)))
    if len(outside):
        k = len(class_names)
        raise DatasetFilesError(
            f"{where}: {len(outside)} label(s) outside the {k} classes (0..{k - 1}: "
            f"{', '.join(class_names)}), e.g. label {labels[outside[0]]} at position {outside[0]}"
        )


def _require(source: str, resources: str | os.PathLike, corruptions: tuple[str, ...] = ()) -> Path:
    missing = missing_files(source, resources, corruptions)
    if missing:
        raise DatasetFilesError(placement_help(source, resources, missing))
    return source_root(source, resources)


def load_sklearn_digits() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """scikit-learn's 1,797 real 8x8 handwritten digits (pixel values 0..16), as uint8 0..255."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    return images, digits.target.astype(np.int64), tuple(str(i) for i in range(10))


def load_mnist_like(
    source: str,
    resources: str | os.PathLike = RESOURCES,
    checksums: Mapping[str, str] | None = None,
    verify: bool = True,
) -> SourceImages:
    """MNIST or Fashion-MNIST (60,000 train + 10,000 test, 28x28 grayscale) via torchvision's classes.

    The published ``.gz`` files are checked, decompressed into a temporary copy of the layout
    torchvision reads (``<root>/<Class>/raw/``) and read by ``torchvision.datasets.MNIST``."""
    from torchvision.datasets import MNIST, FashionMNIST

    cls = {"mnist": MNIST, "fashion_mnist": FashionMNIST}[source]
    root = _require(source, resources)
    if verify:
        verify_files(source, resources, checksums)
    with tempfile.TemporaryDirectory(prefix="layeratlas-") as tmp:
        raw = Path(tmp) / cls.__name__ / "raw"
        raw.mkdir(parents=True)
        for name, _ in cls.resources:
            gz = root / cls.__name__ / "raw" / name
            try:
                with gzip.open(gz, "rb") as src, open(raw / name.removesuffix(".gz"), "wb") as dst:
                    shutil.copyfileobj(src, dst)
            except (OSError, EOFError) as exc:
                raise DatasetFilesError(f"{gz}: cannot decompress ({exc})") from exc
        parts = []
        for train in (True, False):
            try:
                ds = cls(tmp, train=train, download=False)
            except (RuntimeError, ValueError, AssertionError) as exc:
                raise DatasetFilesError(
                    f"{root / cls.__name__ / 'raw'}: not valid IDX files ({exc})"
                ) from exc
            parts.append((ds.data.numpy(), ds.targets.numpy(), "train" if train else "test"))
        classes = tuple(ds.classes)
    images = np.concatenate([p[0] for p in parts])[..., None].astype(np.uint8)
    labels = np.concatenate([p[1] for p in parts]).astype(np.int64)
    part = np.concatenate([np.full(len(p[1]), p[2]) for p in parts])
    if source == "mnist":  # torchvision names them "0 - zero"; the digit is the name people use
        classes = tuple(c.split(" - ")[0] for c in classes)
    check_arrays(images, labels, classes, str(root / cls.__name__ / "raw"))
    return SourceImages(images, labels, classes, part)


def load_cifar10(
    resources: str | os.PathLike = RESOURCES,
    checksums: Mapping[str, str] | None = None,
    verify: bool = True,
) -> SourceImages:
    """CIFAR-10 (50,000 train + 10,000 test, 32x32 RGB) via ``torchvision.datasets.CIFAR10``.

    The published archive is checked against its MD5 and extracted to a temporary folder; its batches
    are then read by torchvision's class (their own MD5s are covered by the archive's)."""
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import extract_archive

    root = _require("cifar10", resources)
    if verify:
        verify_files("cifar10", resources, checksums)

    class _VerifiedArchive(CIFAR10):  # the archive was checked above; the small test files have other MD5s
        train_list = [[name, None] for name, _ in CIFAR10.train_list]
        test_list = [[name, None] for name, _ in CIFAR10.test_list]
        meta = {**CIFAR10.meta, "md5": None}

    archive = root / CIFAR10.filename
    parts = []
    with tempfile.TemporaryDirectory(prefix="layeratlas-") as tmp:
        try:
            extract_archive(str(archive), tmp)
            for train in (True, False):
                ds = _VerifiedArchive(tmp, train=train, download=False)
                parts.append((np.asarray(ds.data), np.asarray(ds.targets), "train" if train else "test"))
        except (RuntimeError, OSError, EOFError, tarfile.TarError, KeyError, ValueError) as exc:
            raise DatasetFilesError(f"{archive}: not a readable CIFAR-10 python archive ({exc})") from exc
        classes = tuple(ds.classes)
    images = np.ascontiguousarray(np.concatenate([p[0] for p in parts]).astype(np.uint8))
    labels = np.concatenate([p[1] for p in parts]).astype(np.int64)
    part = np.concatenate([np.full(len(p[1]), p[2]) for p in parts])
    check_arrays(images, labels, classes, str(archive))
    return SourceImages(images, labels, classes, part)


def _read_npy(path_or_file: Any, where: str) -> np.ndarray:
    try:
        return np.load(path_or_file, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DatasetFilesError(f"{where}: not a readable .npy array ({exc})") from exc


def load_cifar10_c(
    corruption: str,
    severity: int,
    resources: str | os.PathLike = RESOURCES,
    checksums: Mapping[str, str] | None = None,
    verify: bool = True,
) -> SourceImages:
    """The 10,000 CIFAR-10 test images under one published corruption at one severity (1-5).

    Each ``<corruption>.npy`` holds severities 1..5 one after the other (10,000 images each) and
    ``labels.npy`` the matching labels. Read from ``CIFAR-10-C.tar`` (checked against its MD5) without
    extracting it, or from the extracted ``CIFAR-10-C/`` folder."""
    if corruption not in CIFAR10_C_CORRUPTIONS:
        raise ValueError(
            f"unknown CIFAR-10-C corruption {corruption!r}; choose one of {CIFAR10_C_CORRUPTIONS}"
        )
    if severity not in range(1, 6):
        raise ValueError(f"CIFAR-10-C severity must be 1..5, not {severity}")
    root = _require("cifar10_c", resources, (corruption,))
    tar_path = root / f"{CIFAR10_C_DIR}.tar"
    if tar_path.is_file():
        if verify:
            verify_files("cifar10_c", resources, checksums)
        arrays = {}
        try:
            with tarfile.open(tar_path) as tar:
                for name in (corruption, "labels"):
                    member_name = f"{CIFAR10_C_DIR}/{name}.npy"
                    try:
                        member = tar.extractfile(member_name)
                    except KeyError:
                        member = None
                    if member is None:
                        raise DatasetFilesError(f"{tar_path}: has no {member_name}")
                    # np.load wants a real file object, not a tar member
                    arrays[name] = _read_npy(io.BytesIO(member.read()), f"{tar_path}:{member_name}")
        except tarfile.TarError as exc:
            raise DatasetFilesError(f"{tar_path}: not a readable tar archive ({exc})") from exc
        images, labels, where = arrays[corruption], arrays["labels"], str(tar_path)
    else:
        folder = root / CIFAR10_C_DIR
        images = _read_npy(folder / f"{corruption}.npy", str(folder / f"{corruption}.npy"))
        labels = _read_npy(folder / "labels.npy", str(folder / "labels.npy"))
        where = str(folder)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3 or len(images) % 5:
        raise DatasetFilesError(
            f"{where}: {corruption}.npy must be uint8 (5 x n, H, W, 3), found {images.dtype} {images.shape}"
        )
    if labels.shape != (len(images),):
        raise DatasetFilesError(f"{where}: labels.npy has shape {labels.shape}, expected ({len(images)},)")
    check_arrays(images, labels, CIFAR10_CLASSES, f"{where}: labels.npy")
    n = len(images) // 5
    rows = slice((severity - 1) * n, severity * n)
    labels = labels[rows].astype(np.int64)
    ids = CIFAR10_TEST_OFFSET + np.arange(n, dtype=np.int64)
    return SourceImages(np.ascontiguousarray(images[rows]), labels, CIFAR10_CLASSES, None, ids)


def _resize(image: Any, size: int) -> Any:
    from PIL import Image

    return image.resize((size, size), Image.Resampling.BILINEAR)


def image_folder_files(folder: str | os.PathLike) -> tuple[tuple[str, ...], list[tuple[Path, int]]]:
    """The classes (sorted sub-folder names -> labels 0..K-1) and (file, label) pairs of an image folder.

    Stated rules, each refused naming the folder (never guessed): at least two classes; every class
    folder holds images directly; images in a folder nested inside a class folder are refused (they
    would silently join its class). Hidden files and folders (``.name``) are ignored."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetFilesError(f"{folder}: image folder not found")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DatasetFilesError(f"{folder}: no class sub-folders (expected {folder}/<class>/<image>.png)")
    problems, files = [], []
    for label, name in enumerate(classes):
        images = [
            p
            for p in sorted((folder / name).iterdir())
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
        ]
        if not images:
            problems.append(f"{folder / name}: class folder without {'/'.join(IMAGE_SUFFIXES)} files")
        nested = sorted(
            p
            for p in (folder / name).iterdir()
            if p.is_dir()
            and not p.name.startswith(".")
            and any(f.suffix.lower() in IMAGE_SUFFIXES for f in p.rglob("*"))
        )
        problems += [
            f"{p}: images in a folder nested inside class {name!r} are not read; move them up into "
            f"{folder / name} or make {p.name} a class folder of its own"
            for p in nested
        ]
        files += [(p, label) for p in images]
    if len(classes) == 1:
        problems.append(
            f"{folder}: only one class sub-folder ({classes[0]}); a dataset needs at least two classes"
        )
    if problems:
        raise DatasetFilesError("\n".join(problems))
    return tuple(classes), files


def _to_8bit(img: Any) -> Any:
    """A PIL image as 8-bit L or RGB. 16-bit images (modes I;16*, I) are scaled from 0..65535 to 0..255,
    not clipped; transparency (RGBA, LA, P with a transparent colour) is composited onto black, as an
    image viewer shows a transparent pixel of zero intensity. Float images are refused naming the file."""
    from PIL import Image

    if img.mode.startswith("I;16") or img.mode == "I":
        values = np.asarray(img, dtype=np.float64)
        if values.min() < 0 or values.max() > 65535:
            raise ValueError(f"{img.mode} values outside 0..65535")
        return Image.fromarray(np.rint(values * (255 / 65535)).astype(np.uint8), mode="L")
    if img.mode == "F":
        raise ValueError("floating-point pixels (mode F); save it as 8- or 16-bit PNG")
    if (img.mode == "P" and "transparency" in img.info) or img.mode == "PA":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        img = Image.alpha_composite(black, rgba).convert("RGB" if img.mode.startswith("RGB") else "L")
    return img.convert("L" if img.mode in ("1", "L") else "RGB")


# Smaller images hold no picture a network can learn from (sklearn's digits, 8 x 8, are the smallest
# source): refused naming the file, or skipped with on_unreadable: skip.
MIN_IMAGE_SIDE = 8
# libjpeg's words for an entropy-coded body it had to guess through (Pillow hides them and decodes on).
_CORRUPT_JPEG = ("Corrupt JPEG data", "Premature end of JPEG", "Invalid JPEG", "Bogus", "Huffman")


def _strict_jpeg(path: Path) -> None:
    """Raise ValueError when libjpeg (through torchvision's decoder) reports corrupt data in ``path``:
    Pillow decodes a garbled body with artefacts and no word. libjpeg writes its warnings to the C
    stderr, so file descriptor 2 is caught for the one call."""
    import warnings

    import torch
    from torchvision.io import decode_jpeg

    data = torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torchvision's notice that its decoders are deprecated
                decode_jpeg(data)
            error = None
        except RuntimeError as exc:
            error = str(exc)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        caught.seek(0)
        said = caught.read().decode(errors="replace").strip()
    problems = [line for line in [*said.splitlines(), error or ""] if any(w in line for w in _CORRUPT_JPEG)]
    if problems:
        raise ValueError(f"corrupt JPEG data ({problems[0].strip()})")


def load_image_folder(
    folder: str | os.PathLike, image_size: int | None = None, skip_unreadable: bool = False
) -> SourceImages:
    """A folder with one sub-folder per class (sorted names -> labels 0..K-1) of PNG/JPEG files
    (layout rules: ``image_folder_files``; 16-bit and transparent images: ``_to_8bit``).

    An undecodable file raises an error naming it, or with ``skip_unreadable`` is left out and listed
    in ``skipped``. Images of different sizes need ``image_size`` (every image is resized to that
    square side); grayscale and RGB files mixed give RGB."""
    from PIL import Image, UnidentifiedImageError
    from tqdm import tqdm

    folder = Path(folder)
    classes, files = image_folder_files(folder)
    images, labels, skipped = [], [], []
    for path, label in tqdm(files, desc=f"reading {folder}", unit="image", mininterval=5):
        try:
            with Image.open(path) as img:
                img.load()
                if img.format == "JPEG":
                    _strict_jpeg(path)
                if min(img.size) < MIN_IMAGE_SIDE:
                    size = f"{img.size[0]}x{img.size[1]} pixels"
                    if not skip_unreadable:
                        raise DatasetFilesError(
                            f"{path}: {size}, smaller than the minimum of {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} "
                            "an image must have; remove it, or set on_unreadable: skip"
                        )
                    skipped.append(
                        (str(path), f"{size}, below the minimum {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}")
                    )
                    continue
                img = _to_8bit(img)
                if image_size:
                    img = _resize(img, image_size)
                images.append(np.asarray(img, dtype=np.uint8))
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            if not skip_unreadable:
                raise DatasetFilesError(
                    f"{path}: cannot decode image ({exc}); fix or remove it, or set on_unreadable: skip"
                ) from exc
            skipped.append((str(path), f"{type(exc).__name__}: {exc}"))
            continue
        labels.append(label)
    if not images:
        raise DatasetFilesError(f"{folder}: no image could be decoded")
    if missing := sorted(set(range(len(classes))) - set(labels)):
        raise DatasetFilesError(
            f"{folder}: no image of class folder(s) {', '.join(classes[i] for i in missing)} could be decoded"
        )
    sizes = sorted({im.shape[:2] for im in images})
    if len(sizes) > 1:
        raise DatasetFilesError(
            f"{folder}: images have different sizes ({', '.join('x'.join(map(str, s)) for s in sizes[:5])}"
            f"{', ...' if len(sizes) > 5 else ''}); set image_size to resize them to one square side"
        )
    if any(im.ndim == 3 for im in images):
        images = [np.repeat(im[..., None], 3, axis=-1) if im.ndim == 2 else im for im in images]
    stacked = np.stack([im if im.ndim == 3 else im[..., None] for im in images])
    table = pl.DataFrame(skipped, schema={"path": pl.String, "error": pl.String}, orient="row")
    for path, error in skipped:
        log.warning("skipped %s: %s", path, error)
    return SourceImages(stacked, np.asarray(labels, dtype=np.int64), tuple(classes), skipped=table)


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Every image resized (bilinear) to ``size`` x ``size``; channels kept."""
    from PIL import Image

    if images.shape[1:3] == (size, size):
        return images
    out = np.empty((len(images), size, size, images.shape[-1]), dtype=np.uint8)
    for i, im in enumerate(images):
        pil = Image.fromarray(im[..., 0] if im.shape[-1] == 1 else im)
        out[i] = np.asarray(_resize(pil, size)).reshape(size, size, -1)
    return out


def load_source(
    spec: Mapping[str, Any], resources: str | os.PathLike = RESOURCES, verify: bool = True
) -> SourceImages:
    """The images a validated dataset spec names, before subsetting, splitting and corruption."""
    source = spec["source"]
    checksums = spec.get("checksums") or None
    if source == "sklearn_digits":
        return SourceImages(*load_sklearn_digits())
    if source in ("mnist", "fashion_mnist"):
        return load_mnist_like(source, resources, checksums, verify)
    if source == "cifar10":
        return load_cifar10(resources, checksums, verify)
    if source == "cifar10_c":
        c = spec["corruption"]
        return load_cifar10_c(c["name"], c["severity"], resources, checksums, verify)
    if source == "image_folder":
        return load_image_folder(spec["path"], spec.get("image_size"), spec.get("on_unreadable") == "skip")
    raise ValueError(f"unknown dataset source {source!r}")


def check_dataset_files(
    datasets: Mapping[str, Mapping[str, Any]],
    resources: str | os.PathLike = RESOURCES,
    online: bool | None = None,
) -> list[str]:
    """Check, before any job, that every configured dataset can get its files.

    Returns the sources whose files will be downloaded. Raises DatasetFilesError naming each missing
    file and where to place it when the network cannot be reached (``online=None`` probes it), and
    for image folders that do not exist.
    """
    problems, folders, to_download = [], [], []
    corruptions: dict[str, set[str]] = {}
    for name, spec in datasets.items():
        source = spec["source"]
        if source == "image_folder":
            path = Path(spec["path"])
            if not path.is_dir():
                folders.append(f"datasets.{name}.path: {path} is not a folder (one sub-folder per class)")
                continue
            try:  # the layout rules (two classes or more, none empty, none nested), before any job
                image_folder_files(path)
            except DatasetFilesError as error:
                folders += [f"datasets.{name}.path: {line}" for line in str(error).splitlines()]
        elif source in DOWNLOADABLE:
            names = corruptions.setdefault(source, set())
            if source == "cifar10_c" and spec.get("corruption"):
                names.add(spec["corruption"]["name"])
    for source, names in corruptions.items():
        missing = missing_files(source, resources, sorted(names))
        if not missing:
            continue
        if online is None:
            online = network_available(u for f in remote_files(source) for u in f.urls)
        if online:
            to_download.append(source)
        else:
            problems.append(placement_help(source, resources, missing))
    message = "image folder(s) not found or not usable:\n  " + "\n  ".join(folders) if folders else ""
    if problems:
        offline = " (LAYERATLAS_OFFLINE is set)" if os.environ.get(OFFLINE_ENV, "") not in ("", "0") else ""
        message += "\n" if message else ""
        message += (
            f"dataset files are not in place and the network cannot be reached{offline}; "
            "nothing was run:\n" + "\n".join(problems)
        )
    if message:
        raise DatasetFilesError(message)
    return to_download
