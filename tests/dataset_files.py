"""Small dataset files in the real on-disk formats, for the tests: MNIST/Fashion-MNIST IDX gzip files,
the CIFAR-10 python archive (pickled batches in a tar.gz), CIFAR-10-C arrays and image folders."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def class_images(labels: np.ndarray, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """uint8 images whose brightness depends on the class, plus noise (so classes differ a little)."""
    rng = np.random.default_rng(seed)
    base = (labels.reshape(-1, *([1] * len(shape))) * 20 + 30).astype(float)
    return np.clip(base + rng.normal(0, 25, size=(len(labels), *shape)), 0, 255).astype(np.uint8)


def write_idx_gz(path: Path, array: np.ndarray) -> None:
    """An IDX file (magic 0x0000 0x08 ndim, big-endian int32 dims, uint8 data), gzip-compressed."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def write_mnist(
    resources: Path, source: str = "mnist", n_train: int = 40, n_test: int = 20
) -> dict[str, str]:
    """MNIST-format files where torchvision expects them; returns {relative path: md5}."""
    folder = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}[source]
    raw = resources / source / folder / "raw"
    checksums = {}
    for prefix, n, seed in (("train", n_train, 1), ("t10k", n_test, 2)):
        labels = np.arange(n) % 10
        write_idx_gz(raw / f"{prefix}-images-idx3-ubyte.gz", class_images(labels, (28, 28), seed))
        write_idx_gz(raw / f"{prefix}-labels-idx1-ubyte.gz", labels)
    for path in sorted(raw.glob("*.gz")):
        checksums[f"{folder}/raw/{path.name}"] = md5(path)
    return checksums


def cifar_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(n) % 10
    return class_images(labels, (32, 32, 3), seed), labels


def write_cifar10(resources: Path, per_batch: int = 10, n_test: int = 20) -> dict[str, str]:
    """cifar-10-python.tar.gz with five pickled train batches, a test batch and batches.meta."""
    root = resources / "cifar10"
    root.mkdir(parents=True, exist_ok=True)
    archive = root / "cifar-10-python.tar.gz"
    batches = {f"data_batch_{i}": cifar_images(per_batch, i) for i in range(1, 6)}
    batches["test_batch"] = cifar_images(n_test, 9)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with tarfile.open(archive, "w:gz") as tar:

        def add(name: str, obj: object) -> None:
            data = pickle.dumps(obj, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for name, (images, labels) in batches.items():
            flat = images.transpose(0, 3, 1, 2).reshape(len(images), -1)  # rows of R, G, B planes
            add(name, {"batch_label": name, "labels": labels.tolist(), "data": flat, "filenames": []})
        add("batches.meta", {"label_names": names, "num_cases_per_batch": per_batch, "num_vis": 3072})
    return {"cifar-10-python.tar.gz": md5(archive)}


def write_cifar10_c(
    resources: Path, corruptions: tuple[str, ...] = ("gaussian_blur",), n: int = 20, as_tar: bool = False
) -> dict[str, str]:
    """CIFAR-10-C/<corruption>.npy (severities 1..5 of n images each) and labels.npy, extracted or in
    CIFAR-10-C.tar. Severity s of image i has brightness offset 10 * s (so a test can tell them apart)."""
    root = resources / "cifar10_c"
    images, labels = cifar_images(n, 7)
    arrays = {
        c: np.concatenate(
            [np.clip(images.astype(int) + 10 * s, 0, 255).astype(np.uint8) for s in range(1, 6)]
        )
        for c in corruptions
    }
    arrays["labels"] = np.tile(labels, 5).astype(np.uint8)
    if not as_tar:
        (root / "CIFAR-10-C").mkdir(parents=True, exist_ok=True)
        for name, array in arrays.items():
            np.save(root / "CIFAR-10-C" / f"{name}.npy", array)
        return {}
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(root / "CIFAR-10-C.tar", "w") as tar:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.save(buffer, array)
            info = tarfile.TarInfo(f"CIFAR-10-C/{name}.npy")
            info.size = buffer.tell()
            buffer.seek(0)
            tar.addfile(info, buffer)
    return {"CIFAR-10-C.tar": md5(root / "CIFAR-10-C.tar")}


def write_image_folder(
    folder: Path, per_class: int = 6, classes: tuple[str, ...] = ("cat", "dog", "fish"), corrupt: bool = True
) -> list[Path]:
    """PNG and JPEG files of mixed sizes and modes, one sub-folder per class; plus an undecodable file.
    Returns the corrupt files."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, name in enumerate(classes):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            size = (20 + 4 * (i % 3), 16 + 2 * (i % 2))
            pixels = np.clip(label * 60 + 30 + rng.normal(0, 20, (size[1], size[0], 3)), 0, 255).astype(
                np.uint8
            )
            img = Image.fromarray(pixels)
            if i % 3 == 2:
                img = img.convert("L")  # grayscale mixed in: read as RGB
            img.save(folder / name / f"{i}.{'png' if i % 2 else 'jpg'}")
    bad = []
    if corrupt:
        bad = [folder / classes[0] / "broken.png"]
        bad[0].write_bytes(b"\x89PNG\r\n\x1a\n this is not really a PNG")
    return bad
