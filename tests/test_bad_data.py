"""Bad data stops the step that reads it with an error naming the file (or, where the config allows
skipping, is left out and listed): corrupt and truncated images, files whose checksum does not match,
arrays of the wrong shape or dtype, and labels outside the class list."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import polars as pl
import pytest

from layeratlas.data.datasets import build_dataset, load_dataset, save_dataset
from layeratlas.data.downloads import DatasetFilesError
from layeratlas.data.sources import load_cifar10, load_cifar10_c, load_image_folder, load_mnist_like
from layeratlas.stages.data import prepare_dataset
from tests.dataset_files import write_cifar10, write_cifar10_c, write_idx_gz, write_image_folder, write_mnist

DIGITS = {"source": "sklearn_digits", "max_per_class": 5, "split": {"train": 0.6, "val": 0.2, "test": 0.2}}


def _truncate(path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


# --- images in an image folder ---------------------------------------------------------------------------


@pytest.fixture
def truncated_folder(tmp_path):
    folder = tmp_path / "pets"
    write_image_folder(folder, per_class=4, corrupt=False)
    truncated = folder / "dog" / "1.png"  # a real PNG, cut in the middle (an interrupted copy)
    _truncate(truncated)
    return folder, truncated


def test_truncated_image_is_an_error_naming_the_file(truncated_folder):
    folder, truncated = truncated_folder
    with pytest.raises(
        DatasetFilesError, match=rf"^{truncated}: cannot decode image \(.*set on_unreadable: skip"
    ):
        load_image_folder(folder, image_size=16)


def test_skipped_images_are_written_to_a_file_and_logged(truncated_folder, tmp_path, caplog):
    folder, truncated = truncated_folder
    broken = folder / "cat" / "zz.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg at all")
    spec = {"source": "image_folder", "path": str(folder), "image_size": 16, "on_unreadable": "skip"}
    spec["split"] = {"train": 0.5, "val": 0.25, "test": 0.25}
    out = tmp_path / "results" / "datasets" / "pets"
    with caplog.at_level(logging.WARNING, logger="layeratlas"):
        prepare_dataset("pets", spec, 0, out, skipped=out / "skipped_files")
    table = pl.read_csv(out / "skipped_files.tsv", separator="\t")
    assert sorted(table["path"].to_list()) == sorted([str(broken), str(truncated)])
    assert all(table["error"].str.len_chars() > 0)
    assert f"skipped {truncated}" in caplog.text and f"skipped {broken}" in caplog.text
    ds = load_dataset(out)
    assert len(ds.labels) == 3 * 4 + 1 - 2 and ds.images.shape[1:] == (16, 16, 3)


# --- downloaded files ------------------------------------------------------------------------------------


def test_checksum_mismatch_names_the_file_before_reading_it(tmp_path):
    checksums = write_mnist(tmp_path)
    damaged = tmp_path / "mnist/MNIST/raw/t10k-labels-idx1-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes() + b"\0")
    with pytest.raises(
        DatasetFilesError, match=rf"^{damaged}: checksum mismatch \(MD5 [0-9a-f]{{32}}, expected"
    ):
        build_dataset("m", {"source": "mnist", "checksums": checksums}, 0, tmp_path)
    checksums = write_cifar10_c(tmp_path, ("fog",), n=10, as_tar=True)
    tar = tmp_path / "cifar10_c/CIFAR-10-C.tar"
    _truncate(tar, 0.9)
    with pytest.raises(DatasetFilesError, match=rf"^{tar}: checksum mismatch"):
        load_cifar10_c("fog", 1, tmp_path, checksums)


def test_unreadable_archives_name_the_file(tmp_path):
    write_mnist(tmp_path)
    gz = tmp_path / "mnist/MNIST/raw/train-images-idx3-ubyte.gz"
    _truncate(gz)
    with pytest.raises(DatasetFilesError, match=rf"^{gz}: cannot decompress"):
        load_mnist_like("mnist", tmp_path, verify=False)
    write_cifar10(tmp_path)
    archive = tmp_path / "cifar10/cifar-10-python.tar.gz"
    _truncate(archive)
    with pytest.raises(DatasetFilesError, match=rf"^{archive}: not a readable CIFAR-10 python archive"):
        load_cifar10(tmp_path, verify=False)


# --- arrays of the wrong shape or dtype --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("array", "found"),
    [
        (np.zeros((50, 8, 8, 1), np.float32), r"float32 \(50, 8, 8, 1\)"),
        (np.zeros((50, 8, 8), np.uint8), r"uint8 \(50, 8, 8\)"),
        (np.zeros((50, 8, 9, 1), np.uint8), r"uint8 \(50, 8, 9, 1\)"),
    ],
)
def test_prepared_images_of_the_wrong_shape_or_dtype_name_the_file(tmp_path, array, found):
    save_dataset(build_dataset("d", DIGITS, 0), tmp_path / "d")
    np.save(tmp_path / "d/images.npy", array)
    with pytest.raises(
        DatasetFilesError,
        match=rf"^{tmp_path / 'd/images.npy'}: must be uint8 \(N, 8, 8, 1\) .*found {found}",
    ):
        load_dataset(tmp_path / "d")


def test_prepared_images_that_are_not_an_array_or_lack_rows_name_the_file(tmp_path):
    save_dataset(build_dataset("d", DIGITS, 0), tmp_path / "d")
    shutil.copy(tmp_path / "d/dataset.json", tmp_path / "d/images.npy")
    with pytest.raises(DatasetFilesError, match=rf"^{tmp_path / 'd/images.npy'}: not a readable .npy array"):
        load_dataset(tmp_path / "d")
    np.save(tmp_path / "d/images.npy", np.zeros((24, 8, 8, 1), np.uint8))
    with pytest.raises(DatasetFilesError, match="images.npy has 24 images but index.parquet 50 rows"):
        load_dataset(tmp_path / "d")


def test_source_arrays_of_the_wrong_shape_or_dtype_name_the_file(tmp_path):
    write_cifar10_c(tmp_path, ("fog",), n=10)
    arrays = tmp_path / "cifar10_c/CIFAR-10-C"
    np.save(arrays / "fog.npy", np.zeros((50, 32, 32), np.uint8))  # no channel axis
    with pytest.raises(
        DatasetFilesError, match=r"CIFAR-10-C: fog.npy must be uint8 .*found uint8 \(50, 32, 32\)"
    ):
        load_cifar10_c("fog", 1, tmp_path)
    (arrays / "fog.npy").write_bytes(b"not numpy")
    with pytest.raises(DatasetFilesError, match=rf"^{arrays / 'fog.npy'}: not a readable .npy array"):
        load_cifar10_c("fog", 1, tmp_path)
    write_cifar10_c(tmp_path, ("fog",), n=10)
    np.save(arrays / "labels.npy", np.zeros(50, np.float32))
    with pytest.raises(DatasetFilesError, match=r"labels.npy: labels must be integers, found float32"):
        load_cifar10_c("fog", 1, tmp_path)


# --- labels outside the class list ------------------------------------------------------------------------


def test_labels_outside_the_classes_name_the_file(tmp_path):
    write_cifar10_c(tmp_path, ("fog",), n=10)
    labels = np.tile(np.arange(10), 5).astype(np.uint8)
    labels[13] = 10
    np.save(tmp_path / "cifar10_c/CIFAR-10-C/labels.npy", labels)
    with pytest.raises(
        DatasetFilesError,
        match=r"CIFAR-10-C: labels.npy: 1 label\(s\) outside the 10 classes \(0..9: airplane, .*truck\), "
        r"e.g. label 10 at position 13",
    ):
        load_cifar10_c("fog", 1, tmp_path)

    write_mnist(tmp_path)
    raw = tmp_path / "mnist/MNIST/raw"
    write_idx_gz(raw / "t10k-labels-idx1-ubyte.gz", np.r_[np.arange(19) % 10, 12])
    with pytest.raises(
        DatasetFilesError, match=rf"^{raw}: 1 label\(s\) outside the 10 classes .*label 12 at position 59"
    ):
        load_mnist_like("mnist", tmp_path, verify=False)

    save_dataset(build_dataset("d", DIGITS, 0), tmp_path / "d")
    index = pl.read_parquet(tmp_path / "d/index.parquet")
    index.with_columns(
        pl.when(pl.col("sample_id") == index["sample_id"][7])
        .then(-1)
        .otherwise(pl.col("label"))
        .alias("label")
    ).write_parquet(tmp_path / "d/index.parquet")
    with pytest.raises(
        DatasetFilesError,
        match=rf"^{tmp_path / 'd/index.parquet'}: 1 label\(s\) outside the 10 classes of dataset.json, "
        rf"e.g. label -1 of sample id {index['sample_id'][7]}$",
    ):
        load_dataset(tmp_path / "d")


# --- image folders: each layout and pixel format by a stated rule (layeratlas.data.sources) ---------------


def _png(path, array, mode=None) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)


def _two_classes(folder, array, mode=None) -> None:
    for name in ("a", "b"):
        _png(folder / name / "0.png", array, mode)


def test_16_bit_images_are_scaled_not_clipped(tmp_path):
    gradient = np.tile(np.linspace(0, 65535, 16).astype(np.uint16), (16, 1))  # 0 .. 65535 left to right
    _two_classes(tmp_path / "f", gradient)
    images = load_image_folder(tmp_path / "f").images
    expected = np.rint(gradient / 257).astype(np.uint8)
    np.testing.assert_array_equal(images[0, ..., 0], expected)
    assert images.max() == 255 and (images == 255).mean() < 0.1  # clipping made 99.6% of it white


def test_transparent_pixels_are_composited_onto_black(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200  # red everywhere ...
    rgba[:4, :, 3] = 255  # ... opaque in the top half, fully transparent in the bottom half
    rgba[4:, :, 3] = 0
    _two_classes(tmp_path / "f", rgba, "RGBA")
    image = load_image_folder(tmp_path / "f").images[0]
    assert image.shape == (8, 8, 3)
    assert (image[:4, :, 0] == 200).all() and (image[4:] == 0).all()


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ({"a/0.png": 1, "b": None}, r"f/b: class folder without"),
        ({"a/0.png": 1}, r"f: only one class sub-folder \(a\); a dataset needs at least two classes"),
        (
            {"a/0.png": 1, "b/0.png": 1, "b/more/1.png": 1},
            r"f/b/more: images in a folder nested inside class 'b'",
        ),
    ],
)
def test_image_folder_layouts_that_would_mislead_are_refused_naming_the_folder(tmp_path, layout, expected):
    from layeratlas.data.sources import check_dataset_files

    for name, content in layout.items():
        if content is None:
            (tmp_path / "f" / name).mkdir(parents=True)
        else:
            _png(tmp_path / "f" / name, np.zeros((4, 4), np.uint8))
    with pytest.raises(DatasetFilesError, match=expected):
        load_image_folder(tmp_path / "f")
    with pytest.raises(DatasetFilesError, match="datasets.pets.path: .*" + expected):  # before any job
        check_dataset_files({"pets": {"source": "image_folder", "path": str(tmp_path / "f")}}, tmp_path)


# --- a full disk: the file being written is named and nothing partial is left ----------------------------


def _leftovers(folder) -> list:
    return sorted(p.name for p in folder.iterdir())


def test_a_full_disk_names_the_file_and_removes_the_partial_one(tmp_path):
    import errno

    from layeratlas.io import DiskFullError, atomic_path

    target = tmp_path / "features.npy"
    full = pytest.raises(DiskFullError, match=rf"^no space left on device while writing {target} \(")
    with full, atomic_path(target) as tmp:
        tmp.write_bytes(b"x" * 1000)  # part of it made it to disk
        raise OSError(errno.ENOSPC, "No space left on device")
    assert _leftovers(tmp_path) == []


def test_a_writer_failing_on_a_full_disk_is_named_as_full(tmp_path, monkeypatch):
    """torch's C++ writer says only "file write failed": with the disk full that is what it means."""
    from collections import namedtuple

    from layeratlas import io
    from layeratlas.io import DiskFullError, atomic_path

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(io.shutil, "disk_usage", lambda _: usage(10, 10, 0))
    target = tmp_path / "checkpoint.pt"
    with pytest.raises(DiskFullError, match=f"while writing {target}"), atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")
    assert _leftovers(tmp_path) == []
    monkeypatch.undo()  # plenty of space again: the writer's own error is left as it is
    with pytest.raises(RuntimeError, match="file write failed"), atomic_path(target):
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")


def test_save_torch_writes_through_python_so_enospc_is_catchable(tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    import torch

    from layeratlas.io import DiskFullError, save_torch

    save_torch({"w": torch.arange(3)}, tmp_path / "ok.pt")
    assert torch.load(tmp_path / "ok.pt", weights_only=True)["w"].tolist() == [0, 1, 2]

    def full(self, data):  # noqa: ANN001, ANN202
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(DiskFullError, match="no space left on device while writing .*big.pt"):
        save_torch({"w": torch.zeros(10)}, tmp_path / "big.pt")
    assert _leftovers(tmp_path) == ["ok.pt"]


# --- robustness: non-finite features stop with the file, model, layer and sample ids ---------------------


def test_robustness_analyses_refuse_non_finite_features_with_sample_ids(tmp_path):
    from layeratlas.finite import NonFiniteError
    from layeratlas.stages.robustness import feature_drift, robustness_probes

    folder = tmp_path / "features" / "clean" / "m"
    folder.mkdir(parents=True)
    features = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    features[7, 1] = np.nan
    np.save(folder / "l.npy", features)
    ids = 500 + np.arange(30)
    pl.DataFrame(
        {"sample_id": ids, "split": ["train", "val", "test"] * 10, "label": np.arange(30) % 3}
    ).write_parquet(folder / "index.parquet")
    expected = (
        rf"{folder / 'l.npy'}: features of model m, layer l \(dataset clean\): "
        r"NaN values in 1 of 30 rows, sample ids \[507\]"
    )
    options = {"classifiers": ["ncm_l2"], "C": [1.0], "k": [1], "n_estimators": 10}
    with pytest.raises(NonFiniteError, match=expected):
        robustness_probes("clean", "m", "l", folder, [], options, 0, 1, tmp_path / "out" / "accuracy")
    with pytest.raises(NonFiniteError, match=expected):
        feature_drift("m", "l", folder, [], tmp_path / "out" / "drift")
    assert not (tmp_path / "out").exists()


def test_exported_graphs_and_checkpoints_on_a_full_disk_name_the_file(tmp_path, monkeypatch):
    """export_model and train_model write through Python, so a full disk is a DiskFullError naming the
    file (torch's C++ writers abort the process instead), and no partial file is left."""
    import errno
    from pathlib import Path

    from layeratlas.export import build_extractor, example_images, export_onnx, export_torchscript
    from layeratlas.io import DiskFullError
    from layeratlas.models.zoo import build_model, save_checkpoint

    spec = {"architecture": "small_cnn", "weights": "none", "layers": {"relu5": "none"}, "options": {}}
    model = build_model(spec, num_classes=10, seed=0)
    extractor = build_extractor(model, spec)

    def full(self, data):  # noqa: ANN001, ANN202
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    for write, name in (
        (lambda p: export_onnx(extractor, example_images(channels=1), p), "extractor.onnx"),
        (lambda p: export_torchscript(extractor, example_images(channels=1), p), "extractor.torchscript.pt"),
        (lambda p: save_checkpoint(model, spec, 10, p), "checkpoint.pt"),
    ):
        with pytest.raises(DiskFullError, match=f"no space left on device while writing .*{name}"):
            write(tmp_path / name)
    assert _leftovers(tmp_path) == []


# --- a job stopped by an expected error says so in one line (issue 23, item 4) -------------------------

JOB = """
import sys
from layeratlas.logs import log_to_file
log_to_file(sys.argv[1])
import logging
logging.getLogger("layeratlas").info("reading the folder")
{body}
"""


def _job(tmp_path, body: str):
    import subprocess
    import sys

    from tests.conftest import ROOT

    log = tmp_path / "job.log"
    script = tmp_path / "job.py"
    script.write_text(JOB.format(body=body))
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, str(script), str(log)], capture_output=True, text=True, env=env)
    return result, log


def test_an_expected_error_at_job_time_is_one_line_with_the_traceback_kept(tmp_path, truncated_folder):
    folder, truncated = truncated_folder
    result, log = _job(
        tmp_path, f"from layeratlas.data.sources import load_image_folder\nload_image_folder({str(folder)!r})"
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {truncated}: cannot decode image"), result.stderr
    assert "on_unreadable: skip" in lines[0]
    text = log.read_text()
    assert "Traceback" not in text and lines[0] in text.splitlines()[-2]  # what show-failed-logs prints
    assert text.splitlines()[-1] == f"(traceback: {log}.traceback)"
    assert "Traceback" in (tmp_path / "job.log.traceback").read_text()


def test_an_unexpected_error_at_job_time_keeps_its_traceback_in_the_log(tmp_path):
    result, log = _job(tmp_path, "1 / 0")
    assert result.returncode == 1
    assert "Traceback" in log.read_text() and "ZeroDivisionError" in log.read_text()
    assert not (tmp_path / "job.log.traceback").exists()


# --- silent acceptances: a garbled JPEG body, images too small to hold a picture (issue 23, item 5) ---


def _garble_jpeg(path) -> None:
    """One byte of the entropy-coded body flipped: Pillow decodes it with artefacts and no word."""
    data = bytearray(path.read_bytes())
    data[data.index(b"\xff\xda") + 60] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_garbled_jpeg_body_is_unreadable_not_included(tmp_path):
    from PIL import Image

    folder = tmp_path / "pets"
    write_image_folder(folder, per_class=4, corrupt=False)
    garbled = folder / "dog" / "0.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(
        garbled, quality=90
    )
    _garble_jpeg(garbled)
    with Image.open(garbled) as img:
        img.load()  # what made it silent: Pillow decodes it
    with pytest.raises(DatasetFilesError, match=rf"^{garbled}: cannot decode image \(corrupt JPEG data"):
        load_image_folder(folder, image_size=16)
    src = load_image_folder(folder, image_size=16, skip_unreadable=True)
    assert src.skipped["path"].to_list() == [str(garbled)] and len(src.labels) == 11


def test_images_below_the_minimum_size_are_refused_naming_it(tmp_path):
    from layeratlas.data.sources import MIN_IMAGE_SIDE

    for c in ("a", "b"):
        for i in range(3):
            _png(tmp_path / "f" / c / f"{i}.png", np.full((1, 1), 40 * i, np.uint8))
    with pytest.raises(
        DatasetFilesError, match=rf"1x1 pixels, smaller than the minimum of {MIN_IMAGE_SIDE}x"
    ):
        load_image_folder(tmp_path / "f")
    with pytest.raises(DatasetFilesError, match="no image could be decoded"):
        load_image_folder(tmp_path / "f", skip_unreadable=True)
    _png(tmp_path / "g" / "a" / "0.png", np.zeros((8, 8), np.uint8))  # the minimum itself is read
    _png(tmp_path / "g" / "b" / "0.png", np.zeros((8, 8), np.uint8))
    assert load_image_folder(tmp_path / "g").images.shape == (2, 8, 8, 1)
