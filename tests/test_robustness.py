"""Robustness under domain shift (layeratlas.robustness): the config block, corrupted evaluation on exactly
the requested corruption, severity and images, feature drift, pooled fine-tuning, the figures."""

from __future__ import annotations

import copy

import numpy as np
import polars as pl
import pytest
import torch
import yaml

from layeratlas.analysis.probes import nearest_class_mean, predict_nearest_mean
from layeratlas.config import ConfigError, validate_config
from layeratlas.data.corruptions import corrupt_images
from layeratlas.data.datasets import ImageDataset, build_dataset, save_dataset
from layeratlas.robustness.config import CorruptedDataset, corrupted_datasets, robustness_layers
from layeratlas.robustness.drift import feature_drift
from layeratlas.robustness.evaluate import (
    ACCURACY_SCHEMA,
    CLEAN,
    corruption_summary,
    held_out_rows,
    pair_rows,
)
from layeratlas.robustness.finetune import UNUSED, pool_datasets, training_datasets
from tests.conftest import ROOT

CONFIG = ROOT / "tests" / "configs" / "robustness.yaml"
SPEC = {"source": "sklearn_digits", "max_per_class": 20, "split": {"train": 0.5, "val": 0.2, "test": 0.3}}


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def _invalid(raw: dict, change) -> str:  # noqa: ANN001
    bad = copy.deepcopy(raw)
    change(bad)
    with pytest.raises(ConfigError) as err:
        validate_config(bad)
    return str(err.value)


# --- the config block ------------------------------------------------------------------------------------


def test_block_resolves_the_expanded_corrupted_datasets(raw):
    config = validate_config(raw)
    assert corrupted_datasets(config) == [
        CorruptedDataset("digits_c-gaussian_blur-2", "gaussian_blur", 2),
        CorruptedDataset("digits_c-gaussian_blur-5", "gaussian_blur", 5),
    ]
    # an expanded name picks one; layers default to every layer the model extracts
    one = validate_config(
        {**raw, "robustness": {**raw["robustness"], "corrupted": ["digits_c-gaussian_blur-5"]}}
    )
    assert [c.severity for c in corrupted_datasets(one)] == [5]
    assert robustness_layers(config) == {"small_cnn": ["relu5", "pool2"], "small_cnn_c": ["relu5"]}
    assert validate_config({k: v for k, v in raw.items() if k != "robustness"})["robustness"] is None


def test_bad_block_names_the_key_and_the_choices(raw):
    message = _invalid(raw, lambda c: c["robustness"].update(clean="digitz"))
    assert "robustness.clean: 'digitz' is not a configured dataset" in message and "'digits'" in message
    message = _invalid(raw, lambda c: c["robustness"].update(corrupted=["digits_x"]))
    assert "robustness.corrupted: 'digits_x'" in message and "digits_c-gaussian_blur-2" in message
    message = _invalid(raw, lambda c: c["robustness"].update(clean="digits_c-gaussian_blur-2"))
    assert "is itself corrupted" in message
    message = _invalid(raw, lambda c: c["robustness"]["compare"][0].update(layer="pool2"))
    assert "robustness.compare.0.layer: 'pool2' is not a layer that model 'small_cnn_c' extracts" in message
    message = _invalid(raw, lambda c: c["robustness"]["compare"][0].update(dataset="digits"))
    assert "robustness.compare.0.dataset" in message and "digits_c-gaussian_blur-5" in message
    message = _invalid(raw, lambda c: c["robustness"].update(layers={"small_cnn": ["conv9"]}))
    assert "robustness.layers.small_cnn: 'conv9'" in message and "pool2, relu5" in message
    message = _invalid(raw, lambda c: c["models"]["small_cnn_c"]["train"].update(dataset=["digits", "nope"]))
    assert "models.small_cnn_c.train.dataset: 'nope' is not a configured dataset" in message


def test_train_dataset_list_expands_corruption_lists(raw):
    datasets = validate_config(raw)["datasets"]
    assert training_datasets("digits_c", datasets) == ["digits_c-gaussian_blur-2", "digits_c-gaussian_blur-5"]
    assert training_datasets(["digits", "digits_c-gaussian_blur-5"], datasets) == [
        "digits",
        "digits_c-gaussian_blur-5",
    ]
    with pytest.raises(KeyError):
        training_datasets(["digits_c-gaussian_blur-3"], datasets)


# --- corrupted evaluation ---------------------------------------------------------------------------------


def _features_dir(ds: ImageDataset, folder) -> None:  # noqa: ANN001
    """A features folder whose layer ``pixels`` is the flattened image (as extraction lays one out)."""
    folder.mkdir(parents=True)
    ds.index().write_parquet(folder / "index.parquet")
    np.save(folder / "pixels.npy", ds.images.reshape(len(ds.images), -1).astype(np.float32))


@pytest.fixture(scope="module")
def digits_world(tmp_path_factory):
    """Clean digits and gaussian_blur 2 and 5 copies, prepared and 'extracted' (features = pixels)."""
    root = tmp_path_factory.mktemp("robust")
    out = {}
    for name, corruption in (("clean", None), ("blur2", 2), ("blur5", 5)):
        spec = {
            **SPEC,
            "corruption": {"name": "gaussian_blur", "severity": corruption} if corruption else None,
        }
        ds = build_dataset(name, spec, seed=0)
        save_dataset(ds, root / "datasets" / name)
        _features_dir(ds, root / "features" / name)
        out[name] = ds
    return root, out


def test_corrupted_evaluation_uses_the_requested_corruption_severity_and_images(digits_world, tmp_path):
    from layeratlas.stages.robustness import robustness_probes

    root, ds = digits_world
    corrupted = [
        {
            "dataset": n,
            "corruption": "gaussian_blur",
            "severity": s,
            "features_dir": root / "features" / n,
            "dataset_dir": root / "datasets" / n,
        }
        for n, s in (("blur2", 2), ("blur5", 5))
    ]
    options = {"classifiers": ["ncm_l2"], "C": [1.0], "k": [1], "n_estimators": 10}
    table = robustness_probes(
        "clean",
        "m",
        "pixels",
        root / "features" / "clean",
        corrupted,
        options,
        0,
        1,
        tmp_path / "accuracy.parquet",
    )
    assert (tmp_path / "accuracy.tsv").exists()
    assert table.select("dataset", "corruption", "severity").rows() == [
        ("clean", CLEAN, 0),
        ("blur2", "gaussian_blur", 2),
        ("blur5", "gaussian_blur", 5),
    ]
    # Recompute independently: class means of the clean train pixels, the source's test images corrupted
    # here with the requested corruption and severity.
    clean = ds["clean"]
    x = clean.images.reshape(len(clean.images), -1).astype(np.float64)
    train, test = clean.split == "train", clean.split == "test"
    classes, means = nearest_class_mean(x[train], clean.labels[train])
    for severity, row in zip((0, 2, 5), table.iter_rows(named=True), strict=True):
        images = clean.images[test]
        if severity:
            images = corrupt_images(images, "gaussian_blur", severity, 0, clean.sample_ids[test])
        predicted = predict_nearest_mean(images.reshape(len(images), -1).astype(np.float64), classes, means)
        assert row["n_samples"] == test.sum()
        assert row["accuracy"] == pytest.approx(float((predicted == clean.labels[test]).mean()))
    # a dataset that does not hold the requested severity is refused, naming both
    wrong = [{**corrupted[1], "severity": 3}]
    with pytest.raises(ValueError, match="severity 5.*severity 3 was requested"):
        robustness_probes(
            "clean",
            "m",
            "pixels",
            root / "features" / "clean",
            wrong,
            options,
            0,
            1,
            tmp_path / "wrong.parquet",
        )


def test_images_fitted_on_are_never_scored():
    ids, split = np.array([5, 6, 7, 8]), np.array(["test", "test", "train", "test"])
    assert held_out_rows(ids, split, clean_fit_ids=np.array([6, 1])).tolist() == [0, 3]
    a, b = pair_rows(np.array([3, 1, 2]), np.array([2, 3, 9]))
    assert a.tolist() == [0, 2] and b.tolist() == [1, 0]
    with pytest.raises(ValueError, match="unique"):
        pair_rows(np.array([1, 1]), np.array([1]))


def test_corruption_summary_means_and_relative_drop():
    rows = [("m", "l", "c", CLEAN, 0, 0.8), ("m", "l", "c", "blur", 1, 0.6), ("m", "l", "c", "noise", 1, 0.4)]
    table = pl.DataFrame(
        rows, schema=["model", "layer", "classifier", "corruption", "severity", "accuracy"], orient="row"
    )
    out = corruption_summary(table).row(0, named=True)
    assert out["clean_accuracy"] == 0.8 and out["n_corrupted_datasets"] == 2
    assert out["mean_corruption_accuracy"] == pytest.approx(0.5)
    assert out["worst_corruption_accuracy"] == 0.4
    assert out["relative_drop"] == pytest.approx((0.8 - 0.5) / 0.8)


# --- feature drift ----------------------------------------------------------------------------------------


def test_cka_of_identical_features_is_one_and_drops_as_severity_grows(digits_world):
    _, ds = digits_world
    clean = ds["clean"]
    x = clean.images.reshape(len(clean.images), -1).astype(np.float64)
    same = feature_drift(x, x.copy(), clean.labels)
    assert same["cka"] == pytest.approx(1.0, abs=1e-9) and same["ratio_change"] == pytest.approx(
        0.0, abs=1e-12
    )
    ckas = []
    for severity in (1, 2, 3, 4, 5):
        corrupted = corrupt_images(clean.images, "gaussian_blur", severity, 0, clean.sample_ids)
        ckas.append(feature_drift(x, corrupted.reshape(len(x), -1).astype(np.float64), clean.labels)["cka"])
    assert all(a > b for a, b in zip(ckas, ckas[1:], strict=False)), ckas
    assert ckas[0] < 1.0
    with pytest.raises(ValueError, match="differ"):
        feature_drift(x, x[:, :10], clean.labels)


# --- fine-tuning on pooled corrupted data -----------------------------------------------------------------


def test_pool_draws_the_sample_from_the_pooled_train_split(digits_world):
    _, ds = digits_world
    pooled = pool_datasets([ds["blur2"], ds["blur5"]], sample_size=150, seed=3)
    n = len(ds["blur2"].labels)
    assert len(pooled.labels) == 2 * n and (pooled.split == "train").sum() == 150
    n_train = (ds["blur2"].split == "train").sum() * 2
    assert (pooled.split == UNUSED).sum() == 2 * n - 150 - (pooled.split == "val").sum() - (
        pooled.split == "test"
    ).sum()
    share = 150 / n_train  # val and test: the same share of the pooled images
    for name in ("val", "test"):
        pooled_n = sum((ds[k].split == name).sum() for k in ("blur2", "blur5"))
        assert (pooled.split == name).sum() == round(share * pooled_n)
    # rows keep the concatenation's positions, and the draw is seeded
    assert np.array_equal(pooled.images[n:], ds["blur5"].images)
    again = pool_datasets([ds["blur2"], ds["blur5"]], sample_size=150, seed=3)
    assert np.array_equal(again.split, pooled.split)
    with pytest.raises(ValueError, match="sample_size: 10000 images asked"):
        pool_datasets([ds["blur2"]], sample_size=10000, seed=0)
    other = ImageDataset("x", ds["blur2"].images, ds["blur2"].labels, ("a",) * 10, ds["blur2"].split)
    with pytest.raises(ValueError, match="same classes"):
        pool_datasets([ds["blur2"], other], None, 0)


def test_finetuning_changes_only_the_layers_it_names(digits_world):
    from layeratlas.models import build_model, get_architecture
    from layeratlas.models.preprocess import Preprocess
    from layeratlas.training import train_classifier

    _, ds = digits_world
    spec = {"architecture": "small_cnn", "weights": "none", "layers": {"relu5": "none"}}
    model = build_model(spec, 10, seed=0)
    arch = get_architecture("small_cnn")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    recipe = {
        "epochs": 1,
        "batch_size": 16,
        "optimizer": "adam",
        "lr": 1e-2,
        "trainable": ["conv3"],
        "lr_groups": {"conv3": 1e-3, "fc3": 1e-2},
    }
    pooled = pool_datasets([ds["blur2"], ds["blur5"]], sample_size=64, seed=0)
    train_classifier(
        model,
        Preprocess(28, 1, arch.mean, arch.std),
        pooled,
        recipe,
        "fc3",
        seed=0,
        device=torch.device("cpu"),
        progress=False,
    )
    changed = {k.rsplit(".", 1)[0] for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"conv3", "fc3"}


def test_linear_adam_is_fitted_on_clean_features_and_scores_like_its_predictions(digits_world):
    from layeratlas.robustness.evaluate import fit_classifiers

    _, ds = digits_world
    clean = ds["clean"]
    x = clean.images.reshape(len(clean.images), -1).astype(np.float64)
    tr, va, te = (clean.split == s for s in ("train", "val", "test"))
    options = {"epochs": 10, "lr": 1e-2, "batch_size": 32}
    (fitted,) = fit_classifiers(
        x[tr], clean.labels[tr], x[va], clean.labels[va], classifiers=["linear_adam"], linear_adam=options
    )
    assert fitted.name == "linear_adam" and fitted.value == 10
    assert (fitted.predict(x[tr]) == clean.labels[tr]).mean() > 0.9  # it learned the clean digits
    again = fit_classifiers(
        x[tr], clean.labels[tr], x[va], clean.labels[va], classifiers=["linear_adam"], linear_adam=options
    )[0]
    assert np.array_equal(again.predict(x[te]), fitted.predict(x[te]))  # seeded


# --- figures ----------------------------------------------------------------------------------------------


def test_pca_grid_shares_axes_within_rows_only():
    from layeratlas.plots.robustness import pca_grid

    rng = np.random.default_rng(0)
    rows, columns = ["original", "finetuned"], ["clean", "corrupted"]
    coords = {
        (r, c): rng.normal(size=(20, 2)) * (10 if r == "finetuned" else 1) for r in rows for c in columns
    }
    labels = {(r, c): np.arange(20) % 3 for r in rows for c in columns}
    fig = pca_grid(coords, labels, ["a", "b", "c"], rows, columns, "t")
    axes = np.array(fig.axes[:4]).reshape(2, 2)
    assert axes[0, 0].get_shared_x_axes().joined(axes[0, 0], axes[0, 1])
    assert axes[1, 0].get_shared_y_axes().joined(axes[1, 0], axes[1, 1])
    assert not axes[0, 0].get_shared_x_axes().joined(axes[0, 0], axes[1, 0])
    assert [ax.get_title() for ax in axes.ravel()] == [f"{r} on {c}" for r in rows for c in columns]


def test_accuracy_curves_have_a_line_per_layer_and_classifier_and_a_clean_reference():
    from layeratlas.plots.robustness import accuracy_vs_severity

    rows = [("d", CLEAN, 0, "m", layer, "knn", 10, 0.9) for layer in ("a", "b")] + [
        (f"d{s}", "blur", s, "m", layer, "knn", 10, 0.9 - 0.1 * s) for s in (1, 3) for layer in ("a", "b")
    ]
    table = pl.DataFrame(rows, schema=list(ACCURACY_SCHEMA), orient="row")
    fig = accuracy_vs_severity(table, "blur", "t")
    (ax,) = fig.axes
    solid = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(solid) == 2 and len(dashed) == 2
    assert list(solid[0].get_xdata()) == [1, 3] and dashed[0].get_ydata()[0] == pytest.approx(0.9)
    with pytest.raises(ValueError, match="no rows for corruption 'snow'"):
        accuracy_vs_severity(table, "snow", "t")


def test_a_networks_own_head_is_scored_on_the_requested_corrupted_test_images(digits_world, tmp_path):
    from layeratlas.models import build_model, get_architecture
    from layeratlas.models.preprocess import Preprocess
    from layeratlas.models.zoo import save_checkpoint
    from layeratlas.stages.robustness import head_accuracy

    root, ds = digits_world
    spec = {
        "architecture": "small_cnn",
        "weights": "none",
        "layers": {"relu5": "none"},
        "train": {"dataset": "x"},
    }
    model = build_model(spec, 10, seed=1)
    save_checkpoint(model, spec, 10, tmp_path / "checkpoint.pt")
    corrupted = [
        {
            "dataset": "blur5",
            "corruption": "gaussian_blur",
            "severity": 5,
            "dataset_dir": root / "datasets" / "blur5",
        }
    ]
    table = head_accuracy(
        "clean",
        "m",
        tmp_path / "checkpoint.pt",
        root / "datasets" / "clean",
        corrupted,
        16,
        1,
        tmp_path / "head.parquet",
    )
    assert table.select("dataset", "layer", "classifier").rows() == [
        ("clean", "head", "network_head"),
        ("blur5", "head", "network_head"),
    ]
    arch = get_architecture("small_cnn")
    net = torch.nn.Sequential(Preprocess(28, 1, arch.mean, arch.std), model).eval()
    for name, row in zip(("clean", "blur5"), table.iter_rows(named=True), strict=True):
        test = ds[name].split == "test"
        with torch.no_grad():
            predicted = net(torch.from_numpy(ds[name].images[test])).argmax(1).numpy()
        assert row["n_samples"] == test.sum()
        assert row["accuracy"] == pytest.approx(float((predicted == ds[name].labels[test]).mean()))
