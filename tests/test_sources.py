"""The real loading code of every dataset source, on small files written in the real on-disk formats,
and the errors for missing files, checksum mismatches and undecodable images."""

from __future__ import annotations

import numpy as np
import pytest

from layeratlas.data.datasets import build_dataset
from layeratlas.data.downloads import (
    DatasetFilesError,
    download_source,
    expected_md5s,
    manifest_path,
    remote_files,
)
from layeratlas.data.sources import (
    check_dataset_files,
    load_cifar10,
    load_cifar10_c,
    load_image_folder,
    load_mnist_like,
)
from layeratlas.io import read_json
from tests.dataset_files import (
    cifar_images,
    write_cifar10,
    write_cifar10_c,
    write_image_folder,
    write_mnist,
)

SPLIT = {"train": 0.75, "val": 0.25, "test": 0.0}


def test_published_checksums_come_from_torchvision():
    from torchvision.datasets import CIFAR10, MNIST, FashionMNIST

    assert expected_md5s("mnist") == {f"MNIST/raw/{n}": m for n, m in MNIST.resources}
    assert expected_md5s("fashion_mnist") == {f"FashionMNIST/raw/{n}": m for n, m in FashionMNIST.resources}
    assert expected_md5s("cifar10") == {"cifar-10-python.tar.gz": CIFAR10.tgz_md5}
    assert expected_md5s("cifar10_c") == {"CIFAR-10-C.tar": "56bf5dcef84df0e2308c6dcbcbbd8499"}
    assert all(f.urls for s in ("mnist", "fashion_mnist", "cifar10", "cifar10_c") for f in remote_files(s))


@pytest.mark.parametrize("source", ["mnist", "fashion_mnist"])
def test_mnist_idx_gzip_files_load_through_torchvision(tmp_path, source):
    checksums = write_mnist(tmp_path, source, n_train=40, n_test=20)
    src = load_mnist_like(source, tmp_path, checksums)
    assert src.images.shape == (60, 28, 28, 1) and src.images.dtype == np.uint8
    assert (src.part == "train").sum() == 40 and (src.part == "test").sum() == 20
    assert src.labels[:12].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    if source == "mnist":
        assert src.class_names == tuple("0123456789")
    else:
        assert src.class_names[0] == "T-shirt/top" and src.class_names[9] == "Ankle boot"


def test_published_checksums_refuse_other_files(tmp_path):
    write_mnist(tmp_path, "mnist")
    with pytest.raises(
        DatasetFilesError, match=r"train-images-idx3-ubyte.gz: checksum mismatch .*expected f68b3c2d"
    ):
        load_mnist_like("mnist", tmp_path)


def test_checksum_mismatch_names_the_file(tmp_path):
    checksums = write_cifar10(tmp_path)
    archive = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    archive.write_bytes(archive.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(DatasetFilesError, match=rf"{archive}: checksum mismatch"):
        load_cifar10(tmp_path, checksums)


def test_cifar10_python_archive_loads_through_torchvision(tmp_path):
    checksums = write_cifar10(tmp_path, per_batch=10, n_test=20)
    src = load_cifar10(tmp_path, checksums)
    assert src.images.shape == (70, 32, 32, 3) and src.images.dtype == np.uint8
    assert src.class_names[:3] == ("airplane", "automobile", "bird")
    expected, labels = cifar_images(10, 1)  # data_batch_1, written as R, G, B planes
    assert np.array_equal(src.images[:10], expected) and src.labels[:10].tolist() == labels.tolist()
    assert np.array_equal(src.images[50:], cifar_images(20, 9)[0])
    assert src.part.tolist() == ["train"] * 50 + ["test"] * 20


def test_own_test_split_and_subsets(tmp_path):
    checksums = write_cifar10(tmp_path, per_batch=20, n_test=30)
    spec = {"source": "cifar10", "checksums": checksums, "split": {"train": 0.6, "val": 0.15, "test": 0.25}}
    ds = build_dataset("c", spec, seed=0, resources=tmp_path)
    counts = {s: int((ds.split == s).sum()) for s in ("train", "val", "test")}
    assert counts == {"train": 80, "val": 20, "test": 30}  # 100 train images 0.6 : 0.15 = 80 : 20
    assert (ds.sample_ids[ds.split == "test"] >= 100).all()  # the published test images
    tiny = build_dataset("c", {**spec, "fraction": 0.5}, seed=0, resources=tmp_path)
    assert int((tiny.split != "test").sum()) == 50 and int((tiny.split == "test").sum()) == 30
    assert np.bincount(tiny.labels[tiny.split != "test"]).tolist() == [5] * 10
    both = build_dataset("c", {**spec, "fraction": 0.5, "subset_test": True}, seed=0, resources=tmp_path)
    assert int((both.split == "test").sum()) == 20  # 3 per class -> round(1.5) = 2 per class
    pooled = build_dataset("c", {**spec, "own_test_split": False}, seed=0, resources=tmp_path)
    assert int((pooled.split == "test").sum()) == 30  # 13 per class: cut at round(9.75) = 10 -> 3 test
    only_test = build_dataset("c", {**spec, "splits": ["test"]}, seed=0, resources=tmp_path)
    assert np.array_equal(only_test.sample_ids, ds.sample_ids[ds.split == "test"])
    assert np.array_equal(only_test.images, ds.images[ds.split == "test"])


@pytest.mark.parametrize("as_tar", [False, True])
def test_cifar10_c_arrays_by_corruption_and_severity(tmp_path, as_tar):
    checksums = write_cifar10_c(tmp_path, ("gaussian_blur", "fog"), n=20, as_tar=as_tar)
    clean, labels = cifar_images(20, 7)
    for severity in (1, 3, 5):
        src = load_cifar10_c("gaussian_blur", severity, tmp_path, checksums)
        assert src.images.shape == (20, 32, 32, 3)
        expected = np.clip(clean.astype(int) + 10 * severity, 0, 255)
        assert np.array_equal(src.images, expected) and src.labels.tolist() == labels.tolist()
        assert src.ids.tolist() == list(range(50_000, 50_020))  # CIFAR-10's test images
    assert src.class_names[-1] == "truck"
    with pytest.raises(ValueError, match="unknown CIFAR-10-C corruption 'blur'"):
        load_cifar10_c("blur", 1, tmp_path, checksums)
    missing = (
        "CIFAR-10-C.tar: has no CIFAR-10-C/snow.npy" if as_tar else "(?s)missing file.*CIFAR-10-C/snow.npy"
    )
    with pytest.raises(DatasetFilesError, match=missing):
        load_cifar10_c("snow", 1, tmp_path, checksums)


def test_cifar10_c_wrong_arrays_are_refused(tmp_path):
    write_cifar10_c(tmp_path, ("fog",), n=20)
    np.save(tmp_path / "cifar10_c/CIFAR-10-C/labels.npy", np.zeros(7, np.uint8))
    with pytest.raises(DatasetFilesError, match=r"labels.npy has shape \(7,\), expected \(100,\)"):
        load_cifar10_c("fog", 2, tmp_path)
    np.save(tmp_path / "cifar10_c/CIFAR-10-C/fog.npy", np.zeros((100, 32, 32, 3), np.float32))
    with pytest.raises(DatasetFilesError, match="fog.npy must be uint8"):
        load_cifar10_c("fog", 2, tmp_path)


def test_image_folder_error_skip_and_resize(tmp_path):
    bad = write_image_folder(tmp_path / "pets")
    with pytest.raises(DatasetFilesError, match=rf"{bad[0]}: cannot decode image"):
        load_image_folder(tmp_path / "pets", image_size=24)
    src = load_image_folder(tmp_path / "pets", image_size=24, skip_unreadable=True)
    assert src.images.shape == (18, 24, 24, 3) and src.class_names == ("cat", "dog", "fish")
    assert np.bincount(src.labels).tolist() == [6, 6, 6]
    assert (
        src.skipped["path"].to_list() == [str(bad[0])] and "UnidentifiedImageError" in src.skipped["error"][0]
    )
    with pytest.raises(DatasetFilesError, match="images have different sizes .*set image_size"):
        load_image_folder(tmp_path / "pets", skip_unreadable=True)


def test_missing_files_stop_before_any_work_with_placement(tmp_path):
    datasets = {
        "m": {"source": "mnist"},
        "c": {"source": "cifar10_c", "corruption": {"name": "fog", "severity": 2}},
        "d": {"source": "sklearn_digits"},
    }
    with pytest.raises(DatasetFilesError) as info:
        check_dataset_files(datasets, tmp_path, online=False)
    message = str(info.value)
    assert (
        f"{tmp_path}/mnist/MNIST/raw/train-images-idx3-ubyte.gz  (MD5 f68b3c2dcbeaaa9fbdd348bbdeb94873"
        in message
    )
    assert f"{tmp_path}/cifar10_c/CIFAR-10-C.tar  (MD5 56bf5dcef84df0e2308c6dcbcbbd8499" in message
    assert (
        "zenodo.org/records/2535967" in message
        and "extracted CIFAR-10-C/<corruption>.npy" in message
        and "CIFAR-10-C/fog.npy" in message
    )
    assert check_dataset_files(datasets, tmp_path, online=True) == ["mnist", "cifar10_c"]  # would download
    write_mnist(tmp_path)
    write_cifar10_c(tmp_path, ("fog",))
    assert check_dataset_files(datasets, tmp_path, online=False) == []  # in place: works offline
    with pytest.raises(DatasetFilesError, match=r"datasets.f.path: .*nowhere is not a folder"):
        check_dataset_files({"f": {"source": "image_folder", "path": str(tmp_path / "nowhere")}}, tmp_path)


def test_download_step_verifies_placed_files_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERATLAS_OFFLINE", "1")
    checksums = write_mnist(tmp_path)
    manifest = download_source("mnist", tmp_path, checksums)
    assert manifest["verified_md5"] == checksums and manifest["unverified"] == []
    assert read_json(manifest_path("mnist", tmp_path)) == manifest
    with pytest.raises(DatasetFilesError, match="checksum mismatch"):
        download_source("mnist", tmp_path)  # the published MD5s: these small files are not MNIST
    (tmp_path / "mnist/MNIST/raw/t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetFilesError, match="t10k-labels-idx1-ubyte.gz: download failed"):
        download_source("mnist", tmp_path, checksums)


def test_download_tries_each_mirror_and_checks_the_md5(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tv_utils

    published = tmp_path / "published"
    checksums = write_mnist(published)
    calls = []

    def fake_download_url(url, root, filename=None, md5=None):  # noqa: ANN001, ANN202
        calls.append(url)
        if "ossci-datasets" in url:  # first mirror down
            raise OSError("connection refused")
        source = published / "mnist/MNIST/raw" / filename
        (tmp_path / "res/mnist/MNIST/raw").mkdir(parents=True, exist_ok=True)
        (tmp_path / "res/mnist/MNIST/raw" / filename).write_bytes(source.read_bytes())

    monkeypatch.setattr(tv_utils, "download_url", fake_download_url)
    manifest = download_source("mnist", tmp_path / "res", checksums)
    assert len(calls) == 8 and calls[1] == "http://yann.lecun.com/exdb/mnist/train-images-idx3-ubyte.gz"
    assert manifest["verified_md5"] == checksums
    (tmp_path / "res/mnist/MNIST/raw/train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DatasetFilesError, match="checksum mismatch"):
        download_source("mnist", tmp_path / "res")  # downloaded files are checked against the published MD5s


def test_downloads_rests_on_nothing_else_of_the_data_package():
    """One direction: the readers (sources) import the downloads module, never the other way round."""
    import ast

    from tests.conftest import ROOT

    tree = ast.parse((ROOT / "layeratlas" / "data" / "downloads.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m and m.startswith("layeratlas.data")}, imported
