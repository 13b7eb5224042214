import numpy as np
import pytest

from layeratlas.datasets import (
    build_dataset,
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
