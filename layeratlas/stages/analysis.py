"""Per-layer analysis steps and their summary."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from layeratlas.data.datasets import SPLITS, select_split
from layeratlas.finite import require_finite
from layeratlas.io import Pathish, atomic_path, read_json, write_json, write_parquet, write_table

# Figures (matplotlib) and the analyses are imported by the steps that use them: a job pays only for what
# it runs (neural collapse, cluster quality and the summary draw nothing; tests/test_imports.py).

log = logging.getLogger("layeratlas")


def layer_file(features_dir: Path, layer: str) -> Path:
    """``<layer>.npy`` in a features folder, or an error naming the layers that were extracted."""
    path = features_dir / f"{layer}.npy"
    if not path.exists():
        have = sorted(p.stem for p in features_dir.glob("*.npy"))
        raise FileNotFoundError(
            f"{path}: no features for layer {layer!r}; extracted layers: {', '.join(have)}"
        )
    return path


def load_layer(features_dir: Pathish, dataset_dir: Pathish, layer: str, split: str):  # noqa: ANN201
    """Features of one layer for the samples of ``split``, with their ids, labels and class names."""
    features_dir = Path(features_dir)
    path = layer_file(features_dir, layer)
    index = pl.read_parquet(features_dir / "index.parquet")
    mask = select_split(index["split"].to_numpy().astype(str), split)
    features = np.load(path, mmap_mode="r")[mask]
    index = index.filter(pl.Series(mask))
    require_finite(features, _features_what(path, layer), index["sample_id"].to_numpy())
    class_names = read_json(Path(dataset_dir) / "dataset.json")["class_names"]
    return features, index, class_names


def _features_what(path: Path, layer: str) -> str:
    """``results/features/{dataset}/{model}/{layer}.npy`` -> who the features belong to (for messages)."""
    return f"{path}: features of model {path.parent.name}, layer {layer} (dataset {path.parent.parent.name})"


def embed_features(
    dataset: str,
    model: str,
    layer: str,
    method: str,
    features_dir: Pathish,
    dataset_dir: Pathish,
    split: str,
    options: Mapping[str, Any],
    seed: int,
    threads: int,
    table: Pathish,
    figure: Pathish,
    spec: Mapping[str, Any] | None = None,
) -> None:
    """2-D map of one layer's features (``spec``: the model's config, to mark ImageNet weights used as
    they are in the title)."""
    from layeratlas import plots
    from layeratlas.analysis.embeddings import embed, embedding_table, fitted_on
    from layeratlas.plots import embeddings as embedding_plots

    features, index, class_names = load_layer(features_dir, dataset_dir, layer, split)
    labels = index["label"].to_numpy()
    coords = embed(np.asarray(features, dtype=np.float32), method, seed=seed, n_jobs=threads, params=options)
    ids = index["sample_id"].to_numpy()
    require_finite(coords, f"{method} embedding of model {model}, layer {layer} on {dataset}", ids)
    write_parquet(embedding_table(coords, index["sample_id"].to_numpy(), labels, class_names), table)
    names = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
    title = (
        f"{names[method]} of {model}{weights_note(spec)} / {layer} on {dataset} "
        f"({split}, n={len(labels)}, d={features.shape[1]})"
    )
    if sampled := fitted_on(len(labels), options if method != "pca" else None):
        title += f"\n{sampled}"
    axis = [f"{names[method]} {i}" for i in (1, 2)]
    if method == "pca":  # coords are the full PCA's projections: their variance / the total variance
        total = float(np.asarray(features, dtype=np.float64).var(axis=0).sum())
        ratio = coords.astype(np.float64).var(axis=0) / total if total > 0 else np.full(2, np.nan)
        axis = [f"PC {i + 1} ({100 * r:.1f}% of the variance)" for i, r in enumerate(ratio)]
    fig = embedding_plots.class_scatter(coords, labels, class_names, title, xlabel=axis[0], ylabel=axis[1])
    plots.save_figure(fig, figure)


def weights_note(spec: Mapping[str, Any] | None) -> str:
    """ ", ImageNet, not fine-tuned" for a model with ImageNet weights and no training of its own."""
    if spec and spec.get("weights") == "imagenet" and not spec.get("train") and not spec.get("snapshot_of"):
        return " (ImageNet, not fine-tuned)"
    return ""


def class_variance(
    dataset: str,
    model: str,
    layer: str,
    features_dir: Pathish,
    dataset_dir: Pathish,
    split: str,
    intra: Pathish,
    inter: Pathish,
    summary: Pathish,
    heatmap: Pathish,
    intra_bar: Pathish,
    resamples: int = 0,
    seed: int = 0,
) -> None:
    """Intra- and inter-class variances of one layer; the ratio's bootstrap interval with ``resamples``."""
    from layeratlas import plots
    from layeratlas.analysis import variance
    from layeratlas.plots import classes as class_plots

    features, index, class_names = load_layer(features_dir, dataset_dir, layer, split)
    v = variance.class_variances(features, index["label"].to_numpy())
    write_table(variance.intra_table(v, class_names), intra)
    write_table(variance.inter_table(v, class_names), inter)
    names = [class_names[c] for c in v.classes]
    where = f"{model} / {layer} on {dataset} ({split})"
    plots.save_figure(
        class_plots.variance_heatmap(v.inter, names, f"Inter-class variance: {where}", diagonal=v.intra),
        heatmap,
    )
    plots.save_figure(class_plots.intra_bar(v.intra, names, f"Intra-class variance: {where}"), intra_bar)
    row = {
        "dataset": dataset,
        "model": model,
        "layer": layer,
        "split": split,
        "n_samples": int(len(index)),
        "n_features": int(features.shape[1]),
        **variance.summary_row(v),
    }
    if resamples:
        low, high = variance.ratio_interval(
            features, index["label"].to_numpy(), resamples=resamples, seed=seed
        )
        row |= {"inter_to_intra_ratio_ci_low": low, "inter_to_intra_ratio_ci_high": high}
    write_json(row, summary)
    log.info("%s: %s", where, row)


# --- the analysis suite: probes, cluster quality, neural collapse, CKA, pixel baselines, summary ---


def _split_arrays(features_dir: Pathish, layer: str):  # noqa: ANN202
    """{split: (features, labels)} of one layer for train, val and test (features memory-mapped)."""
    features_dir = Path(features_dir)
    path = layer_file(features_dir, layer)
    index = pl.read_parquet(features_dir / "index.parquet")
    features = np.load(path, mmap_mode="r")
    require_finite(features, _features_what(path, layer), index["sample_id"].to_numpy())
    split, labels = index["split"].to_numpy().astype(str), index["label"].to_numpy()
    out = {}
    for name in ("train", "val", "test"):
        mask = split == name
        if not mask.any():
            raise ValueError(
                f"{features_dir / 'index.parquet'}: no {name} samples; probes need train, val and test"
            )
        out[name] = (features[mask], labels[mask])
    return out


def _key(dataset: str, model: str, layer: str) -> dict[str, str]:
    return {"dataset": dataset, "model": model, "layer": layer}


def _split_ids(features_dir: Pathish, split: str) -> np.ndarray:
    """Sample ids of ``split`` in the row order of :func:`_split_arrays`."""
    index = pl.read_parquet(Path(features_dir) / "index.parquet")
    return index["sample_id"].to_numpy()[index["split"].to_numpy().astype(str) == split]


def accuracy_summary(name: str, labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """{name}_accuracy with its 95% Wilson interval (_ci_low, _ci_high) on these test images."""
    from layeratlas.analysis.stats import wilson_interval

    correct = int(np.sum(np.asarray(labels) == np.asarray(predictions)))
    low, high = wilson_interval(correct, len(labels))
    return {
        f"{name}_accuracy": correct / len(labels),
        f"{name}_accuracy_ci_low": low,
        f"{name}_accuracy_ci_high": high,
    }


def chance_summary(train_labels: np.ndarray, test_labels: np.ndarray) -> dict[str, Any]:
    """n_test, n_classes (of train) and the chance accuracy: 1 / n_classes, or the test share of the
    most frequent train class where that is larger (always guessing it)."""
    classes = np.unique(train_labels)
    test_labels = np.asarray(test_labels)
    majority = classes[np.argmax([np.sum(np.asarray(train_labels) == c) for c in classes])]
    chance = max(1.0 / len(classes), float(np.mean(test_labels == majority)))
    return {"n_test": len(test_labels), "n_classes": len(classes), "chance_accuracy": chance}


def layer_probes(
    dataset: str,
    model: str,
    layer: str,
    features_dir: Pathish,
    dataset_dir: Pathish,
    options: Mapping[str, Any],
    seed: int,
    threads: int,
    table: Pathish,
    summary: Pathish,
    confusion: Pathish,
    linear_probe: Pathish,
    predictions: Pathish | None = None,
    resamples: int = 0,
) -> None:
    """Classifiers of ``options['classifiers']`` on one layer (train / val / test), with their figure.

    ``predictions``: every classifier's test predictions (per image). The summary gets each accuracy's
    Wilson interval and, with ``resamples``, each macro-F1's bootstrap interval over test images.
    """
    from layeratlas import plots
    from layeratlas.analysis.probes import probe_classifiers
    from layeratlas.analysis.stats import macro_f1_interval
    from layeratlas.plots import classes as class_plots

    data = _split_arrays(features_dir, layer)
    class_names = read_json(Path(dataset_dir) / "dataset.json")["class_names"]
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = data["train"], data["val"], data["test"]
    res = probe_classifiers(
        x_tr,
        y_tr,
        x_va,
        y_va,
        x_te,
        y_te,
        classifiers=options["classifiers"],
        C=options["C"],
        k=options["k"],
        n_estimators=options["n_estimators"],
        max_samples=options.get("max_samples"),
        seed=seed,
        n_jobs=threads,
    )
    write_table(res.table, table)
    if predictions is not None:
        write_parquet(res.predictions_table(_split_ids(features_dir, "test")), predictions)
    row = {**_key(dataset, model, layer), "n_train": len(y_tr), "n_val": len(y_va)}
    row |= chance_summary(y_tr, y_te)
    for name, (pred, _) in res.test_predictions.items():
        row |= accuracy_summary(name, y_te, pred)
        row[f"{name}_macro_f1"] = dict(zip(res.table["classifier"], res.table["test_macro_f1"], strict=True))[
            name
        ]
        low, high = macro_f1_interval(y_te, pred, resamples=resamples, seed=seed)
        row |= {f"{name}_macro_f1_ci_low": low, f"{name}_macro_f1_ci_high": high}
        if name == "linear_probe":
            row["linear_probe_correct"] = int(np.sum(np.asarray(pred) == y_te))
    write_json(row, summary)
    names = [class_names[int(c)] for c in res.classes]
    accuracies = dict(zip(res.table["classifier"], res.table["test_accuracy"], strict=True))
    title = f"Test confusion matrices: {model} / {layer} on {dataset} (n={len(y_te)}; title: accuracy)"
    plots.save_figure(class_plots.confusion_grid(res.confusion, names, title, accuracies), confusion)
    with atomic_path(linear_probe) as tmp, open(tmp, "wb") as fh:
        if res.linear is None:
            np.savez(
                fh,
                classes=np.empty(0, np.int64),
                weights=np.empty((0, 0)),
                bias=np.empty(0),
                scale=np.empty(0),
            )
        else:
            lin = res.linear
            np.savez(fh, classes=lin.classes, weights=lin.weights, bias=lin.bias, scale=lin.scale)
    log.info("%s / %s on %s:\n%s", model, layer, dataset, res.table)


def layer_neural_collapse(
    dataset: str,
    model: str,
    layer: str,
    features_dir: Pathish,
    linear_probe: Pathish,
    table: Pathish,
    summary: Pathish,
    resamples: int = 0,
    seed: int = 0,
) -> None:
    """NC1-NC4 on the train split; NC3 and NC4 against the layer's linear probe (NC3 standardised);
    NC1's bootstrap interval with ``resamples``."""
    from layeratlas.analysis.collapse import neural_collapse

    x, y = _split_arrays(features_dir, layer)["train"]
    probe = np.load(linear_probe)
    fitted = probe["weights"].size > 0
    metrics = neural_collapse(
        x,
        y,
        probe["weights"] if fitted else None,
        probe["bias"] if fitted else None,
        probe["classes"] if fitted else None,
        feature_scale=probe["scale"] if fitted else None,
        resamples=resamples,
        seed=seed,
    )
    row = {**_key(dataset, model, layer), "split": "train", "classifier": "linear_probe", **metrics}
    write_table(pl.DataFrame([row]), table)
    write_json({**_key(dataset, model, layer), **metrics}, summary)
    log.info("%s", row)


def layer_cluster_quality(
    dataset: str,
    model: str,
    layer: str,
    features_dir: Pathish,
    dataset_dir: Pathish,
    split: str,
    embeddings: Mapping[str, Pathish],
    seed: int,
    table: Pathish,
    summary: Pathish,
    resamples: int = 0,
) -> None:
    """Silhouette / Davies-Bouldin of the features and of each 2-D embedding, plus trustworthiness;
    the features' silhouette interval with ``resamples``."""
    from layeratlas.analysis.cluster import cluster_table

    features, index, _ = load_layer(features_dir, dataset_dir, layer, split)
    ids = index["sample_id"].to_numpy()
    coords = {}
    for name, path in embeddings.items():
        emb = pl.read_parquet(path)
        order = {int(s): i for i, s in enumerate(emb["sample_id"].to_numpy())}
        if missing := [int(s) for s in ids if int(s) not in order]:
            raise ValueError(f"{path}: lacks {len(missing)} sample(s) of split {split!r}, e.g. {missing[:5]}")
        rows = np.array([order[int(s)] for s in ids])
        coords[name] = np.column_stack([emb["x"].to_numpy()[rows], emb["y"].to_numpy()[rows]])
    result = cluster_table(features, index["label"].to_numpy(), coords, seed=seed, resamples=resamples)
    write_table(result.with_columns(pl.lit(split).alias("split")), table)
    row = _key(dataset, model, layer)
    for r in result.iter_rows(named=True):
        suffix = "" if r["space"] == "features" else f"_{r['space']}"
        row[f"silhouette{suffix}"] = r["silhouette"]
        row[f"davies_bouldin{suffix}"] = r["davies_bouldin"]
        if r["trustworthiness"] is not None:
            row[f"trustworthiness{suffix}"] = r["trustworthiness"]
        if r["space"] == "features" and "silhouette_ci_low" in r:
            row |= {
                "silhouette_ci_low": r["silhouette_ci_low"],
                "silhouette_ci_high": r["silhouette_ci_high"],
            }
    write_json(row, summary)
    log.info("%s", row)


def summarize_layers(
    summaries: list[Pathish],
    order: Mapping[str, list[str]],
    table: Pathish,
    extractors: Mapping[str, Pathish] | None = None,
) -> None:
    """One row per (dataset, model, layer), a column per metric, from every per-layer summary JSON.

    ``order``: {model: [layer, ...]} in config order; ``depth`` is the layer's position there.
    ``extractors``: {model: models/<model>/extractor.json}, whose layers' ``relative_depth`` (position
    among the network's modules in execution order, 0 to 1) becomes a column (null where an export
    predates it). Writes ``table`` (.parquet) with a .tsv and a .csv beside it.
    """
    relative: dict[tuple[str, str], float | None] = {}
    for model, path in (extractors or {}).items():
        for entry in read_json(path).get("layers", []):
            relative[(model, entry["name"])] = entry.get("relative_depth")
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for path in summaries:
        row = read_json(path)
        values = merged.setdefault((row["dataset"], row["model"], row["layer"]), {})
        for k, v in row.items():
            values.setdefault(k, v)  # the first file wins (e.g. the variance rows' split and sizes)
    rows = [
        {
            "dataset": d,
            "model": m,
            "layer": layer,
            "depth": order[m].index(layer),
            "relative_depth": relative.get((m, layer)),
            **values,
        }
        for (d, m, layer), values in merged.items()
    ]
    rank = {m: i for i, m in enumerate(order)}
    rows.sort(key=lambda r: (rank[r["model"]], r["depth"]))  # stable: datasets keep their input order
    frame = pl.DataFrame(rows, infer_schema_length=None).with_columns(
        pl.col("relative_depth").cast(pl.Float64)
    )
    write_table(frame, table)
    with atomic_path(Path(table).with_suffix(".csv")) as tmp:  # for spreadsheets
        frame.write_csv(tmp, float_precision=6)
    log.info("summary of %d layers, columns %s", frame.height, frame.columns)


def plot_metrics_vs_depth(
    model: str, table: Pathish, figure: Pathish, training_metrics: Pathish | None = None
) -> None:
    """Metrics versus depth of one model; ``training_metrics`` (its training run's metrics.json, where
    it was trained) adds the network's own test accuracy as a reference line."""
    from layeratlas import plots
    from layeratlas.plots import layers as layer_plots

    reference = {}
    if training_metrics is not None and Path(training_metrics).is_file():
        metrics = read_json(training_metrics)
        reference[f"the network's own test accuracy ({metrics.get('dataset', '?')})"] = float(
            metrics["test_accuracy"]
        )

    plots.save_figure(layer_plots.metrics_vs_depth(pl.read_parquet(table), model, reference), figure)


def dataset_cka(
    dataset: str,
    features_root: Pathish,
    layers: Mapping[str, list[str]],
    split: str,
    table: Pathish,
    figure: Pathish,
    resamples: int = 0,
    samples: int = 2000,
    seed: int = 0,
    model_figures: Mapping[str, Pathish] | None = None,
) -> None:
    """Unbiased linear CKA between every pair of (model, layer) on the same samples of ``split``; with
    ``resamples``, each pair's bootstrap interval on ``samples`` of those images (cka_ci_low / cka_ci_high;
    ``layeratlas.analysis.cka.cka_intervals``). ``model_figures``: {model: figure} of each model's layer x
    layer block (:func:`plot_model_cka`), drawn from the table by the same job."""
    from layeratlas import plots
    from layeratlas.analysis.cka import cka_intervals, cka_matrix, layer_labels
    from layeratlas.plots import layers as layer_plots

    arrays: dict[str, np.ndarray] = {}
    ids_ref = None
    for model, model_layers in layers.items():
        features_dir = Path(features_root) / model
        index = pl.read_parquet(features_dir / "index.parquet")
        mask = select_split(index["split"].to_numpy().astype(str), split)
        ids = index["sample_id"].to_numpy()[mask]
        order = np.argsort(ids, kind="stable")
        if ids_ref is None:
            ids_ref = ids[order]
        elif not np.array_equal(ids[order], ids_ref):
            raise ValueError(f"{features_dir}: samples of split {split!r} differ from the first model's")
        rows = np.flatnonzero(mask)[order]
        for layer in model_layers:
            data = np.load(features_dir / f"{layer}.npy", mmap_mode="r")
            require_finite(data, _features_what(features_dir / f"{layer}.npy", layer), index["sample_id"])
            arrays[f"{model} / {layer}"] = (
                data[rows] if not np.array_equal(rows, np.arange(len(data))) else data
            )
    matrix = cka_matrix(arrays, progress=True)
    low, high, m = cka_intervals(arrays, resamples=resamples, seed=seed, samples=samples)
    if resamples:
        log.info("CKA intervals: %d resamples of %d of the %d images", resamples, m, len(ids_ref))
    labels = layer_labels(layers)
    pairs = [(m, layer) for m, model_layers in layers.items() for layer in model_layers]
    frame = pl.DataFrame(
        [
            {
                "dataset": dataset,
                "model_a": ma,
                "layer_a": la,
                "model_b": mb,
                "layer_b": lb,
                "cka": float(matrix[i, j]),
                "cka_ci_low": float(low[i, j]),
                "cka_ci_high": float(high[i, j]),
                "cka_ci_images": m if resamples else None,
            }
            for i, (ma, la) in enumerate(pairs)
            for j, (mb, lb) in enumerate(pairs)
        ]
    ).cast({"cka_ci_images": pl.Int64})
    write_table(frame, table)
    title = f"Linear CKA (unbiased) on {dataset} ({split}, n={len(ids_ref)})"
    plots.save_figure(layer_plots.cka_heatmap(matrix, labels, labels, title, "model / layer"), figure)
    for model, path in (model_figures or {}).items():
        plot_model_cka(dataset, model, list(layers[model]), table, path)


def plot_model_cka(dataset: str, model: str, layers: list[str], table: Pathish, figure: Pathish) -> None:
    """The layer x layer block of one model from the dataset's CKA table."""
    from layeratlas import plots
    from layeratlas.plots import layers as layer_plots

    frame = pl.read_parquet(table).filter((pl.col("model_a") == model) & (pl.col("model_b") == model))
    lookup = {(a, b): v for a, b, v in frame.select("layer_a", "layer_b", "cka").iter_rows()}
    matrix = np.array([[lookup[(a, b)] for b in layers] for a in layers], dtype=np.float64)
    title = f"Linear CKA (unbiased) between layers of {model} on {dataset}"
    plots.save_figure(layer_plots.cka_heatmap(matrix, layers, layers, title), figure)


def layer_linear_adam(
    dataset: str,
    model: str,
    layer: str,
    features_dir: Pathish,
    options: Mapping[str, Any],
    seed: int,
    table: Pathish,
    summary: Pathish,
    figure: Pathish,
    predictions: Pathish | None = None,
) -> None:
    """A linear layer trained with Adam on train, train/test accuracy per epoch (seed report 002); the
    last epoch's test predictions per image, and its accuracy's Wilson interval."""
    from layeratlas import plots
    from layeratlas.analysis.probes import fit_linear_adam, prediction_table
    from layeratlas.plots import layers as layer_plots

    data = _split_arrays(features_dir, layer)
    (x_tr, y_tr), (x_te, y_te) = data["train"], data["test"]
    fit = fit_linear_adam(
        np.asarray(x_tr, dtype=np.float32),
        y_tr,
        np.asarray(x_te, dtype=np.float32),
        y_te,
        epochs=options["epochs"],
        lr=options["lr"],
        batch_size=options["batch_size"],
        seed=seed,
    )
    history = fit.history
    write_table(history, table)
    if predictions is not None:
        ids = _split_ids(features_dir, "test")
        write_parquet(
            prediction_table("linear_adam", ids, y_te, fit.test_prediction, fit.test_score), predictions
        )
    write_json(
        {**_key(dataset, model, layer), **accuracy_summary("linear_adam", y_te, fit.test_prediction)}, summary
    )
    title = f"Linear layer (Adam, lr {options['lr']}) on {model} / {layer}, {dataset}"
    plots.save_figure(layer_plots.accuracy_curves(history, title), figure)


def pixel_baselines(dataset: str, dataset_dir: Pathish, table: Pathish, figure: Pathish) -> None:
    """Nearest class mean (L1, L2) on raw pixels: train means, test scores; the class-mean image grid."""
    from layeratlas import plots
    from layeratlas.analysis.probes import probe_classifiers
    from layeratlas.plots import classes as class_plots

    dataset_dir = Path(dataset_dir)
    images = np.load(dataset_dir / "images.npy", mmap_mode="r")
    index = pl.read_parquet(dataset_dir / "index.parquet")
    class_names = read_json(dataset_dir / "dataset.json")["class_names"]
    split, labels = index["split"].to_numpy().astype(str), index["label"].to_numpy()
    flat = {
        s: np.asarray(images[split == s], dtype=np.float32).reshape((split == s).sum(), -1) for s in SPLITS
    }
    res = probe_classifiers(
        flat["train"],
        labels[split == "train"],
        flat["val"],
        labels[split == "val"],
        flat["test"],
        labels[split == "test"],
        classifiers=["ncm_l1", "ncm_l2"],
    )
    write_table(
        res.table.with_columns(pl.lit(dataset).alias("dataset"), pl.lit("pixels").alias("input")), table
    )
    train_images = images[split == "train"]
    train_labels = labels[split == "train"]
    classes = np.unique(train_labels)
    means = np.stack(
        [np.asarray(train_images[train_labels == c], dtype=np.float64).mean(axis=0) for c in classes]
    )
    acc = dict(zip(res.table["classifier"], res.table["test_accuracy"], strict=True))
    title = (
        f"Class-mean images of {dataset} (train); nearest mean on test: "
        f"L1 {acc['ncm_l1']:.3f}, L2 {acc['ncm_l2']:.3f}"
    )
    names = [class_names[int(c)] for c in classes]
    plots.save_figure(class_plots.class_mean_images(means, names, title), figure)
    log.info("%s pixels:\n%s", dataset, res.table)


def thumbnail_map(
    dataset: str,
    model: str,
    layer: str,
    method: str,
    embedding: Pathish,
    dataset_dir: Pathish,
    max_points: int,
    zoom: float | None,
    seed: int,
    figure: Pathish,
) -> None:
    """The embedding's map: every point as a small class-coloured dot, and a seeded sample of at most
    ``max_points`` of them (at most THUMBNAILS_PER_CLASS of each class) drawn as their images."""
    from layeratlas import plots
    from layeratlas.plots import embeddings as embedding_plots

    full = pl.read_parquet(embedding)
    labels = full["label"].to_numpy()
    n_classes = max(1, len(np.unique(labels)))
    cap = max(1, min(embedding_plots.THUMBNAILS_PER_CLASS, max_points // n_classes))
    table = full[embedding_plots.per_class_sample(labels, cap, seed)]
    dataset_dir = Path(dataset_dir)
    images = np.load(dataset_dir / "images.npy", mmap_mode="r")
    index = pl.read_parquet(dataset_dir / "index.parquet")
    row_of = {int(s): i for i, s in enumerate(index["sample_id"].to_numpy())}
    rows = np.array([row_of[int(s)] for s in table["sample_id"]])
    thumbs = np.asarray(images[rows])
    if zoom is None:  # about 24 screen pixels per thumbnail at the figure's dpi
        zoom = 24.0 / thumbs.shape[1]
    coords = np.column_stack([table["x"].to_numpy(), table["y"].to_numpy()])
    names = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
    splits = ", ".join(sorted(set(index["split"].to_numpy()[rows].astype(str))))
    title = (
        f"{names.get(method, method)} of {model} / {layer} on {dataset} ({splits}): {len(rows)} of "
        f"{full.height} images drawn, at most {cap} per class (dots: all {full.height})"
    )
    class_names = read_json(dataset_dir / "dataset.json")["class_names"]
    axis = [f"{names.get(method, method)} {i}" for i in (1, 2)]
    fig = embedding_plots.thumbnail_map(
        coords,
        thumbs,
        table["label"].to_numpy(),
        title,
        zoom=zoom,
        class_names=class_names,
        background=(np.column_stack([full["x"].to_numpy(), full["y"].to_numpy()]), labels),
        xlabel=axis[0],
        ylabel=axis[1],
    )
    plots.save_figure(fig, figure)


def layer_comparisons(
    predictions: Mapping[str, Pathish],
    order: Mapping[str, list[str]],
    pairs: list[tuple[str, str]],
    classifier: str,
    features_root: Pathish,
    split: str,
    resamples: int,
    seed: int,
    table: Pathish,
) -> None:
    """Paired tests of every dataset (``layeratlas.analysis.comparisons``) into one table (+ .tsv).

    ``predictions``: {"dataset/model/layer": per-image predictions table}; ``order``: {model: [layer,
    ...]}; ``pairs``: (reference, other) models. A pair's inter/intra ratio change and its paired
    bootstrap interval use the features of ``split`` under ``features_root``/<dataset>/<model>.
    """
    from layeratlas.analysis.comparisons import SCHEMA, comparison_table, correctness
    from layeratlas.analysis.variance import ratio_change_interval

    datasets = list(dict.fromkeys(key.split("/", 1)[0] for key in predictions))
    shared = {(a, b): [layer for layer in order[b] if layer in order[a]] for a, b in pairs}
    frames = []
    for dataset in datasets:
        cells = {
            (m, layer): correctness(pl.read_parquet(predictions[f"{dataset}/{m}/{layer}"]), classifier)
            for m, layers in order.items()
            for layer in layers
        }

        def ratio_change(a: str, b: str, layer: str, dataset: str = dataset) -> tuple[float, float, float]:
            (xa, ya, ids_a), (xb, _, ids_b) = (
                _aligned_split(Path(features_root) / dataset / m, layer, split) for m in (a, b)
            )
            if not np.array_equal(ids_a, ids_b):
                raise ValueError(f"{dataset}: models {a} and {b} hold different {split} samples")
            return ratio_change_interval(xa, xb, ya, resamples=resamples, seed=seed)

        frames.append(comparison_table(dataset, cells, order, pairs, shared, classifier, ratio_change))
    frame = pl.concat(frames) if frames else pl.DataFrame(schema=SCHEMA)
    write_table(frame, table)
    log.info("%d paired tests:\n%s", frame.height, frame)


def _aligned_split(features_dir: Path, layer: str, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels and ids of ``split`` sorted by sample_id (two models' rows: the same images)."""
    index = pl.read_parquet(features_dir / "index.parquet")
    mask = select_split(index["split"].to_numpy().astype(str), split)
    rows = np.flatnonzero(mask)[np.argsort(index["sample_id"].to_numpy()[mask], kind="stable")]
    features = np.load(layer_file(features_dir, layer), mmap_mode="r")
    return np.asarray(features[rows]), index["label"].to_numpy()[rows], index["sample_id"].to_numpy()[rows]
