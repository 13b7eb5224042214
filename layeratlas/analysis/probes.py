"""Classifiers on layer features: fitted on train, hyper-parameters chosen on val, scored on test.

- ``linear_probe``: multinomial logistic regression on standardised features, inverse
  regularisation ``C`` chosen on val (the standard linear-probe protocol);
- ``knn``: k-nearest neighbours (Euclidean, majority vote, ties to the lowest class id), k chosen on val;
- ``ncm_l2`` / ``ncm_l1``: nearest class mean (train-split means) by Euclidean / L1 distance;
- ``random_forest``: scikit-learn's random forest with ``n_estimators`` trees, each grown on a
  bootstrap of at most ``max_samples`` train samples (no search).

Nothing is refitted on train + val: the reported model is the one fitted on train with the
hyper-parameter that scored best on val (on ties: the first C of the grid, the smallest k).

Cost (this is what a CIFAR-size study waits for, see benchmarks/analysis_scale.py): features stay
float32 (the precision they are extracted in; float64 copies doubled memory and halved BLAS speed);
the C grid is one warm-started regularisation path (each fit starts from the previous C's optimum,
so large C no longer pay hundreds of L-BFGS iterations from zero); kNN is one blocked float32 BLAS
distance pass over val + test that serves every candidate k (train is not predicted: each train
point would be its own nearest neighbour), on features centred on the train mean (so |x|^2 does not
swamp the distances in float32 when the features sit far from the origin), with the k_max + margin
candidates re-ranked by exact float64 distances so float32 rounding cannot reorder neighbours; the
random forest is bounded by ``max_samples``.

Every classifier's test predictions are kept (:meth:`ProbeResults.predictions_table`), so paired
tests between layers and models read the same images (``layeratlas.analysis.stats``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from layeratlas.analysis._blas import blas_threads
from layeratlas.analysis.variance import check_finite

CLASSIFIERS = ("linear_probe", "knn", "ncm_l2", "ncm_l1", "random_forest")
DEFAULT_C = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0)
DEFAULT_K = (1, 3, 5, 7, 9, 15, 25)
DEFAULT_MAX_SAMPLES = 10_000

# Distance blocks of about this many float32 entries (128 MiB) bound the kNN's memory.
_BLOCK_ENTRIES = 2**25
# Extra float32-ranked candidates re-ranked in float64: float32 rounding of |x|^2 - 2 x.t + |t|^2
# only swaps neighbours whose distances agree to ~1e-6, far fewer than this many places apart.
_REFINE_MARGIN = 8
# Rows per float64 chunk in NCM and the linear classifier's scores (memory bound, not a tuning knob).
_CHUNK_ROWS = 4096


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
        return self.predict_with_score(features)[0]

    def predict_with_score(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted classes and the softmax probability of the predicted class."""
        out = np.empty(len(features), dtype=self.classes.dtype)
        top = np.empty(len(features))
        for start in range(0, len(features), _CHUNK_ROWS):  # float64 scores, chunk by chunk
            chunk = np.asarray(features[start : start + _CHUNK_ROWS], dtype=np.float64)
            scores = chunk @ self.weights.T + self.bias
            best = np.argmax(scores, 1)
            out[start : start + len(chunk)] = self.classes[best]
            # softmax of the winner: 1 / sum exp(s - s_max), stable
            top[start : start + len(chunk)] = 1.0 / np.exp(scores - scores.max(1, keepdims=True)).sum(1)
        return out, top


@dataclass(frozen=True)
class ProbeOptions:
    """How :func:`probe_classifiers` fits its classifiers (see its docstring)."""

    classifiers: Sequence[str] = CLASSIFIERS
    C: Sequence[float] = DEFAULT_C  # noqa: N815 (scikit-learn's name)
    k: Sequence[int] = DEFAULT_K
    n_estimators: int = 200
    max_samples: int | None = DEFAULT_MAX_SAMPLES
    max_iter: int = 2000
    seed: int = 0
    n_jobs: int = 1


@dataclass(frozen=True)
class _Splits:
    train: np.ndarray
    y_tr: np.ndarray
    val: np.ndarray
    y_va: np.ndarray
    test: np.ndarray
    y_te: np.ndarray
    classes: np.ndarray


PREDICTION_SCHEMA = {
    "sample_id": pl.Int64,
    "classifier": pl.Utf8,
    "label": pl.Int64,
    "prediction": pl.Int64,
    "correct": pl.Boolean,
    "score": pl.Float64,
}


def prediction_table(
    classifier: str,
    sample_ids: np.ndarray,
    labels: np.ndarray,
    predictions: np.ndarray,
    scores: np.ndarray | None = None,
) -> pl.DataFrame:
    """Per-image test predictions (sample_id, classifier, label, prediction, correct, score)."""
    labels, predictions = np.asarray(labels, np.int64), np.asarray(predictions, np.int64)
    return pl.DataFrame(
        {
            "sample_id": np.asarray(sample_ids, np.int64),
            "classifier": [classifier] * len(labels),
            "label": labels,
            "prediction": predictions,
            "correct": labels == predictions,
            "score": None if scores is None else np.asarray(scores, np.float64),
        },
        schema=PREDICTION_SCHEMA,
    )


@dataclass
class ProbeResults:
    """One row per classifier in ``table``; test-split confusion matrices (rows: true class); each
    classifier's test predictions and top-class scores (None where it has none)."""

    table: pl.DataFrame
    classes: np.ndarray
    confusion: dict[str, np.ndarray] = field(default_factory=dict)
    linear: LinearClassifier | None = None
    test_labels: np.ndarray | None = None
    test_predictions: dict[str, tuple[np.ndarray, np.ndarray | None]] = field(default_factory=dict)

    def predictions_table(self, sample_ids: np.ndarray) -> pl.DataFrame:
        """Every classifier's test predictions, one row per (classifier, image) in ``sample_ids``' order."""
        frames = [
            prediction_table(name, sample_ids, self.test_labels, pred, score)
            for name, (pred, score) in self.test_predictions.items()
        ]
        return pl.concat(frames) if frames else pl.DataFrame(schema=PREDICTION_SCHEMA)

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


def _float32(x: np.ndarray) -> np.ndarray:
    """C-contiguous float32 view or copy (no copy when ``x`` already is one)."""
    return np.ascontiguousarray(x, dtype=np.float32)


def nearest_class_mean(train: np.ndarray, train_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class ids and (K, d) float64 class means of ``train``; predict with :func:`predict_nearest_mean`."""
    train, train_labels = np.asarray(train), np.asarray(train_labels)
    classes, encoded = np.unique(train_labels, return_inverse=True)
    sums = np.zeros((len(classes), train.shape[1]))
    for start in range(0, len(train), _CHUNK_ROWS):  # float64 sums without a float64 copy of train
        chunk = np.asarray(train[start : start + _CHUNK_ROWS], dtype=np.float64)
        np.add.at(sums, encoded[start : start + len(chunk)], chunk)
    return classes, sums / np.bincount(encoded, minlength=len(classes))[:, None]


def predict_nearest_mean(
    features: np.ndarray, classes: np.ndarray, means: np.ndarray, metric: str = "euclidean"
) -> np.ndarray:
    """Class of the nearest mean under ``metric`` ("euclidean" or "manhattan"), in float64 row chunks."""
    if metric not in ("euclidean", "manhattan"):
        raise ValueError(f"unknown metric {metric!r}; expected euclidean or manhattan")
    means = np.asarray(means, dtype=np.float64)
    out = np.empty(len(features), dtype=np.intp)
    m_sq = np.einsum("ij,ij->i", means, means)
    step = max(1, _CHUNK_ROWS // max(1, len(means)) if metric == "manhattan" else _CHUNK_ROWS)
    for start in range(0, len(features), step):
        x = np.asarray(features[start : start + step], dtype=np.float64)
        if metric == "euclidean":  # |m|^2 - 2 x.m (+ |x|^2, the same for every m), float64 BLAS
            dist = m_sq - 2.0 * (x @ means.T)
        else:
            dist = np.abs(x[:, None, :] - means[None, :, :]).sum(axis=2)
        out[start : start + len(x)] = np.argmin(dist, axis=1)
    return classes[out]


def nearest_neighbours(train: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """(n_query, k) indices of each query row's ``k`` nearest train rows (Euclidean), nearest first.

    Blocked float32 BLAS distances (|q|^2 - 2 q.t + |t|^2, memory bounded by _BLOCK_ENTRIES) on rows
    centred on the train mean (distances do not change; float32 cancellation then scales with the
    spread of the data, not its offset), the k + _REFINE_MARGIN smallest re-ranked by exact float64
    distances; equal distances go to the lower train index.
    """
    query = np.asarray(query)
    n = len(train)
    total = np.zeros(train.shape[1])
    for start in range(0, n, _CHUNK_ROWS):
        total += np.asarray(train[start : start + _CHUNK_ROWS], dtype=np.float64).sum(axis=0)
    mean = total / n
    train32 = np.empty(train.shape, dtype=np.float32)
    for start in range(0, n, _CHUNK_ROWS):
        chunk = np.asarray(train[start : start + _CHUNK_ROWS], np.float64)
        train32[start : start + _CHUNK_ROWS] = chunk - mean
    k = min(int(k), n)
    m = min(n, k + _REFINE_MARGIN)
    t_sq = np.einsum("ij,ij->i", train32, train32)
    out = np.empty((len(query), k), dtype=np.intp)
    step = max(16, _BLOCK_ENTRIES // max(1, n))
    for start in range(0, len(query), step):
        q = _float32(np.asarray(query[start : start + step], np.float64) - mean)
        dist = q @ train32.T  # (b, n): -2 q.t + |t|^2 (|q|^2 is constant per row)
        dist *= -2.0
        dist += t_sq
        cand = (
            np.argpartition(dist, m - 1, axis=1)[:, :m]
            if m < n
            else np.broadcast_to(np.arange(n), dist.shape)
        )
        cand = np.sort(cand, axis=1)  # index order, so the stable sort below breaks ties by index
        q64 = q.astype(np.float64)
        exact = np.empty(cand.shape)
        for r in range(0, len(q), 64):  # gathered rows in small pieces: (64, m, d) at most
            diff = train32[cand[r : r + 64]].astype(np.float64) - q64[r : r + 64, None, :]
            exact[r : r + 64] = np.einsum("ijk,ijk->ij", diff, diff)
        order = np.argsort(exact, axis=1, kind="stable")[:, :k]
        out[start : start + len(q)] = np.take_along_axis(cand, order, axis=1)
    return out


def knn_predict_all(
    train: np.ndarray, train_labels: np.ndarray, query: np.ndarray, ks: Sequence[int]
) -> dict[int, np.ndarray]:
    """Majority vote of the k nearest train points (Euclidean) for every k in ``ks``, one search.

    Ties in the vote go to the lowest class id (as scikit-learn's KNeighborsClassifier); the distance
    products use BLAS's threads.
    """
    return {kk: pred for kk, (pred, _) in knn_votes(train, train_labels, query, ks).items()}


def knn_votes(
    train: np.ndarray, train_labels: np.ndarray, query: np.ndarray, ks: Sequence[int]
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """:func:`knn_predict_all` with each prediction's vote share (votes of the winner / k)."""
    ks = sorted({min(int(k), len(train)) for k in ks})
    classes, encoded = np.unique(train_labels, return_inverse=True)
    neighbours = encoded[nearest_neighbours(train, query, ks[-1])]  # (n_query, k_max) class codes
    votes = np.zeros((len(query), len(classes)), dtype=np.int64)
    rows, out = np.arange(len(query)), {}
    for j in range(ks[-1]):  # votes of the first j + 1 neighbours, every k read off on the way
        votes[rows, neighbours[:, j]] += 1
        if j + 1 in ks:
            winner = np.argmax(votes, axis=1)
            out[j + 1] = (classes[winner], votes[rows, winner] / (j + 1))
    return out


def _standardised(train: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, np.ndarray, list]:
    """Train mean, scale (StandardScaler's: std, 1 where 0) in float64; float32 standardised copies."""
    n, d = train.shape
    total, sq = np.zeros(d), np.zeros(d)
    for start in range(0, n, _CHUNK_ROWS):
        total += np.asarray(train[start : start + _CHUNK_ROWS], dtype=np.float64).sum(axis=0)
    mean = total / n
    for start in range(0, n, _CHUNK_ROWS):
        sq += ((np.asarray(train[start : start + _CHUNK_ROWS], dtype=np.float64) - mean) ** 2).sum(axis=0)
    scale = np.sqrt(sq / n)
    scale[scale < 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)] = 1.0
    mean32, inv32 = mean.astype(np.float32), (1.0 / scale).astype(np.float32)
    out = []
    for x in (train, *others):
        z = np.empty(x.shape, dtype=np.float32)
        for start in range(0, len(x), _CHUNK_ROWS):
            z[start : start + _CHUNK_ROWS] = (_float32(x[start : start + _CHUNK_ROWS]) - mean32) * inv32
        out.append(z)
    return mean, scale, out


def linear_probe_path(
    train: np.ndarray,
    train_labels: np.ndarray,
    val: np.ndarray,
    val_labels: np.ndarray,
    C: Sequence[float] = DEFAULT_C,  # noqa: N803 (scikit-learn's name)
    *,
    max_iter: int = 2000,
    seed: int = 0,
) -> tuple[float, dict[float, float], LinearClassifier]:
    """Logistic regression on standardised float32 features for every C, as a warm-started path.

    The grid is fitted in increasing C, each fit starting from the previous optimum (the objective
    and solver, L-BFGS, are scikit-learn's; only the starting point differs, so the optima agree to
    the solver's tolerance). Returns the C that scored best on val (ties: first in ``C``'s order),
    {C: val accuracy}, and the chosen model mapped back to raw features.
    """
    from sklearn.linear_model import LogisticRegression

    mean, scale, (z_tr, z_va) = _standardised(train, val)
    model = LogisticRegression(max_iter=max_iter, random_state=seed, warm_start=True)
    val_acc, fitted = {}, {}
    for c in sorted({float(c) for c in C}):
        model.set_params(C=c).fit(z_tr, train_labels)
        val_acc[c] = float(np.mean(model.predict(z_va) == val_labels))
        fitted[c] = (model.coef_.astype(np.float64), model.intercept_.astype(np.float64))
    best_c = max((float(c) for c in C), key=lambda c: (val_acc[c], -[float(x) for x in C].index(c)))
    coef, intercept = fitted[best_c]
    w = coef / scale  # scores = ((x - mean) / scale) @ coef.T + b
    b = intercept - w @ mean
    if len(model.classes_) == 2:  # binary: scikit-learn keeps one row; make it two
        w, b = np.vstack([-w, w]) / 2, np.concatenate([-b, b]) / 2
    return best_c, val_acc, LinearClassifier(classes=model.classes_, weights=w, bias=b, scale=scale)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(K, K) counts, rows true class, columns predicted, in the order of ``labels`` (sorted, covering
    both); scikit-learn's, in numpy so that the probes' jobs need not import scikit-learn for it."""
    k = len(labels)
    t, p = np.searchsorted(labels, y_true), np.searchsorted(labels, y_pred)
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def _scores(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, float]:
    """Accuracy and macro-F1 over the classes in either array (scikit-learn's: F1 0 where undefined)."""
    labels = np.union1d(y_true, y_pred)
    cm = confusion_matrix(y_true, y_pred, labels)
    tp = np.diag(cm).astype(np.float64)
    denom = cm.sum(axis=0) + cm.sum(axis=1)  # 2 tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred))), float(f1.mean())


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
    max_samples: int | None = DEFAULT_MAX_SAMPLES,
    max_iter: int = 2000,
    seed: int = 0,
    n_jobs: int = 1,
) -> ProbeResults:
    """Fit each of ``classifiers`` (names from CLASSIFIERS) on train, choose on val, score on test.

    Returns a table with columns classifier, parameter, value (the chosen hyper-parameter, null
    when there is none), train_accuracy (null for knn: each train point is its own neighbour, so it
    is not computed), val_accuracy, test_accuracy, test_macro_f1 and note (how the classifier was
    bounded, e.g. the forest's bootstrap size); the test confusion matrices; and, when
    ``linear_probe`` is fitted, its weights mapped back to the raw (unstandardised) feature space.
    ``max_samples``: train samples per tree of the random forest (None: all, as scikit-learn's default).
    """
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
    options = ProbeOptions(
        classifiers=tuple(classifiers),
        C=tuple(C),
        k=tuple(k),
        n_estimators=n_estimators,
        max_samples=max_samples,
        max_iter=max_iter,
        seed=seed,
        n_jobs=n_jobs,
    )
    data = _Splits(train, labels["train"], val, labels["val"], test, labels["test"], classes)
    if {"linear_probe", "random_forest"} & set(classifiers):
        # scipy's own OpenBLAS (scikit-learn's L-BFGS) is limited only if loaded before blas_threads starts:
        # loaded inside, it ran on every core where no OPENBLAS_NUM_THREADS was set (outside Snakemake),
        # and the linear probe path on a 1,078 x 3,136 layer took 21 instead of 1.2 CPU-seconds (load ~15).
        import scipy.linalg  # noqa: F401
    with blas_threads(train.size, n_jobs):
        return _probe(data, options)


def _probe(data: _Splits, options: ProbeOptions) -> ProbeResults:
    train, y_tr, val, y_va, test, y_te = data.train, data.y_tr, data.val, data.y_va, data.test, data.y_te
    rows, confusion, linear, kept = [], {}, None, {}

    def record(  # noqa: PLR0913
        name: str,
        parameter: str | None,
        value: float | None,
        train_pred: np.ndarray | None,
        val_pred: np.ndarray,
        test_pred: np.ndarray,
        note: str | None = None,
        test_score: np.ndarray | None = None,
    ) -> None:
        acc, f1 = _scores(y_te, test_pred)
        rows.append(
            {
                "classifier": name,
                "parameter": parameter,
                "value": None if value is None else float(value),
                "train_accuracy": None if train_pred is None else _scores(y_tr, train_pred)[0],
                "val_accuracy": _scores(y_va, val_pred)[0],
                "test_accuracy": acc,
                "test_macro_f1": f1,
                "note": note,
            }
        )
        confusion[name] = confusion_matrix(y_te, test_pred, labels=data.classes)
        kept[name] = (np.asarray(test_pred), test_score)

    for name in options.classifiers:
        if name == "linear_probe":
            best_c, _, linear = linear_probe_path(
                train, y_tr, val, y_va, options.C, max_iter=options.max_iter, seed=options.seed
            )
            test_pred, test_score = linear.predict_with_score(test)
            preds = [linear.predict(x) for x in (train, val)]
            note = "warm-started path over C, float32 features"
            record(name, "C", best_c, *preds, test_pred, note, test_score)
        elif name == "knn":
            # One neighbour search for val and test together serves every k.
            both = knn_votes(train, y_tr, np.concatenate([_float32(val), _float32(test)]), options.k)
            best_k = max(both, key=lambda kk: (_scores(y_va, both[kk][0][: len(val)])[0], -kk))
            pred, share = both[best_k]
            # a k above the train images is clipped to them (validate refuses one the user wrote): said here
            clipped = sorted({int(k) for k in options.k if int(k) > len(train)})
            said = f"; k {', '.join(map(str, clipped))} clipped to {len(train)} (the train images)"
            note = "train accuracy not computed" + (said if clipped else "")
            record(name, "k", best_k, None, pred[: len(val)], pred[len(val) :], note, share[len(val) :])
        elif name in ("ncm_l2", "ncm_l1"):
            metric = "euclidean" if name == "ncm_l2" else "manhattan"
            ids, means = nearest_class_mean(train, y_tr)
            record(
                name, None, None, *(predict_nearest_mean(x, ids, means, metric) for x in (train, val, test))
            )
        else:
            from sklearn.ensemble import RandomForestClassifier

            cap = options.max_samples
            bootstrap = len(train) if cap is None else min(int(cap), len(train))
            forest = RandomForestClassifier(
                n_estimators=options.n_estimators,
                max_samples=None if bootstrap == len(train) else bootstrap,
                random_state=options.seed,
                n_jobs=options.n_jobs,
            )
            forest.fit(_float32(train), y_tr)  # the trees work in float32 anyway: no float64 copy
            preds = [forest.predict(_float32(x)) for x in (train, val)]
            proba = forest.predict_proba(_float32(test))
            test_pred = forest.classes_[np.argmax(proba, axis=1)]
            # The note says how the forest was bounded, so only when the bound cut the bootstrap.
            note = (
                f"each tree on a bootstrap of {bootstrap:,} of {len(train):,} train samples (max_samples)"
                if bootstrap < len(train)
                else None
            )
            record(name, "n_estimators", options.n_estimators, *preds, test_pred, note, proba.max(axis=1))

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
            "note": pl.Utf8,
        },
    )
    return ProbeResults(
        table=table,
        classes=data.classes,
        confusion=confusion,
        linear=linear,
        test_labels=np.asarray(y_te),
        test_predictions=kept,
    )


@dataclass(frozen=True)
class AdamResult:
    """:func:`fit_linear_adam`'s history (one row per epoch: epoch, train_loss, train_accuracy,
    test_accuracy), and the last epoch's test predictions and softmax probability of the predicted class."""

    history: pl.DataFrame
    test_prediction: np.ndarray
    test_score: np.ndarray


def fit_linear_adam(
    train: np.ndarray,
    train_labels: np.ndarray,
    test: np.ndarray,
    test_labels: np.ndarray,
    *,
    epochs: int = 30,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
) -> AdamResult:
    """Train one linear layer with Adam on standardised features (the protocol of seed report 002): the
    history per epoch (train_loss: mean over the epoch's batches; accuracies measured after the epoch) and
    the last epoch's test predictions (for paired tests).

    numpy, float32, step for step as ``torch.nn.Linear`` + ``CrossEntropyLoss`` + ``torch.optim.Adam``
    with a ``torch.Generator().manual_seed(seed)`` (init and batch order drawn from the same MT19937
    stream, so the same to the bit; arithmetic to float32 rounding, tests/test_probes.py holds it to
    torch's). Why not torch: importing it was 1.6 of a linear_adam job's 4 CPU-seconds (issue 22).
    """
    # Batches of 64 rows are microseconds of arithmetic: extra BLAS threads only spin (outside Snakemake,
    # which sets OPENBLAS_NUM_THREADS, the pool1 fit took 14 instead of 1.5 CPU-seconds). One thread.
    with blas_threads(0, 1):
        return _linear_adam(train, train_labels, test, test_labels, epochs, lr, batch_size, seed)


def _linear_adam(train, train_labels, test, test_labels, epochs, lr, batch_size, seed) -> AdamResult:  # noqa: ANN001, PLR0913
    train, test = _as_2d("train", train), _as_2d("test", test)
    classes, y_tr = np.unique(train_labels, return_inverse=True)
    lookup = {int(c): i for i, c in enumerate(classes)}
    y_te = np.array([lookup.get(int(c), -1) for c in test_labels])  # unseen class: never right
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0] = 1.0
    x_tr = ((train - mean) / std).astype(np.float32)
    x_te = ((test - mean) / std).astype(np.float32)
    n, d, k = len(x_tr), x_tr.shape[1], len(classes)
    stream = TorchStream(seed)
    bound = 1 / np.sqrt(d)  # torch.nn.Linear's init bound, drawn as the seeded uniform_ calls drew it
    weight = stream.uniform((k, d), -bound, bound)
    bias = stream.uniform((k,), -bound, bound)
    adam = [AdamSteps(weight, lr), AdamSteps(bias, lr)]
    rows = []
    for epoch in range(1, epochs + 1):
        order = stream.randperm(n)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            x, y = x_tr[idx], y_tr[idx]
            loss, grad = _cross_entropy(x @ weight.T + bias, y)
            adam[0].step(grad.T @ x)
            adam[1].step(grad.sum(axis=0))
            total += float(loss) * len(idx)
        rows.append(
            {
                "epoch": epoch,
                "train_loss": total / n,
                "train_accuracy": _float32_mean(np.argmax(x_tr @ weight.T + bias, 1) == y_tr),
                "test_accuracy": _float32_mean(np.argmax(x_te @ weight.T + bias, 1) == y_te),
            }
        )
    logits = x_te @ weight.T + bias
    shifted = np.exp(logits - logits.max(1, keepdims=True))
    probabilities = shifted / shifted.sum(1, keepdims=True)
    best = np.argmax(probabilities, 1)
    score = probabilities[np.arange(len(best)), best]
    return AdamResult(pl.DataFrame(rows), classes[best], score.astype(np.float64))


def _float32_mean(hits: np.ndarray) -> float:
    """torch's ``(a == b).float().mean()``: an exact float32 count over a float32 n."""
    return float(np.float32(np.count_nonzero(hits)) / np.float32(len(hits)))


def _cross_entropy(logits: np.ndarray, target: np.ndarray) -> tuple[np.float32, np.ndarray]:
    """Mean cross-entropy of float32 ``logits`` (rows) against class codes, and its gradient in the logits
    (softmax - one-hot) / batch, as torch's log_softmax + nll_loss and their backward compute them."""
    b = len(target)
    shifted = logits - logits.max(1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    rows = np.arange(b)
    loss = -log_softmax[rows, target].sum(dtype=np.float32) / np.float32(b)
    grad = np.exp(log_softmax) / np.float32(b)
    grad[rows, target] -= np.float32(1.0) / np.float32(b)
    return loss, grad


class TorchStream:
    """The random numbers of ``torch.Generator().manual_seed(seed)`` on CPU, in numpy: torch's MT19937
    seeded as numpy's legacy ``RandomState(seed)`` seeds it, so the raw 32-bit outputs are the same;
    ``uniform`` and ``randperm`` consume and transform them as torch's CPU kernels do (float32
    ``uniform_``: the low 24 bits; ``randperm``: a Fisher-Yates shuffle). tests/test_probes.py holds
    both to torch's to the bit."""

    def __init__(self, seed: int) -> None:
        self._state = np.random.RandomState(int(seed) & 0xFFFFFFFF)

    def _raw(self, n: int) -> np.ndarray:
        return self._state.randint(0, 2**32, size=n, dtype=np.uint32)  # each one raw 32-bit output

    def uniform(self, shape: tuple[int, ...], low: float, high: float) -> np.ndarray:
        """float32 ``torch.empty(shape).uniform_(low, high, generator=...)``."""
        low, high = float(np.float32(low)), float(np.float32(high))  # the float tensor's scalars
        unit = (self._raw(int(np.prod(shape))) & np.uint32(2**24 - 1)).astype(np.float64) * 2.0**-24
        return (unit * (high - low) + low).astype(np.float32).reshape(shape)

    def randperm(self, n: int) -> np.ndarray:
        """``torch.randperm(n, generator=...)`` (n below 2**32 / 20, where torch draws 32 bits a swap)."""
        out = np.arange(n)
        draws = self._raw(max(n - 1, 0)).astype(np.int64)
        for i, z in enumerate(draws % (n - np.arange(n - 1))):
            j = i + int(z)
            out[i], out[j] = out[j], out[i]
        return out


class AdamSteps:
    """``torch.optim.Adam([param], lr)``'s update with its defaults (betas 0.9 / 0.999, eps 1e-8, no
    weight decay) on a float32 array in place, op for op as torch's single-tensor path (the one it takes
    on CPU)."""

    def __init__(
        self, param: np.ndarray, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
    ) -> None:
        self.param, self.lr, self.betas, self.eps = param, lr, betas, eps
        self.exp_avg, self.exp_avg_sq = np.zeros_like(param), np.zeros_like(param)
        self.steps = 0

    def step(self, grad: np.ndarray) -> None:
        beta1, beta2 = self.betas
        self.steps += 1
        step = float(self.steps)  # torch keeps the count as a float tensor and reads .item()
        bias_correction1 = 1 - beta1**step
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        step_size = self.lr / bias_correction1
        grad = grad.astype(np.float32, copy=False)
        self.exp_avg += np.float32(1 - beta1) * (grad - self.exp_avg)  # lerp_(grad, 1 - beta1)
        self.exp_avg_sq *= np.float32(beta2)
        self.exp_avg_sq += np.float32(1 - beta2) * grad * grad
        denom = np.sqrt(self.exp_avg_sq) / np.float32(bias_correction2_sqrt) + np.float32(self.eps)
        self.param += np.float32(-step_size) * self.exp_avg / denom
