"""The training set of a recipe that names several datasets (``train.dataset: [a, b, ...]``) and/or a
sample size (``train.sample_size``): the datasets pooled (their train, val and test splits each pooled),
then ``sample_size`` train images drawn from the pooled train split (seeded, without replacement) - the
"20,000 images randomly chosen from the corrupted dataset" of seed report 002 - and the same share of the
pooled val and test images (validating every epoch stays proportional to the sample; the robustness
evaluation scores every corrupted test image separately anyway).

The train images not drawn keep their rows with the split ``unused``, so row positions (what a model's
test predictions refer to) are positions in the plain concatenation of the datasets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from layeratlas.data.datasets import ImageDataset

UNUSED = "unused"


def pool_datasets(datasets: Sequence[ImageDataset], sample_size: int | None, seed: int) -> ImageDataset:
    """Concatenate ``datasets`` (same classes and image shape) and keep ``sample_size`` train images (and
    that share of the val and test images)."""
    if not datasets:
        raise ValueError("train.dataset: no dataset to train on")
    first = datasets[0]
    for ds in datasets[1:]:
        if tuple(ds.class_names) != tuple(first.class_names):
            raise ValueError(
                f"train.dataset: {ds.name!r} has classes {list(ds.class_names)}, "
                f"{first.name!r} has {list(first.class_names)}; pooled datasets need the same classes"
            )
        if ds.images.shape[1:] != first.images.shape[1:]:
            raise ValueError(
                f"train.dataset: {ds.name!r} has images of shape {ds.images.shape[1:]}, "
                f"{first.name!r} {first.images.shape[1:]}; pooled datasets need one image shape"
            )
    if len(datasets) == 1 and sample_size is None:
        return first
    split = np.concatenate([np.asarray(ds.split).astype("<U6") for ds in datasets])
    if sample_size is not None:
        train = np.flatnonzero(split == "train")
        if sample_size > len(train):
            raise ValueError(
                f"train.sample_size: {sample_size} images asked, the train split of "
                f"{', '.join(ds.name for ds in datasets)} has {len(train)}"
            )
        rng = np.random.default_rng(seed)
        share = sample_size / len(train)
        for name in ("train", "val", "test"):  # val and test: the same share, so evaluating stays cheap
            rows = np.flatnonzero(split == name)
            size = sample_size if name == "train" else min(len(rows), max(1, round(share * len(rows))))
            keep = rng.choice(rows, size=size, replace=False) if len(rows) else rows
            split[np.setdiff1d(rows, keep)] = UNUSED
    return ImageDataset(
        "+".join(ds.name for ds in datasets),
        np.concatenate([np.asarray(ds.images) for ds in datasets]),
        np.concatenate([np.asarray(ds.labels) for ds in datasets]),
        first.class_names,
        split,
        np.concatenate([ds.sample_ids for ds in datasets]),
    )


def training_datasets(dataset: str | Sequence[str], datasets: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The dataset names ``train.dataset`` stands for, after the corruption expansion of ``datasets``: a
    name as is, or every ``<name>-<corruption>-<severity>`` a corruption list expanded it to."""
    out: list[str] = []
    for name in [dataset] if isinstance(dataset, str) else list(dataset):
        if name in datasets:
            out.append(name)
            continue
        expanded = [
            n
            for n, spec in datasets.items()
            if spec.get("corruption")
            and n == f"{name}-{spec['corruption']['name']}-{spec['corruption']['severity']}"
        ]
        if not expanded:
            raise KeyError(name)
        out += expanded
    return list(dict.fromkeys(out))
