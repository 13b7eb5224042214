"""Accuracy under corruption: classifiers fitted on CLEAN features of a layer (train split, hyper-parameters
chosen on val) and scored on the test split of the clean dataset and of each corrupted copy; a trained
network's own head scored on the same images; the table and its per-model summary.

A corrupted copy pairs with the clean dataset by ``sample_id`` (the image's position in its source): only
corrupted images whose clean original is not in the clean train or val split are scored, so a classifier is
never scored on a corrupted copy of an image it was fitted on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from layeratlas.analysis.probes import (
    CLASSIFIERS,
    DEFAULT_C,
    DEFAULT_K,
    knn_predict_all,
    nearest_class_mean,
    predict_nearest_mean,
)
from layeratlas.robustness.config import CorruptedDataset

ROBUSTNESS_CLASSIFIERS = (*CLASSIFIERS, "linear_adam")
CLEAN = "none"  # the corruption column of clean rows (severity 0)
HEAD_LAYER = "head"  # the layer column of a network's own head
HEAD_CLASSIFIER = "network_head"

ACCURACY_SCHEMA = {
    "dataset": pl.Utf8,
    "corruption": pl.Utf8,
    "severity": pl.Int64,
    "model": pl.Utf8,
    "layer": pl.Utf8,
    "classifier": pl.Utf8,
    "n_samples": pl.Int64,
    "accuracy": pl.Float64,
}


@dataclass(frozen=True)
class FittedClassifier:
    name: str
    parameter: str | None  # the hyper-parameter chosen on val (C, k) or None
    value: float | None
    predict: Callable[[np.ndarray], np.ndarray]


def check_corruption(info: Mapping[str, Any], expected: CorruptedDataset) -> None:
    """Raise if a prepared dataset's ``dataset.json`` does not record the requested corruption."""
    got = info.get("corruption") or {}
    if got.get("name") != expected.corruption or int(got.get("severity", -1)) != expected.severity:
        raise ValueError(
            f"dataset {expected.dataset!r}: holds corruption {got.get('name')!r} severity "
            f"{got.get('severity')!r}, but {expected.corruption!r} severity {expected.severity} was requested"
        )


def held_out_rows(
    corrupted_ids: np.ndarray, corrupted_split: np.ndarray, clean_fit_ids: np.ndarray
) -> np.ndarray:
    """Row indices of the corrupted test samples whose clean original was not used for fitting."""
    test = np.asarray(corrupted_split).astype(str) == "test"
    return np.flatnonzero(test & ~np.isin(np.asarray(corrupted_ids), np.asarray(clean_fit_ids)))


def pair_rows(clean_ids: np.ndarray, other_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (into clean, into other) of the sample ids both hold, in the order of ``clean_ids``."""
    clean_ids, other_ids = np.asarray(clean_ids), np.asarray(other_ids)
    if len(np.unique(other_ids)) != len(other_ids) or len(np.unique(clean_ids)) != len(clean_ids):
        raise ValueError("sample ids must be unique within a dataset to pair clean and corrupted images")
    position = {int(s): i for i, s in enumerate(other_ids)}
    rows = [(i, position[int(s)]) for i, s in enumerate(clean_ids) if int(s) in position]
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    a, b = zip(*rows, strict=True)
    return np.asarray(a, np.int64), np.asarray(b, np.int64)


def fit_classifiers(
    train: np.ndarray,
    train_labels: np.ndarray,
    val: np.ndarray,
    val_labels: np.ndarray,
    *,
    classifiers: Sequence[str] = ("linear_probe", "knn", "ncm_l2"),
    C: Sequence[float] = DEFAULT_C,  # noqa: N803 (scikit-learn's name)
    k: Sequence[int] = DEFAULT_K,
    n_estimators: int = 200,
    max_iter: int = 2000,
    linear_adam: Mapping[str, Any] | None = None,
    seed: int = 0,
    n_jobs: int = 1,
) -> list[FittedClassifier]:
    """Fit each classifier on train (the protocols of ``layeratlas.analysis.probes``), choose on val."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    if unknown := [c for c in classifiers if c not in ROBUSTNESS_CLASSIFIERS]:
        raise ValueError(f"unknown classifier(s) {unknown}; choose from {', '.join(ROBUSTNESS_CLASSIFIERS)}")
    adam = {"epochs": 30, "lr": 1e-3, "batch_size": 64, **(linear_adam or {})}
    train, val = np.asarray(train, np.float64), np.asarray(val, np.float64)
    y_tr, y_va = np.asarray(train_labels), np.asarray(val_labels)
    if len(np.unique(y_tr)) < 2:
        raise ValueError("the clean train split needs at least two classes")
    out = []
    for name in classifiers:
        if name == "linear_probe":
            scaler = StandardScaler().fit(train)
            z_tr, z_va = scaler.transform(train), scaler.transform(val)
            best, best_acc, best_c = None, -1.0, None
            for c in C:
                model = LogisticRegression(C=float(c), max_iter=max_iter, random_state=seed).fit(z_tr, y_tr)
                acc = float((model.predict(z_va) == y_va).mean())
                if acc > best_acc:
                    best, best_acc, best_c = model, acc, c
            out.append(
                FittedClassifier(
                    name, "C", float(best_c), lambda x, m=best, s=scaler: m.predict(s.transform(x))
                )
            )
        elif name == "knn":
            val_preds = knn_predict_all(train, y_tr, val, k)
            best_k = max(val_preds, key=lambda kk: (float((val_preds[kk] == y_va).mean()), -kk))
            out.append(
                FittedClassifier(
                    name,
                    "k",
                    float(best_k),
                    lambda x, kk=best_k: knn_predict_all(train, y_tr, x, [kk])[kk],
                )
            )
        elif name == "linear_adam":
            out.append(
                FittedClassifier(name, "epochs", float(adam["epochs"]), _linear_adam(train, y_tr, adam, seed))
            )
        elif name in ("ncm_l2", "ncm_l1"):
            metric = "euclidean" if name == "ncm_l2" else "manhattan"
            ids, means = nearest_class_mean(train, y_tr)
            out.append(
                FittedClassifier(
                    name, None, None, lambda x, i=ids, m=means, mt=metric: predict_nearest_mean(x, i, m, mt)
                )
            )
        else:
            forest = RandomForestClassifier(n_estimators=n_estimators, random_state=seed, n_jobs=n_jobs)
            forest.fit(train, y_tr)
            out.append(FittedClassifier(name, "n_estimators", float(n_estimators), forest.predict))
    return out


def _linear_adam(
    train: np.ndarray, labels: np.ndarray, options: Mapping[str, Any], seed: int
) -> Callable[[np.ndarray], np.ndarray]:
    """One linear layer trained with Adam on standardised features (seed report 002's classifier; the
    protocol of ``layeratlas.analysis.probes.fit_linear_adam``): the predictor after the last epoch."""
    import torch

    classes, y = np.unique(labels, return_inverse=True)
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0] = 1.0
    x = torch.from_numpy(((train - mean) / std).astype(np.float32))
    target = torch.from_numpy(y)
    generator = torch.Generator().manual_seed(seed)
    layer = torch.nn.Linear(x.shape[1], len(classes))
    with torch.no_grad():  # seeded init, independent of the global torch seed
        bound = 1 / np.sqrt(x.shape[1])
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)
    optimiser = torch.optim.Adam(layer.parameters(), lr=float(options["lr"]))
    batch = int(options["batch_size"])
    for _ in range(int(options["epochs"])):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(layer(x[idx]), target[idx]).backward()
            optimiser.step()

    def predict(features: np.ndarray) -> np.ndarray:
        z = torch.from_numpy(((np.asarray(features, np.float64) - mean) / std).astype(np.float32))
        with torch.no_grad():
            return classes[layer(z).argmax(1).numpy()]

    return predict


def accuracy_rows(
    predictions: Mapping[str, np.ndarray],
    labels: np.ndarray,
    *,
    dataset: str,
    corruption: str,
    severity: int,
    model: str,
    layer: str,
) -> list[dict[str, Any]]:
    """One row per classifier: the share of ``labels`` its ``predictions`` get right."""
    labels = np.asarray(labels)
    return [
        {
            "dataset": dataset,
            "corruption": corruption,
            "severity": int(severity),
            "model": model,
            "layer": layer,
            "classifier": name,
            "n_samples": int(len(labels)),
            "accuracy": float((np.asarray(pred) == labels).mean()) if len(labels) else float("nan"),
        }
        for name, pred in predictions.items()
    ]


def accuracy_table(rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Rows as a table: per model, layer and classifier the clean row first, then by corruption, severity."""
    table = pl.DataFrame(list(rows), schema=ACCURACY_SCHEMA)
    order = ["model", "layer", "classifier", pl.col("corruption") != CLEAN, "corruption", "severity"]
    return table.sort(order, maintain_order=True)


def corruption_summary(table: pl.DataFrame) -> pl.DataFrame:
    """Per (model, layer, classifier): clean accuracy, mean accuracy over every corrupted dataset, the
    relative drop (clean - mean corrupted) / clean, and the worst corrupted accuracy."""
    clean = table.filter(pl.col("corruption") == CLEAN).select(
        "model", "layer", "classifier", pl.col("accuracy").alias("clean_accuracy")
    )
    corrupted = (
        table.filter(pl.col("corruption") != CLEAN)
        .group_by("model", "layer", "classifier", maintain_order=True)
        .agg(
            pl.len().alias("n_corrupted_datasets"),
            pl.col("accuracy").mean().alias("mean_corruption_accuracy"),
            pl.col("accuracy").min().alias("worst_corruption_accuracy"),
        )
    )
    return clean.join(corrupted, on=["model", "layer", "classifier"], how="inner").with_columns(
        ((pl.col("clean_accuracy") - pl.col("mean_corruption_accuracy")) / pl.col("clean_accuracy")).alias(
            "relative_drop"
        )
    )


def predict_images(net: Any, images: np.ndarray, batch_size: int = 128, device: Any = None) -> np.ndarray:
    """Predicted class of a torch network (preprocessing included) for uint8 NHWC images, in batches."""
    import torch
    from tqdm import tqdm

    device = device or torch.device("cpu")
    net = net.to(device).eval()
    out = []
    with torch.no_grad():
        for start in tqdm(range(0, len(images), batch_size), desc="predict", mininterval=5):
            x = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size])).to(device)
            out.append(net(x).argmax(1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.int64)
