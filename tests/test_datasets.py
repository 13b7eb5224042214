import re

import numpy as np
import pytest

from layeratlas.data.datasets import (
    build_dataset,
    fraction_subset,
    load_dataset,
    load_sklearn_digits,
    per_class_subset,
    save_dataset,
    select_split,
    stratified_split,
)

SPLIT = {"train": 0.6, "val": 0.15, "test": 0.25}


def test_digits_are_the_real_scikit_learn_digits():
    images, labels, names = load_sklearn_digits()
    assert images.shape == (1797, 8, 8, 1) and images.dtype == np.uint8
    assert images.max() == 255 and images.min() == 0  # 0..16 rescaled to the full uint8 range
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert names == tuple("0123456789")


def test_stratified_split_keeps_class_proportions_and_is_seeded():
    labels = np.repeat(np.arange(4), [100, 40, 20, 8])
    split = stratified_split(labels, SPLIT, seed=3)
    for c, n in zip(range(4), [100, 40, 20, 8], strict=True):
        counts = {s: int(((labels == c) & (split == s)).sum()) for s in SPLIT}
        assert sum(counts.values()) == n
        assert abs(counts["train"] - 0.6 * n) <= 1 and abs(counts["val"] - 0.15 * n) <= 1
    assert (stratified_split(labels, SPLIT, seed=3) == split).all()
    assert (stratified_split(labels, SPLIT, seed=4) != split).any()


def test_unknown_split_names_are_refused():
    with pytest.raises(ValueError, match="allowed: train, val, test"):
        stratified_split(np.zeros(10, int), {"training": 1.0}, 0)
    with pytest.raises(ValueError, match="choose one of all, train, val, test"):
        select_split(np.array(["train"]), "validation")


def test_per_class_subset():
    labels = np.repeat(np.arange(3), [10, 5, 2])
    keep = per_class_subset(labels, 4, seed=0)
    assert np.bincount(labels[keep]).tolist() == [4, 4, 2]
    assert (np.diff(keep) > 0).all()


def test_dataset_round_trip(tmp_path):
    ds = build_dataset("digits", {"source": "sklearn_digits", "max_per_class": 20, "split": SPLIT}, seed=0)
    assert len(ds.labels) == 200
    save_dataset(ds, tmp_path / "digits")
    assert not [p for p in (tmp_path / "digits").iterdir() if p.name.startswith(".")]  # no temp files left
    back = load_dataset(tmp_path / "digits")
    assert np.array_equal(back.images, ds.images) and np.array_equal(back.labels, ds.labels)
    assert (back.split == ds.split).all() and back.class_names == ds.class_names
    index = back.index()
    assert index.columns == ["sample_id", "split", "label", "class_name"]
    assert index["class_name"].to_list()[:3] == [ds.class_names[i] for i in ds.labels[:3]]


def _config(datasets: dict) -> dict:
    return {"datasets": datasets, "models": {"m": {"architecture": "small_cnn", "layers": {"relu5": "none"}}}}


def test_every_source_validates():
    from layeratlas.config import validate_config

    config = validate_config(
        _config(
            {
                "mnist": {"source": "mnist", "split": {"train": 0.8, "val": 0.2, "test": 0.0}},
                "fashion": {"source": "fashion_mnist", "max_per_class": 100, "subset_test": True},
                "cifar10_tiny": {"source": "cifar10", "fraction": 0.1},
                "cifar10c_blur3": {
                    "source": "cifar10_c",
                    "corruption": {"name": "gaussian_blur", "severity": 3},
                },
                "pets": {
                    "source": "image_folder",
                    "path": "data/pets",
                    "image_size": 64,
                    "on_unreadable": "skip",
                },
                "cifar10_blur3": {
                    "source": "cifar10",
                    "splits": ["test"],
                    "corruption": {"name": "gaussian_blur", "severity": 3},
                },
            }
        )
    )
    assert config["datasets"]["cifar10_tiny"]["own_test_split"] is True
    assert config["datasets"]["pets"]["checksums"] == {}
    assert len(config["datasets"]) == 6  # single corruption + severity: not expanded, names kept


def test_corruption_lists_expand_into_one_dataset_per_pair():
    from layeratlas.config import validate_config
    from layeratlas.data.corruptions import CORRUPTIONS

    config = validate_config(
        _config(
            {
                "digits": {
                    "source": "sklearn_digits",
                    "corruption": {"name": "all", "severity": [1, 2, 3, 4, 5]},
                }
            }
        )
    )
    names = list(config["datasets"])
    assert len(names) == len(CORRUPTIONS) * 5 and names[0] == "digits-gaussian_noise-1"
    assert config["datasets"]["digits-fog-4"]["corruption"] == {"name": "fog", "severity": 4}
    assert validate_config(config)["datasets"] == config["datasets"]  # validating again changes nothing
    c10c = validate_config(
        _config({"c10c": {"source": "cifar10_c", "corruption": {"name": ["frost", "snow"], "severity": 5}}})
    )
    assert list(c10c["datasets"]) == ["c10c-frost-5", "c10c-snow-5"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"source": "cifar10_c"}, "datasets.d.corruption: required for source 'cifar10_c'"),
        (
            {"source": "cifar10", "corruption": {"name": "frost", "severity": 1}},
            "datasets.d.corruption.name: 'frost' is not a generated corruption; "
            "choose one of all, gaussian_noise",
        ),
        (
            {"source": "cifar10_c", "corruption": {"name": "blur", "severity": 1}},
            "'blur' is not a published CIFAR-10-C corruption; choose one of all, gaussian_noise",
        ),
        ({"source": "image_folder"}, "datasets.d.path: required for source 'image_folder'"),
        ({"source": "mnist", "path": "x"}, "datasets.d.path: only for source 'image_folder'"),
        (
            {"source": "mnist", "checksums": {"mnist.gz": "0" * 32}},
            "datasets.d.checksums: 'mnist.gz' is not a file of mnist; its files: MNIST/raw/t10k-images",
        ),
        ({"source": "mnist", "corruption": {"name": "fog", "severity": 6}}, "datasets.d.corruption.severity"),
        (
            {"source": "svhn"},
            "datasets.d.source: 'svhn' is not allowed; choose one of 'sklearn_digits', 'mnist'",
        ),
    ],
)
def test_bad_dataset_configs_name_the_key(spec, message):
    from layeratlas.config import ConfigError, validate_config

    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(_config({"d": spec}))


def test_fraction_subset():
    labels = np.repeat(np.arange(3), [10, 20, 3])
    keep = fraction_subset(labels, 0.5, seed=0)
    assert np.bincount(labels[keep]).tolist() == [5, 10, 2]
    assert not np.array_equal(keep, fraction_subset(labels, 0.5, seed=1))


MODELS = {"m": {"architecture": "small_cnn", "layers": {"relu5": "none"}}}

# --- split_sizes: the one count of a dataset before any job, equal to what preparation makes ---

SIZE_SPECS = [
    {},
    {"max_per_class": 30},
    {"fraction": 0.37},
    {"fraction": 0.5, "max_per_class": 7},
    {"split": {"train": 0.5, "val": 0.2, "test": 0.3}, "splits": ["train", "test"]},
    {"own_test_split": False, "max_per_class": 40},
    {"subset_test": True, "max_per_class": 11},
    {"max_per_class": 100, "split": {"train": 0.9, "val": 0.0, "test": 0.1}},
]


@pytest.mark.parametrize("extra", SIZE_SPECS)
@pytest.mark.parametrize("own_test", [False, True])
def test_split_sizes_are_what_build_dataset_makes(monkeypatch, extra, own_test):
    """The counts are computed without images and must equal the splits build_dataset writes."""
    from layeratlas.config import validate_config
    from layeratlas.data import datasets
    from layeratlas.data.sources import SourceImages

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 6, 523)
    part = np.where(rng.random(523) < 0.8, "train", "test") if own_test else None
    fake = SourceImages(np.zeros((523, 2, 2, 1), np.uint8), labels, tuple("abcdef"), part)
    monkeypatch.setattr(datasets, "load_source", lambda *a, **k: fake)
    spec = {"source": "mnist" if own_test else "sklearn_digits", **extra}
    spec = validate_config({"datasets": {"d": spec}, "models": MODELS})["datasets"]["d"]
    built = datasets.build_dataset("d", spec, seed=5)
    made = {s: int((built.split == s).sum()) for s in datasets.SPLITS}
    if own_test:
        counts = {p: np.bincount(labels[part == p], minlength=6).tolist() for p in ("train", "test")}
    else:
        counts = {"all": np.bincount(labels, minlength=6).tolist()}
    assert datasets.split_sizes(spec, counts=counts) == made


def test_dataset_sizes_of_the_published_sources():
    from layeratlas.data.datasets import dataset_size, split_sizes

    # CIFAR-10 keeps its 10,000 test images: max_per_class caps the train images only
    assert dataset_size({"source": "cifar10", "max_per_class": 100}) == 11_000
    assert split_sizes({"source": "cifar10", "max_per_class": 100}) == {
        "train": 800,
        "val": 200,
        "test": 10_000,
    }
    assert dataset_size({"source": "cifar10", "max_per_class": 100, "subset_test": True}) == 2_000
    assert dataset_size({"source": "mnist"}) == 70_000
    assert dataset_size({"source": "sklearn_digits", "max_per_class": 30}) == 300
    assert dataset_size({"source": "cifar10_c", "corruption": {"name": "fog", "severity": 1}}) == 10_000
    assert dataset_size({"source": "image_folder", "path": "nowhere"}) is None


def test_digits_size_is_the_prepared_one():
    from layeratlas.config import validate_config
    from layeratlas.data.datasets import split_sizes

    spec = {"source": "sklearn_digits", "fraction": 0.3, "split": {"train": 0.5, "val": 0.2, "test": 0.3}}
    spec = validate_config({"datasets": {"d": spec}, "models": MODELS})["datasets"]["d"]
    built = build_dataset("d", spec, seed=0)
    assert split_sizes(spec) == {s: int((built.split == s).sum()) for s in ("train", "val", "test")}
