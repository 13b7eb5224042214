"""A run killed with SIGKILL in the middle leaves nothing a rerun would trust, and the rerun gives
bitwise the same features and the same tables as an uninterrupted run (determinism on CPU)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
import yaml

from tests.conftest import TINY_CONFIG
from tests.snakemake_runs import SNAKEMAKE, SUITE_OFF, snakemake

# The tiny config with its analyses cut to PCA: the same datasets, training, export and extraction (so
# features and training tables compare with the full tiny run), at half the run time of CI's longest test.
LEAN_ANALYSES = {"embeddings": ["pca"], "variance": False, **SUITE_OFF}


def _lean_run_args(workdir: Path) -> list[str]:
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["analyses"].update(LEAN_ANALYSES)
    path = workdir / "lean.yaml"
    path.write_text(yaml.safe_dump(config))
    return ["--cores", "2", "--resources", "gpu=1", "--configfile", str(path)]


def _kill_during_extraction(workdir: Path, run: list[str], timeout: float = 600) -> None:
    """Start the run and SIGKILL Snakemake and its jobs while features are being written."""
    proc = subprocess.Popen(
        [*SNAKEMAKE, "--directory", str(workdir), *run],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so the kill reaches the running jobs too
    )
    features = workdir / "results" / "features"
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            # extraction writes into a hidden temporary folder and renames it when complete
            if features.exists() and any(p.name.startswith(".") for p in features.glob("*/*")):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before extraction could be interrupted"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _tables(workdir: Path) -> dict[str, pl.DataFrame]:
    tables = {}
    for path in sorted((workdir / "results").rglob("*.parquet")):
        table = pl.read_parquet(path)
        tables[str(path.relative_to(workdir))] = table.drop([c for c in table.columns if c == "seconds"])
    return tables


@pytest.fixture(scope="module")
def killed_then_rerun(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("killed")
    run = _lean_run_args(workdir)
    _kill_during_extraction(workdir, run)
    for path in (workdir / "results" / "features").rglob("*.npy"):
        # whatever is under a final name is complete: it loads with its full row count
        if not path.parent.name.startswith("."):
            assert len(np.load(path, mmap_mode="r")) > 0
    snakemake(workdir, "--unlock", *run)  # what a user does after a crash: release Snakemake's lock
    snakemake(workdir, *run)  # profiles/default has rerun-incomplete: the killed job is redone
    return workdir


def test_rerun_after_kill_completes_without_leftovers(killed_then_rerun):
    leftovers = [p for p in killed_then_rerun.rglob("results/**/.*") if p.name != ".snakemake_timestamp"]
    assert not leftovers  # no temporary files or folders (Snakemake marks directory outputs with a timestamp)
    dry = snakemake(killed_then_rerun, "--dry-run", *_lean_run_args(killed_then_rerun)).stdout
    assert "Nothing to be done" in dry


def test_rerun_gives_bitwise_identical_features(killed_then_rerun, tiny_run):
    first = sorted((tiny_run / "results" / "features").rglob("*.npy"))
    assert first
    for path in first:
        again = killed_then_rerun / path.relative_to(tiny_run)
        assert np.array_equal(np.load(path), np.load(again)), path.relative_to(tiny_run)


def test_rerun_gives_identical_tables(killed_then_rerun, tiny_run):
    first, again = _tables(tiny_run), _tables(killed_then_rerun)
    assert again.keys() <= first.keys()  # the lean run writes a subset of the tiny run's tables
    kinds = {Path(name).name for name in again}
    assert {"history.parquet", "test_predictions.parquet", "embedding_pca.parquet", "index.parquet"} <= kinds
    for name, table in again.items():
        assert table.equals(first[name]), name


# --- numerical faults: each stops its step naming the model, the layer (or epoch and step) and the ids ---

NAN_IDS = (1003, 1011)  # sample ids (not row positions) of the rows made NaN / inf below


@pytest.fixture
def nan_features(tmp_path) -> tuple[Path, Path]:
    """results/features/d/m/l.npy with one NaN and one inf row among 60 samples, and its dataset."""
    from layeratlas.io import write_json

    rng = np.random.default_rng(0)
    ids = 1000 + np.arange(60)
    features = rng.normal(size=(60, 6)).astype(np.float32)
    features[3, 2], features[11, 0] = np.nan, np.inf
    folder = tmp_path / "features" / "d" / "m"
    folder.mkdir(parents=True)
    np.save(folder / "l.npy", features)
    pl.DataFrame(
        {"sample_id": ids, "split": ["train", "val", "test"] * 20, "label": np.arange(60) % 3}
    ).write_parquet(folder / "index.parquet")
    dataset = tmp_path / "dataset"
    write_json({"class_names": ["a", "b", "c"]}, dataset / "dataset.json")
    return folder, dataset


def test_require_finite_names_what_and_the_sample_ids():
    from layeratlas.finite import NonFiniteError, require_finite

    x = np.zeros((30, 4), np.float32)
    assert require_finite(x, "fine") is x
    x[[2, 5]] = np.nan
    x[7, 1] = -np.inf
    with pytest.raises(
        NonFiniteError, match=r"^thing: NaN and inf values in 3 of 30 rows, sample ids \[12, 15, 17\]$"
    ):
        require_finite(x, "thing", ids=np.arange(10, 40))
    x[:] = np.nan
    with pytest.raises(NonFiniteError, match=r"30 of 30 rows, rows \[0, 1, .*, 9, \.\.\. \(20 more\)\]"):
        require_finite(x, "thing")
    assert require_finite(np.arange(5), "integers are always finite").sum() == 10


def test_nan_analysis_inputs_stop_each_step_with_model_layer_and_ids(nan_features, tmp_path):
    from layeratlas.finite import NonFiniteError
    from layeratlas.stages import analysis

    folder, dataset = nan_features
    expected = (
        rf"{folder / 'l.npy'}: features of model m, layer l \(dataset d\): NaN and inf values in 2 of 60"
    )
    out = tmp_path / "out"
    with pytest.raises(NonFiniteError, match=expected + r".*sample ids \[1003, 1011\]"):  # all splits
        analysis.class_variance(
            "d",
            "m",
            "l",
            folder,
            dataset,
            "all",
            *(out / f"{n}" for n in ("i", "e", "s.json", "h.png", "b.png")),
        )
    options = {"classifiers": ["ncm_l2"], "C": [1.0], "k": [1], "n_estimators": 10}
    with pytest.raises(NonFiniteError, match=expected):  # train / val / test
        analysis.layer_probes("d", "m", "l", folder, dataset, options, 0, 1, *(out / n for n in "abcd"))
    with pytest.raises(NonFiniteError, match=expected):
        analysis.dataset_cka("d", folder.parent, {"m": ["l"]}, "all", out / "cka.parquet", out / "cka.png")
    assert not out.exists()  # nothing was written


def test_nan_embedding_stops_with_model_layer_and_ids(nan_features, tmp_path, monkeypatch):
    from layeratlas.analysis import embeddings
    from layeratlas.finite import NonFiniteError
    from layeratlas.stages import analysis

    folder, dataset = nan_features
    features = np.load(folder / "l.npy")
    np.save(folder / "l.npy", np.nan_to_num(features, nan=0.0, posinf=0.0))  # finite inputs

    def diverged(x, method, **kwargs):  # noqa: ANN001, ANN003, ANN202 - an embedding that blew up
        coords = np.zeros((len(x), 2), np.float32)
        coords[len(x) - 1] = np.nan
        return coords

    monkeypatch.setattr(embeddings, "embed", diverged)
    with pytest.raises(
        NonFiniteError,
        match=r"^umap embedding of model m, layer l on d: NaN values in 1 of 20 rows, sample ids \[1059\]",
    ):
        analysis.embed_features(
            "d",
            "m",
            "l",
            "umap",
            folder,
            dataset,
            "test",
            {},
            0,
            1,
            tmp_path / "e.parquet",
            tmp_path / "e.png",
        )
    assert not (tmp_path / "e.parquet").exists()


def test_nan_training_loss_stops_with_epoch_and_step():
    from layeratlas.data.datasets import ImageDataset, load_sklearn_digits, stratified_split
    from layeratlas.models import build_model, get_architecture
    from layeratlas.models.preprocess import Preprocess
    from layeratlas.training import train_classifier, with_defaults

    images, labels, names = load_sklearn_digits()
    keep = np.arange(100)
    ds = ImageDataset(
        "digits",
        images[keep],
        labels[keep],
        names,
        stratified_split(labels[keep], {"train": 0.6, "val": 0.2, "test": 0.2}, 0),
    )
    spec = {
        "architecture": "small_cnn",
        "train": with_defaults({"dataset": "digits", "epochs": 3, "batch_size": 32}),
    }
    model = build_model(spec, num_classes=10)
    arch = get_architecture("small_cnn")
    calls = []

    def poison(module, inputs, output):  # noqa: ANN001, ANN202 - the 4th training batch overflows
        if module.training:
            calls.append(1)
            if len(calls) == 4:
                return output * float("nan")
        return None

    model.register_forward_hook(poison)  # 60 training images in batches of 32: two steps per epoch
    with pytest.raises(FloatingPointError, match=r"^training loss became nan at epoch 2, step 2$"):
        train_classifier(
            model,
            Preprocess(28, 1, arch.mean, arch.std),
            ds,
            spec["train"],
            ["fc3"],
            0,
            torch.device("cpu"),
            False,
        )
