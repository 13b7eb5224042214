"""Every dataset kind through the whole workflow (download check, prepare, extract, analyses), offline,
on small files written in the real formats; and the stop before any job when files are missing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from tests.dataset_files import write_cifar10, write_cifar10_c, write_image_folder, write_mnist
from tests.snakemake_runs import SUITE_OFF, snakemake


def _config(checksums: dict[str, dict[str, str]]) -> dict:
    return {
        "seed": 0,
        "datasets": {
            "mnist": {
                "source": "mnist",
                "checksums": checksums["mnist"],
                "split": {"train": 0.5, "val": 0.5},
            },
            "cifar10-blur": {
                "source": "cifar10",
                "checksums": checksums["cifar10"],
                "splits": ["test"],
                "corruption": {"name": "gaussian_blur", "severity": 3},
            },
            "cifar10c": {
                "source": "cifar10_c",
                "corruption": {"name": "gaussian_blur", "severity": 2},
                "split": {"train": 0.0, "val": 0.0, "test": 1.0},
            },
            "pets": {"source": "image_folder", "path": "pets", "image_size": 24, "on_unreadable": "skip"},
            "digits": {
                "source": "sklearn_digits",
                "max_per_class": 4,
                "corruption": {"name": ["pixelate"], "severity": [5]},  # a list: named digits-pixelate-5
            },
        },
        "models": {"cnn": {"architecture": "small_cnn", "layers": {"relu5": "none"}}},
        "extraction": {"batch_size": 16},
        "analyses": {  # the dataset side is under test: the class variances, nothing else
            "split": "all",
            "embeddings": [],
            "variance": True,
            **SUITE_OFF,
        },
    }


def _write_files(workdir: Path) -> dict[str, dict[str, str]]:
    resources = workdir / "resources"
    checksums = {"mnist": write_mnist(resources, "mnist", 40, 20), "cifar10": write_cifar10(resources, 4, 20)}
    write_cifar10_c(resources, ("gaussian_blur",), n=20)
    write_image_folder(workdir / "pets", per_class=4)
    return checksums


def test_missing_files_stop_the_run_before_any_job(tmp_path):
    config = _config({"mnist": {}, "cifar10": {}})
    (tmp_path / "pets").mkdir()
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "--cores", "1", "--configfile", str(tmp_path / "config.yaml"), check=False)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "dataset files are not in place and the network cannot be reached" in out
    assert (
        "resources/mnist/MNIST/raw/train-images-idx3-ubyte.gz  (MD5 f68b3c2dcbeaaa9fbdd348bbdeb94873" in out
    )
    assert "resources/cifar10/cifar-10-python.tar.gz  (MD5 c58f30108f718f92721af3b95e74349a" in out
    assert "resources/cifar10_c/CIFAR-10-C/gaussian_blur.npy" in out
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


@pytest.fixture(scope="module")
def datasets_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("datasets_run")
    (workdir / "config.yaml").write_text(yaml.safe_dump(_config(_write_files(workdir))))
    snakemake(workdir, "--cores", "2", "--resources", "gpu=1", "--configfile", str(workdir / "config.yaml"))
    return workdir


EXPECTED = {  # dataset -> (images, shape, split counts)
    "mnist": (60, [28, 28, 1], {"train": 20, "val": 20, "test": 20}),
    "cifar10-blur": (20, [32, 32, 3], {"train": 0, "val": 0, "test": 20}),
    "cifar10c": (20, [32, 32, 3], {"train": 0, "val": 0, "test": 20}),
    "pets": (12, [24, 24, 3], None),
    "digits-pixelate-5": (40, [8, 8, 1], None),
}


def test_every_dataset_runs_through_extraction_and_analyses(datasets_run):
    for dataset, (n, shape, counts) in EXPECTED.items():
        folder = datasets_run / "results/datasets" / dataset
        meta = json.loads((folder / "dataset.json").read_text())
        assert meta["n_samples"] == n and meta["image_shape"] == shape, dataset
        if counts:
            assert meta["split_counts"] == counts, dataset
        features = np.load(datasets_run / f"results/features/{dataset}/cnn/relu5.npy")
        assert features.shape == (n, 100) and np.isfinite(features).all()
        analysis = datasets_run / f"results/analysis/{dataset}/cnn/relu5"
        assert (analysis / "class_variance_heatmap.png").stat().st_size > 0
        assert pl.read_parquet(analysis / "intra_class_variance.parquet").height == len(meta["class_names"])


def test_downloads_verified_offline_and_provenance_recorded(datasets_run):
    for source in ("mnist", "cifar10", "cifar10_c"):
        manifest = json.loads((datasets_run / f"resources/{source}/checksums.json").read_text())
        assert manifest["source"] == source
    assert json.loads((datasets_run / "resources/cifar10_c/checksums.json").read_text())["unverified"] == [
        "CIFAR-10-C.tar"
    ]
    assert (datasets_run / "logs/download_dataset/mnist.log").exists()
    blur = json.loads((datasets_run / "results/datasets/cifar10-blur/dataset.json").read_text())
    assert (
        blur["corruption"] == {"name": "gaussian_blur", "severity": 3}
        and blur["corruption_kind"] == "generated"
    )
    index = pl.read_parquet(datasets_run / "results/datasets/cifar10c/index.parquet")
    assert index["sample_id"].to_list() == list(range(50_000, 50_020))  # CIFAR-10's test images
    blur_index = pl.read_parquet(datasets_run / "results/datasets/cifar10-blur/index.parquet")
    assert blur_index["sample_id"].min() == 20  # 4 x 5 train images first, then the published test ones


def test_unreadable_image_is_skipped_and_listed(datasets_run):
    skipped = pl.read_csv(datasets_run / "results/datasets/pets/skipped_files.tsv", separator="\t")
    assert skipped["path"].to_list() == ["pets/cat/broken.png"]
    empty = pl.read_csv(datasets_run / "results/datasets/mnist/skipped_files.tsv", separator="\t")
    assert empty.height == 0
