"""Training recipes: freezing, heads, per-group learning rates, schedules, augmentation, early stopping,
two-stage training, and one tiny run of each recipe (a few hundred real digits, one epoch)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from layeratlas.data.datasets import ImageDataset, load_sklearn_digits, save_dataset, stratified_split
from layeratlas.models import build_model, get_architecture
from layeratlas.models.preprocess import Preprocess
from layeratlas.models.zoo import head_modules, input_size
from layeratlas.training import (
    apply_freezing,
    augment_batch,
    confusion_matrix,
    make_optimizer,
    make_scheduler,
    param_groups,
    train_classifier,
    with_defaults,
)


@pytest.fixture(scope="module")
def digits() -> ImageDataset:
    images, labels, names = load_sklearn_digits()
    keep = np.concatenate([np.flatnonzero(labels == c)[:20] for c in range(10)])  # 200 images
    split = stratified_split(labels[keep], {"train": 0.6, "val": 0.2, "test": 0.2}, seed=0)
    return ImageDataset("digits", images[keep], labels[keep], names, split)


def _train(spec: dict, ds: ImageDataset, seed: int = 0):
    spec = {**spec, "train": with_defaults(spec["train"])}
    arch = get_architecture(spec["architecture"])
    model = build_model(spec, num_classes=10, seed=seed)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pre = Preprocess(input_size(spec), arch.channels, arch.mean, arch.std)
    result = train_classifier(
        model, pre, ds, spec["train"], head_modules(spec), seed, torch.device("cpu"), False
    )
    return model, before, result


def _changed(model: torch.nn.Module, before: dict, prefix: str) -> bool:
    return any(not torch.equal(v, before[k]) for k, v in model.state_dict().items() if k.startswith(prefix))


RECIPES = {
    "scratch_sgd_multistep": {
        "architecture": "small_cnn",
        "train": {"dataset": "digits", "epochs": 1, "lr": 0.05, "milestones": [1]},
    },
    "adam_cosine_smoothing_augment": {
        "architecture": "small_cnn",
        "train": {
            "dataset": "digits",
            "epochs": 1,
            "optimizer": "adam",
            "lr": 1e-3,
            "schedule": "cosine",
            "label_smoothing": 0.1,
            "augment": {"crop_padding": 2, "hflip": True, "rotation": 10},
        },
    },
    "adamw_onecycle_dropout_head": {
        "architecture": "small_cnn",
        "train": {
            "dataset": "digits",
            "epochs": 1,
            "optimizer": "adamw",
            "lr": 3e-3,
            "weight_decay": 0.01,
            "schedule": "onecycle",
            "head": {"dropout": 0.3},
        },
    },
    "finetune_freeze_children_concat_head": {
        "architecture": "efficientnet_lite0",
        "weights": "imagenet",
        "input_size": 32,
        "train": {
            "dataset": "digits",
            "epochs": 1,
            "optimizer": "adam",
            "lr": 1e-3,
            "new_head": True,
            "freeze": 4,
            "head": {"type": "concat_pool", "hidden": [64], "dropout": 0.25},
        },
    },
    "two_stage_lr_groups": {
        "architecture": "resnet18",
        "input_size": 16,
        "train": {
            "dataset": "digits",
            "epochs": 2,
            "head_epochs": 1,
            "optimizer": "adam",
            "lr": 1e-3,
            "lr_groups": {"layer4": 1e-4, "fc": 1e-3},
            "trainable": ["layer4"],
        },
    },
    "scattering_linear": {
        "architecture": "scattering",
        "train": {"dataset": "digits", "epochs": 1, "optimizer": "adam", "lr": 1e-3},
    },
}


@pytest.mark.parametrize("name", list(RECIPES))
def test_each_recipe_trains(name, digits):
    model, before, result = _train(RECIPES[name], digits)
    epochs = RECIPES[name]["train"]["epochs"]
    assert result.history.height == epochs
    assert np.isfinite(result.history["train_loss"].to_numpy()).all()
    assert 0.0 <= result.metrics["test_accuracy"] <= 1.0
    n_test = int((digits.split == "test").sum())
    assert result.predictions.height == n_test
    assert set(result.predictions["sample_id"].to_list()) == set(np.flatnonzero(digits.split == "test"))
    head = head_modules(RECIPES[name])[0]
    assert _changed(model, before, head)


def test_learning_beats_chance(digits):
    spec = {
        "architecture": "small_cnn",
        "train": {"dataset": "digits", "epochs": 4, "batch_size": 16, "optimizer": "adam", "lr": 3e-3},
    }
    _, _, result = _train(spec, digits)
    assert result.metrics["test_accuracy"] > 0.5  # ten classes: chance is 0.1


def test_freezing_first_children_really_freezes(digits):
    spec = {"architecture": "small_cnn", "train": {"dataset": "digits", "epochs": 1, "lr": 0.05, "freeze": 3}}
    model, before, _ = _train(spec, digits)
    assert not _changed(model, before, "conv1") and not _changed(model, before, "conv2")
    assert (
        _changed(model, before, "conv3") and _changed(model, before, "fc1") and _changed(model, before, "fc3")
    )


def test_freezing_named_modules_and_trainable(digits):
    spec = {
        "architecture": "small_cnn",
        "train": {
            "dataset": "digits",
            "epochs": 1,
            "lr": 0.05,
            "trainable": ["fc1", "fc2"],
            "freeze": ["fc1"],
        },
    }
    model, before, _ = _train(spec, digits)
    assert not any(_changed(model, before, m) for m in ("conv1", "conv2", "conv3", "fc1"))
    assert _changed(model, before, "fc2") and _changed(model, before, "fc3")  # fc3: the head always trains


def test_frozen_batchnorm_statistics_stay(digits):
    spec = {
        "architecture": "resnet18",
        "input_size": 16,
        "train": {"dataset": "digits", "epochs": 1, "lr": 0.01, "freeze": ["conv1", "bn1", "layer1"]},
    }
    model, before, _ = _train(spec, digits)
    assert not _changed(model, before, "bn1.") and not _changed(model, before, "layer1.")
    assert _changed(model, before, "layer2.0.bn1.running_mean")


def test_head_stage_trains_only_the_head(digits):
    spec = {
        "architecture": "resnet18",
        "input_size": 16,
        "train": {"dataset": "digits", "epochs": 2, "head_epochs": 1},
    }
    spec["train"] = with_defaults(spec["train"])
    model = build_model(spec, num_classes=10, seed=0)
    states = {}
    pre = Preprocess(16, 3, get_architecture("resnet18").mean, get_architecture("resnet18").std)
    result = train_classifier(
        model,
        pre,
        digits,
        spec["train"],
        head_modules(spec),
        progress=False,
        on_epoch_end=lambda epoch, m: states.update(
            {epoch: {k: v.clone() for k, v in m.state_dict().items()}}
        ),
    )
    assert sorted(states) == [0, 1, 2] and result.history["stage"].to_list() == ["head", "all"]
    before, after_head = states[0], states[1]
    changed = [k for k in before if not torch.equal(before[k], after_head[k])]
    assert changed and all(k.startswith("fc.") for k in changed)  # stage 1: the head only
    assert not torch.equal(states[2]["layer4.1.conv2.weight"], after_head["layer4.1.conv2.weight"])


def test_per_group_learning_rates_reach_the_optimizer():
    model = build_model({"architecture": "resnet18"}, num_classes=10)
    recipe = with_defaults({"optimizer": "adam", "lr": 0.01, "lr_groups": {"layer4": 1e-4, "fc": 1e-3}})
    apply_freezing(model, {"freeze": ["conv1"]}, ["fc"])
    optimizer = make_optimizer(param_groups(model, recipe), recipe)
    by_name = {g["name"]: g for g in optimizer.param_groups}
    assert {k: g["lr"] for k, g in by_name.items()} == {"default": 0.01, "layer4": 1e-4, "fc": 1e-3}
    ids = {k: {id(p) for p in g["params"]} for k, g in by_name.items()}
    assert ids["layer4"] == {id(p) for p in model.layer4.parameters()}
    assert ids["fc"] == {id(p) for p in model.fc.parameters()}
    assert id(model.conv1.weight) not in set().union(*ids.values())  # frozen: in no group
    assert id(model.layer3[0].conv1.weight) in ids["default"]
    scheduler, per_step = make_scheduler(optimizer, {**recipe, "schedule": "onecycle"}, 2, 5)
    assert per_step and [g["max_lr"] for g in optimizer.param_groups] == [0.01, 1e-4, 1e-3]


def test_unknown_module_names_are_refused():
    model = build_model({"architecture": "small_cnn"}, num_classes=10)
    with pytest.raises(ValueError, match=r"train.freeze: no module named \['conv9'\]"):
        apply_freezing(model, {"freeze": ["conv9"]}, ["fc3"])
    with pytest.raises(ValueError, match="train.lr_groups: no module named"):
        param_groups(model, with_defaults({"lr_groups": {"fc9": 0.1}}))
    with pytest.raises(ValueError, match="freezes every parameter"):
        apply_freezing(model, {"trainable": []}, [])


def test_early_stopping_stops_and_keeps_the_best(digits):
    # a learning rate too small to move float32 weights: validation loss never improves after epoch 1
    spec = {
        "architecture": "small_cnn",
        "train": {"dataset": "digits", "epochs": 6, "lr": 1e-12, "momentum": 0.0, "early_stopping": 2},
    }
    _, _, result = _train(spec, digits)
    assert result.history.height == 3 and result.metrics["best_epoch"] == 1
    assert result.metrics["stopped"].startswith("early stop")


def test_augmentation_moves_whole_pixels_when_not_rotating():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64, 8, 8, 1), dtype=torch.uint8)
    flipped = augment_batch(images, {"hflip": True}, g)
    same = (flipped == images).flatten(1).all(1)
    mirrored = (flipped == images.flip(2)).flatten(1).all(1)
    assert bool((same | mirrored).all()) and 10 < int(mirrored.sum()) < 54
    shifted = augment_batch(images, {"crop_padding": 2}, g)
    assert not torch.equal(shifted, images)
    # every output row is an input row moved by at most 2 pixels, or zero padding
    assert set(np.unique(shifted.numpy())) <= set(np.unique(images.numpy())) | {0}
    assert torch.equal(augment_batch(images, {}, g), images)
    rotated = augment_batch(images, {"rotation": 30}, torch.Generator().manual_seed(1))
    again = augment_batch(images, {"rotation": 30}, torch.Generator().manual_seed(1))
    assert torch.equal(rotated, again) and rotated.dtype == torch.uint8


def test_training_is_deterministic_on_cpu(digits):
    spec = RECIPES["adam_cosine_smoothing_augment"]
    a, _, ra = _train(spec, digits, seed=3)
    b, _, rb = _train(spec, digits, seed=3)
    assert all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )
    assert ra.predictions.equals(rb.predictions)


def test_confusion_matrix_counts():
    counts = confusion_matrix(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), 3)
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 1, 0], [1, 0, 1]])


def test_training_stage_writes_confusion_matrix_and_top_losses(digits, tmp_path):
    from layeratlas.io import read_json
    from layeratlas.stages.train import plot_test_predictions, train_model

    save_dataset(digits, tmp_path / "digits")
    spec = {"architecture": "small_cnn", "layers": {"relu5": "none"}, **RECIPES["scratch_sgd_multistep"]}
    spec["train"] = with_defaults(spec["train"])
    out = tmp_path / "out"
    train_model(
        "cnn",
        spec,
        tmp_path / "digits",
        0,
        out / "checkpoint.pt",
        out / "history.parquet",
        out / "metrics.json",
        out / "predictions.parquet",
    )
    metrics = read_json(out / "metrics.json")
    preds = pl.read_parquet(out / "predictions.parquet")
    assert metrics["test_accuracy"] == pytest.approx(float((preds["label"] == preds["predicted"]).mean()))
    plot_test_predictions(
        "cnn",
        out / "predictions.parquet",
        tmp_path / "digits",
        out / "cm.tsv",
        out / "cm.png",
        out / "top.png",
    )
    table = pl.read_parquet(out / "cm.parquet")
    assert table.height == 10 and int(table.drop("true_class").to_numpy().sum()) == preds.height
    assert (out / "cm.png").stat().st_size > 0 and (out / "top.png").stat().st_size > 0
