"""Classifiers on layer features: fitted on train, hyper-parameters chosen on val, scored on test.

- ``linear_probe``: multinomial logistic regression on standardised features, inverse
  regularisation ``C`` chosen on val (the standard linear-probe protocol);
- ``knn``: k-nearest neighbours (Euclidean, majority vote, ties to the lowest class id), k chosen on val;
- ``ncm_l2`` / ``ncm_l1``: nearest class mean (train-split means) by Euclidean / L1 distance;
- ``random_forest``: scikit-learn's random forest with ``n_estimators`` trees, no search.

Nothing is refitted on train + val: the reported model is the one fitted on train with the
hyper-parameter that scored best on val (on ties: the first C of the grid, the smallest k).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, pairwise_distances_argmin

from layeratlas.analysis.variance import check_finite

CLASSIFIERS = ("linear_probe", "knn", "ncm_l2", "ncm_l1", "random_forest")
DEFAULT_C = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0)
DEFAULT_K = (1, 3, 5, 7, 9, 15, 25)


@dataclass(frozen=True)
class LinearClassifier:
    """Affine classifier in the raw feature space: scores = features @ weights.T + bias."""

    classes: np.ndarray  # (K,) class ids, row order of weights
    weights: np.ndarray  # (K, d) float64
    bias: np.ndarray  # (K,) float64
    scale: np.ndarray | None = (
        None  # (d,) per-feature scale of the standardisation the classifier was fitted on
    )

    def predict(self, features: np.ndarray) -> np.ndarray:
        scores = np.asarray(features, dtype=np.float64) @ self.weights.T + self.bias
        return self.classes[np.argmax(scores, axis=1)]


@dataclass
class ProbeResults:
    """One row per classifier in ``table``; test-split confusion matrices (rows: true class)."""

    table: pl.DataFrame
    classes: np.ndarray
    confusion: dict[str, np.ndarray] = field(default_factory=dict)
    linear: LinearClassifier | None = None

    def summary(self) -> dict[str, float]:
        """{classifier}_accuracy and {classifier}_macro_f1 on test, for a summary row."""
        out: dict[str, float] = {}
        for row in self.table.iter_rows(named=True):
            out[f"{row['classifier']}_accuracy"] = row["test_accuracy"]
            out[f"{row['classifier']}_macro_f1"] = row["test_macro_f1"]
        return out


def _as_2d(name: str, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} has no rows")
    check_finite(x)
    return x


def nearest_class_mean(train: np.ndarray, train_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class ids and (K, d) class means of ``train``; predict with :func:`predict_nearest_mean`."""
    train = np.asarray(train)
    classes = np.unique(train_labels)
    means = np.stack([np.asarray(train[train_labels == c], dtype=np.float64).mean(axis=0) for c in classes])
    return classes, means


def predict_nearest_mean(
    features: np.ndarray, classes: np.ndarray, means: np.ndarray, metric: str = "euclidean"
) -> np.ndarray:
    """Class of the nearest mean under ``metric`` ("euclidean" or "manhattan"), computed in chunks."""
    if metric not in ("euclidean", "manhattan"):
        raise ValueError(f"unknown metric {metric!r}; expected euclidean or manhattan")
    idx = pairwise_distances_argmin(np.asarray(features, dtype=np.float64), means, metric=metric)
    return classes[idx]


def knn_predict_all(
    train: np.ndarray, train_labels: np.ndarray, query: np.ndarray, ks: Sequence[int], n_jobs: int = 1
) -> dict[int, np.ndarray]:
    """Majority vote of the k nearest train points (Euclidean) for every k in ``ks``, one search.

    Ties in the vote go to the lowest class id (as scikit-learn's KNeighborsClassifier).
    """
    from sklearn.neighbors import NearestNeighbors

    ks = sorted({min(int(k), len(train)) for k in ks})
    classes, encoded = np.unique(train_labels, return_inverse=True)
    nn = NearestNeighbors(n_neighbors=ks[-1], n_jobs=n_jobs).fit(train)
    neighbours = encoded[nn.kneighbors(query, return_distance=False)]  # (n_query, k_max)
    out = {}
    for k in ks:
        votes = np.zeros((len(query), len(classes)), dtype=np.int64)
        np.add.at(votes, (np.arange(len(query))[:, None], neighbours[:, :k]), 1)
        out[k] = classes[np.argmax(votes, axis=1)]
    return out


def _scores(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, float]:
    return float(accuracy_score(y_true, y_pred)), float(f1_score(y_true, y_pred, average="macro"))


def probe_classifiers(
    train: np.ndarray,
    train_labels: np.ndarray,
    val: np.ndarray,
    val_labels: np.ndarray,
    test: np.ndarray,
    test_labels: np.ndarray,
    *,
    classifiers: Sequence[str] = CLASSIFIERS,
    C: Sequence[float] = DEFAULT_C,  # noqa: N803 (scikit-learn's name)
    k: Sequence[int] = DEFAULT_K,
    n_estimators: int = 200,
    max_iter: int = 2000,
    seed: int = 0,
    n_jobs: int = 1,
) -> ProbeResults:
    """Fit each of ``classifiers`` (names from CLASSIFIERS) on train, choose on val, score on test.

    Returns a table with columns classifier, parameter, value (the chosen hyper-parameter, null
    when there is none), train_accuracy, val_accuracy, test_accuracy, test_macro_f1; the test
    confusion matrices; and, when ``linear_probe`` is fitted, its weights mapped back to the raw
    (unstandardised) feature space.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    if unknown := [c for c in classifiers if c not in CLASSIFIERS]:
        raise ValueError(f"unknown classifier(s) {unknown}; choose from {', '.join(CLASSIFIERS)}")
    train, val, test = _as_2d("train", train), _as_2d("val", val), _as_2d("test", test)
    if not train.shape[1] == val.shape[1] == test.shape[1]:
        raise ValueError(f"feature widths differ: train {train.shape}, val {val.shape}, test {test.shape}")
    labels = {
        "train": np.asarray(train_labels),
        "val": np.asarray(val_labels),
        "test": np.asarray(test_labels),
    }
    for name, x in (("train", train), ("val", val), ("test", test)):
        if len(labels[name]) != len(x):
            raise ValueError(f"{name}: {len(x)} rows but {len(labels[name])} labels")
    classes = np.unique(np.concatenate(list(labels.values())))
    if len(np.unique(labels["train"])) < 2:
        raise ValueError("the train split needs at least two classes")
    y_tr, y_va, y_te = labels["train"], labels["val"], labels["test"]

    rows, confusion, linear = [], {}, None

    def record(name: str, parameter: str | None, value: float | None, predict) -> None:  # noqa: ANN001
        test_pred = predict(test)
        acc, f1 = _scores(y_te, test_pred)
        rows.append(
            {
                "classifier": name,
                "parameter": parameter,
                "value": None if value is None else float(value),
                "train_accuracy": _scores(y_tr, predict(train))[0],
                "val_accuracy": _scores(y_va, predict(val))[0],
                "test_accuracy": acc,
                "test_macro_f1": f1,
            }
        )
        confusion[name] = confusion_matrix(y_te, test_pred, labels=classes)

    for name in classifiers:
        if name == "linear_probe":
            scaler = StandardScaler().fit(train)
            z_tr, z_va = scaler.transform(train), scaler.transform(val)
            best, best_acc = None, -1.0
            for c in C:
                model = LogisticRegression(C=float(c), max_iter=max_iter, random_state=seed)
                model.fit(z_tr, y_tr)
                acc = _scores(y_va, model.predict(z_va))[0]
                if acc > best_acc:
                    best, best_acc, best_c = model, acc, c
            scale = scaler.scale_
            w = best.coef_ / scale  # scores = ((x - mean) / scale) @ coef.T + b
            b = best.intercept_ - w @ scaler.mean_
            if len(best.classes_) == 2:  # binary: scikit-learn keeps one row; make it two
                w, b = np.vstack([-w, w]) / 2, np.concatenate([-b, b]) / 2
            linear = LinearClassifier(classes=best.classes_, weights=w, bias=b, scale=scale)
            record(name, "C", best_c, linear.predict)
        elif name == "knn":
            val_preds = knn_predict_all(train, y_tr, val, k, n_jobs)
            best_k = max(val_preds, key=lambda kk: (_scores(y_va, val_preds[kk])[0], -kk))

            def knn(x: np.ndarray, kk: int = best_k) -> np.ndarray:
                return knn_predict_all(train, y_tr, x, [kk], n_jobs)[kk]

            record(name, "k", best_k, knn)
        elif name in ("ncm_l2", "ncm_l1"):
            metric = "euclidean" if name == "ncm_l2" else "manhattan"
            ids, means = nearest_class_mean(train, y_tr)

            def ncm(x: np.ndarray, ids: np.ndarray = ids, means: np.ndarray = means, m: str = metric):
                return predict_nearest_mean(x, ids, means, m)

            record(name, None, None, ncm)
        else:
            forest = RandomForestClassifier(n_estimators=n_estimators, random_state=seed, n_jobs=n_jobs)
            forest.fit(train, y_tr)
            record(name, "n_estimators", n_estimators, forest.predict)

    table = pl.DataFrame(
        rows,
        schema={
            "classifier": pl.Utf8,
            "parameter": pl.Utf8,
            "value": pl.Float64,
            "train_accuracy": pl.Float64,
            "val_accuracy": pl.Float64,
            "test_accuracy": pl.Float64,
            "test_macro_f1": pl.Float64,
        },
    )
    return ProbeResults(table=table, classes=classes, confusion=confusion, linear=linear)


def train_linear_adam(
    train: np.ndarray,
    train_labels: np.ndarray,
    test: np.ndarray,
    test_labels: np.ndarray,
    *,
    epochs: int = 30,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
) -> pl.DataFrame:
    """Train one linear layer with Adam on standardised features (the protocol of seed report 002).

    Returns one row per epoch: epoch, train_loss (mean over the epoch's batches), train_accuracy and
    test_accuracy (both measured after the epoch).
    """
    import torch

    train, test = _as_2d("train", train), _as_2d("test", test)
    classes, y_tr = np.unique(train_labels, return_inverse=True)
    lookup = {int(c): i for i, c in enumerate(classes)}
    y_te = np.array([lookup.get(int(c), -1) for c in test_labels])  # unseen class: never right
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0] = 1.0
    x_tr = torch.from_numpy(((train - mean) / std).astype(np.float32))
    x_te = torch.from_numpy(((test - mean) / std).astype(np.float32))
    t_tr, t_te = torch.from_numpy(y_tr), torch.from_numpy(y_te)
    generator = torch.Generator().manual_seed(seed)
    layer = torch.nn.Linear(x_tr.shape[1], len(classes))
    with torch.no_grad():  # seeded init, independent of the global torch seed
        bound = 1 / np.sqrt(x_tr.shape[1])
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)
    optimiser = torch.optim.Adam(layer.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    rows = []
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(x_tr), generator=generator)
        losses = []
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            optimiser.zero_grad()
            loss = loss_fn(layer(x_tr[idx]), t_tr[idx])
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()) * len(idx))
        with torch.no_grad():
            train_acc = float((layer(x_tr).argmax(1) == t_tr).float().mean())
            test_acc = float((layer(x_te).argmax(1) == t_te).float().mean())
        rows.append(
            {
                "epoch": epoch,
                "train_loss": sum(losses) / len(x_tr),
                "train_accuracy": train_acc,
                "test_accuracy": test_acc,
            }
        )
    return pl.DataFrame(rows)
