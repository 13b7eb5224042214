"""Sweeps: one model entry expands into one model per value, through the whole workflow (dry run)."""

from __future__ import annotations

import copy

import numpy as np
import polars as pl
import pytest
import torch
import yaml

from layeratlas.config import ConfigError, validate_config
from layeratlas.io import write_json
from layeratlas.models.sweeps import expand_sweeps, member_name, sweep_groups
from tests.conftest import TINY_CONFIG
from tests.snakemake_runs import snakemake

DROPOUTS = [0.1, 0.2, 0.3, 0.4]


@pytest.fixture
def sweep_config() -> dict:
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["models"]["small_cnn"]["sweep"] = {"train.head.dropout": DROPOUTS}
    return config


def test_member_names():
    assert member_name("cnn", "train.head.dropout", 0.1) == "cnn-dropout0p1"
    assert member_name("cnn", "train.lr", 1e-4) == "cnn-lr0p0001"
    assert member_name("r", "train.optimizer", "adamw") == "r-optimizeradamw"


def test_a_sweep_expands_into_models(sweep_config):
    config = validate_config(sweep_config)
    members = [f"small_cnn-dropout0p{i}" for i in range(1, 5)]
    assert list(config["models"])[:4] == members and "small_cnn" not in config["models"]
    assert [config["models"][m]["train"]["head"]["dropout"] for m in members] == DROPOUTS
    assert config["models"][members[0]]["train"]["lr"] == 0.05  # the rest of the template is kept
    assert sweep_groups(config["models"]) == {"small_cnn": members}
    assert validate_config(config)["models"] == config["models"]  # expanding twice changes nothing
    assert expand_sweeps(config["models"]) == config["models"]


def test_a_swept_value_is_validated(sweep_config):
    bad = copy.deepcopy(sweep_config)
    bad["models"]["small_cnn"]["sweep"] = {"train.head.dropout": [0.1, 1.5]}
    with pytest.raises(ConfigError, match=r"models.small_cnn-dropout1p5.train.head.dropout: 1.5 is greater"):
        validate_config(bad)
    bad["models"]["small_cnn"]["sweep"] = {"train.lr": [0.1], "train.epochs": [1]}
    with pytest.raises(ConfigError, match="models.small_cnn.sweep"):
        validate_config(bad)


def test_a_sweep_runs_through_the_whole_workflow(sweep_config, tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep_config))
    out = snakemake(tmp_path / "run", "--dry-run", "--cores", "1", "--configfile", str(path)).stdout
    jobs = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            jobs[parts[0]] = int(parts[1])
    # 4 swept small CNNs + the fine-tuned EfficientNet train; 6 models export; one comparison
    assert jobs["train_model"] == 5 and jobs["export_model"] == 6 and jobs["compare_sweep"] == 1
    for i in range(1, 5):
        assert f"results/training/small_cnn-dropout0p{i}/metrics.json" in out
        assert f"results/analysis/digits/small_cnn-dropout0p{i}/relu5/" in out
    assert "results/training/sweeps/small_cnn/comparison.png" in out


def test_comparison_table_and_figure(sweep_config, tmp_path):
    from layeratlas.stages.train import compare_sweep

    config = validate_config(sweep_config)
    members = sweep_groups(config["models"])["small_cnn"]
    paths = []
    for i, m in enumerate(members):
        paths.append(tmp_path / f"{m}.json")
        metrics = {"test_accuracy": 0.5 + i / 10, "test_loss": 1.0, "final_val_accuracy": 0.4}
        write_json({**metrics, "epochs_run": 1, "training_seconds": 2.0 + i}, paths[-1])
    specs = [config["models"][m] for m in members]
    compare_sweep("small_cnn", members, specs, paths, tmp_path / "c.tsv", tmp_path / "c.png")
    table = pl.read_csv(tmp_path / "c.tsv", separator="\t")
    assert table["model"].to_list() == members and table["parameter"].unique().to_list() == [
        "train.head.dropout"
    ]
    assert table["value"].to_list() == DROPOUTS and table["test_accuracy"].to_list() == [0.5, 0.6, 0.7, 0.8]
    assert (tmp_path / "c.png").stat().st_size > 0


def test_snapshots_expand_into_models(sweep_config):
    config = copy.deepcopy(sweep_config)
    del config["models"]["small_cnn"]["sweep"]
    config["models"]["small_cnn"]["train"]["snapshots"] = [0, 1]
    checked = validate_config(config)
    names = list(checked["models"])
    assert names[:3] == ["small_cnn", "small_cnn-epoch0", "small_cnn-epoch1"]
    snap = checked["models"]["small_cnn-epoch1"]
    assert "train" not in snap and snap["snapshot_of"] == {
        "model": "small_cnn",
        "epoch": 1,
        "dataset": "digits",
    }
    assert snap["layers"] == checked["models"]["small_cnn"]["layers"]
    assert validate_config(checked)["models"] == checked["models"]  # expanding twice changes nothing


def test_snapshots_are_written_and_export(tmp_path):
    from layeratlas.data.datasets import ImageDataset, load_sklearn_digits, save_dataset, stratified_split
    from layeratlas.stages.export import export_model
    from layeratlas.stages.train import train_model

    images, labels, names = load_sklearn_digits()
    keep = np.arange(200)
    split = stratified_split(labels[keep], {"train": 0.6, "val": 0.2, "test": 0.2}, seed=0)
    save_dataset(ImageDataset("digits", images[keep], labels[keep], names, split), tmp_path / "digits")
    config = validate_config(
        {
            "datasets": {"digits": {"source": "sklearn_digits"}},
            "models": {
                "cnn": {
                    "architecture": "small_cnn",
                    "layers": {"relu5": "none"},
                    "train": {"dataset": "digits", "epochs": 2, "lr": 0.05, "snapshots": [0, 2]},
                }
            },
        }
    )
    out = tmp_path / "out"
    spec = config["models"]["cnn"]
    train_model(
        "cnn",
        spec,
        tmp_path / "digits",
        0,
        out / "ckpt.pt",
        out / "h.parquet",
        out / "m.json",
        snapshots=out / "snaps",
    )
    assert sorted(p.name for p in (out / "snaps").iterdir()) == ["epoch0.pt", "epoch2.pt"]
    final = torch.load(out / "ckpt.pt", weights_only=True)["state_dict"]
    last = torch.load(out / "snaps" / "epoch2.pt", weights_only=True)["state_dict"]
    first = torch.load(out / "snaps" / "epoch0.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(final[k], last[k]) for k in final)
    assert not torch.equal(final["conv1.weight"], first["conv1.weight"])
    export_model(
        "cnn-epoch0",
        config["models"]["cnn-epoch0"],
        out / "snaps",
        0,
        out / "e.onnx",
        out / "e.pt",
        out / "e.json",
    )
    assert (out / "e.onnx").stat().st_size > 0
    with pytest.raises(FileNotFoundError, match="wrote no snapshot after epoch 1"):
        export_model(
            "cnn-epoch1",
            {
                **config["models"]["cnn-epoch0"],
                "snapshot_of": {"model": "cnn", "epoch": 1, "dataset": "digits"},
            },
            out / "snaps",
            0,
            out / "f.onnx",
            out / "f.pt",
            out / "f.json",
        )


def test_sweep_and_snapshot_models_run_through_extraction_and_analysis(tmp_path):
    """A real (small) run: a swept small CNN whose members keep a snapshot after epoch 1. The snapshot
    models are exported, extracted and analysed like any other, and their extractor.json says what
    they were trained on and when; after a 1-epoch run the epoch-1 snapshot is the trained model."""
    from layeratlas.io import read_json

    config = {
        "seed": 0,
        "datasets": {"digits": {"source": "sklearn_digits", "max_per_class": 12}},
        "models": {
            "cnn": {
                "architecture": "small_cnn",
                "options": {"widths": [4, 8, 8], "hidden": [24, 16]},
                "layers": {"relu5": "none"},
                "sweep": {"train.lr": [0.05, 0.1]},
                "train": {"dataset": "digits", "epochs": 1, "snapshots": [1]},
            }
        },
        "analyses": {"split": "all", "embeddings": ["pca"]},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    members = ["cnn-lr0p05", "cnn-lr0p1"]
    models = members + [f"{m}-epoch1" for m in members]
    targets = ["results/training/sweeps/cnn/comparison.tsv"]
    targets += [f"results/analysis/digits/{m}/relu5/embedding_pca.png" for m in models]
    snakemake(tmp_path / "run", *targets, "--cores", "2", "--configfile", str(path))
    run = tmp_path / "run"
    for member in members:
        snap = read_json(run / f"models/{member}-epoch1/extractor.json")
        assert snap["trained_on"] == "digits"
        assert snap["snapshot"] == {"of_model": member, "epoch": 1}
        final = read_json(run / f"models/{member}/extractor.json")
        assert final["trained_on"] == "digits" and final["snapshot"] is None
        assert final["layers"][0]["shape"] == [16]  # options.hidden reached the trained network
        a = np.load(run / f"results/features/digits/{member}/relu5.npy")
        b = np.load(run / f"results/features/digits/{member}-epoch1/relu5.npy")
        assert a.shape == (120, 16) and np.allclose(a, b, rtol=1e-6, atol=1e-6)
    table = pl.read_csv(run / "results/training/sweeps/cnn/comparison.tsv", separator="\t")
    assert table["model"].to_list() == members and table["value"].to_list() == [0.05, 0.1]
