"""Robustness steps (the ``robustness:`` block): accuracy under corruption of classifiers fitted on clean
features and of trained networks' own heads, per-layer feature drift, their summaries and figures, and
the 2 x 2 PCA comparison. Clean and corrupted datasets pair by ``sample_id``; everything is scored on
test-split images."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from layeratlas import plots
from layeratlas.io import Pathish, read_json, write_table
from layeratlas.robustness.config import CorruptedDataset
from layeratlas.robustness.evaluate import CLEAN, HEAD_CLASSIFIER, HEAD_LAYER

log = logging.getLogger("layeratlas")


def _index(features_dir: Pathish) -> pl.DataFrame:
    return pl.read_parquet(Path(features_dir) / "index.parquet")


def _layer(features_dir: Pathish, layer: str) -> np.ndarray:
    """One layer's features (memory-mapped), refused with the file, model, layer and sample ids when any
    row holds NaN or inf, as the main analyses do (layeratlas.finite)."""
    from layeratlas.finite import require_finite
    from layeratlas.stages.analysis import _features_what, layer_file

    path = layer_file(Path(features_dir), layer)
    features = np.load(path, mmap_mode="r")
    return require_finite(features, _features_what(path, layer), _index(features_dir)["sample_id"].to_numpy())


def _corrupted(entry: Mapping[str, Any]) -> CorruptedDataset:
    return CorruptedDataset(entry["dataset"], entry["corruption"], int(entry["severity"]))


def _checked_rows(entry: Mapping[str, Any], index: pl.DataFrame, clean_fit_ids: np.ndarray) -> np.ndarray:
    """Rows of a corrupted dataset to score: its dataset.json must hold the requested corruption."""
    from layeratlas.robustness.evaluate import check_corruption, held_out_rows

    check_corruption(read_json(Path(entry["dataset_dir"]) / "dataset.json"), _corrupted(entry))
    rows = held_out_rows(index["sample_id"].to_numpy(), index["split"].to_numpy(), clean_fit_ids)
    if not len(rows):
        raise ValueError(
            f"dataset {entry['dataset']!r}: no test images left to score (none in its test split, or all "
            "of them are in the clean dataset's train/val split)"
        )
    return rows


def _fit_ids(index: pl.DataFrame) -> np.ndarray:
    return index.filter(pl.col("split").is_in(["train", "val"]))["sample_id"].to_numpy()


def robustness_probes(
    clean_dataset: str,
    model: str,
    layer: str,
    clean_features: Pathish,
    corrupted: Sequence[Mapping[str, Any]],
    options: Mapping[str, Any],
    seed: int,
    threads: int,
    table: Pathish,
) -> pl.DataFrame:
    """Classifiers fitted on the clean train split of one layer, scored on the clean test split and on
    the test split of each corrupted dataset (``corrupted``: dataset, corruption, severity, features_dir,
    dataset_dir). Writes the accuracy table (parquet + tsv)."""
    from layeratlas.robustness.evaluate import accuracy_rows, accuracy_table, fit_classifiers

    index = _index(clean_features)
    x = _layer(clean_features, layer)
    split, y = index["split"].to_numpy().astype(str), index["label"].to_numpy()
    tr, va, te = (split == "train"), (split == "val"), (split == "test")
    for name, mask in (("train", tr), ("val", va), ("test", te)):
        if not mask.any():
            raise ValueError(f"robustness.clean: dataset {clean_dataset!r} has no {name} images")
    fitted = fit_classifiers(
        x[tr],
        y[tr],
        x[va],
        y[va],
        classifiers=options["classifiers"],
        C=options["C"],
        k=options["k"],
        n_estimators=options["n_estimators"],
        linear_adam=options.get("linear_adam"),
        seed=seed,
        n_jobs=threads,
    )
    key = {"model": model, "layer": layer}
    x_te = np.asarray(x[te], np.float64)
    rows = accuracy_rows(
        {f.name: f.predict(x_te) for f in fitted},
        y[te],
        dataset=clean_dataset,
        corruption=CLEAN,
        severity=0,
        **key,
    )
    fit_ids = _fit_ids(index)
    for entry in corrupted:
        c_index = _index(entry["features_dir"])
        keep = _checked_rows(entry, c_index, fit_ids)
        xc = np.asarray(_layer(entry["features_dir"], layer)[keep], np.float64)
        yc = c_index["label"].to_numpy()[keep]
        rows += accuracy_rows(
            {f.name: f.predict(xc) for f in fitted},
            yc,
            dataset=entry["dataset"],
            corruption=entry["corruption"],
            severity=int(entry["severity"]),
            **key,
        )
    out = accuracy_table(rows)
    write_table(out, table)
    log.info("%s / %s under corruption:\n%s", model, layer, out)
    return out


def head_accuracy(
    clean_dataset: str,
    model: str,
    checkpoint: Pathish,
    clean_dataset_dir: Pathish,
    corrupted: Sequence[Mapping[str, Any]],
    batch_size: int,
    threads: int,
    table: Pathish,
) -> pl.DataFrame:
    """A trained network's own head (its checkpoint, preprocessing included) on the clean test split and
    on each corrupted dataset's test split (``corrupted``: dataset, corruption, severity, dataset_dir)."""
    import torch

    from layeratlas.data.datasets import load_dataset
    from layeratlas.models import get_architecture
    from layeratlas.models.preprocess import Preprocess
    from layeratlas.models.zoo import input_size, load_checkpoint
    from layeratlas.robustness.evaluate import accuracy_rows, accuracy_table, predict_images
    from layeratlas.training import pick_device

    torch.set_num_threads(threads)
    spec = torch.load(checkpoint, map_location="cpu", weights_only=True)["spec"]
    arch = get_architecture(spec["architecture"])
    net = torch.nn.Sequential(
        Preprocess(input_size(spec), arch.channels, arch.mean, arch.std), load_checkpoint(checkpoint)
    )
    device = pick_device()
    clean = load_dataset(clean_dataset_dir)
    test = np.flatnonzero(clean.split == "test")
    key = {"model": model, "layer": HEAD_LAYER}
    rows = accuracy_rows(
        {HEAD_CLASSIFIER: predict_images(net, clean.images[test], batch_size, device)},
        clean.labels[test],
        dataset=clean_dataset,
        corruption=CLEAN,
        severity=0,
        **key,
    )
    fit_ids = clean.sample_ids[np.isin(clean.split, ["train", "val"])]
    for entry in corrupted:
        ds = load_dataset(entry["dataset_dir"])
        if tuple(ds.class_names) != tuple(clean.class_names):
            raise ValueError(f"dataset {entry['dataset']!r}: classes differ from {clean_dataset!r}")
        keep = _checked_rows(entry, ds.index(), fit_ids)
        rows += accuracy_rows(
            {HEAD_CLASSIFIER: predict_images(net, ds.images[keep], batch_size, device)},
            ds.labels[keep],
            dataset=entry["dataset"],
            corruption=entry["corruption"],
            severity=int(entry["severity"]),
            **key,
        )
    out = accuracy_table(rows)
    write_table(out, table)
    log.info("%s (own head) under corruption:\n%s", model, out)
    return out


def robustness_summary(tables: Sequence[Pathish], accuracy: Pathish, summary: Pathish) -> None:
    """Every accuracy table in one (corruption, severity, model, layer, classifier, accuracy), and per
    model, layer and classifier the clean and mean corruption accuracy and the relative drop."""
    from layeratlas.robustness.evaluate import corruption_summary

    merged = pl.concat([pl.read_parquet(t) for t in tables], how="vertical")
    write_table(merged, accuracy)
    per_model = corruption_summary(merged)
    write_table(per_model, summary)
    log.info("mean corruption accuracy:\n%s", per_model)


def plot_accuracy_vs_severity(
    accuracy: Pathish, corruption: str, clean_dataset: str, figure: Pathish
) -> None:
    from layeratlas.plots.robustness import accuracy_vs_severity

    table = pl.read_parquet(accuracy)
    title = (
        f"Accuracy under {corruption} (classifiers fitted on clean {clean_dataset}; dashed: clean accuracy)"
    )
    plots.save_figure(accuracy_vs_severity(table, corruption, title), figure)


def feature_drift(
    model: str,
    layer: str,
    clean_features: Pathish,
    corrupted: Sequence[Mapping[str, Any]],
    table: Pathish,
) -> pl.DataFrame:
    """Per corrupted dataset: CKA and class-variance change between the clean and corrupted test
    features of one layer, rows paired by sample id."""
    from layeratlas.robustness.drift import feature_drift as drift
    from layeratlas.robustness.evaluate import check_corruption, pair_rows

    index = _index(clean_features)
    test = np.flatnonzero(index["split"].to_numpy().astype(str) == "test")
    clean_ids, labels = index["sample_id"].to_numpy()[test], index["label"].to_numpy()[test]
    x = _layer(clean_features, layer)
    rows = []
    for entry in corrupted:
        check_corruption(read_json(Path(entry["dataset_dir"]) / "dataset.json"), _corrupted(entry))
        c_index = _index(entry["features_dir"])
        c_test = np.flatnonzero(c_index["split"].to_numpy().astype(str) == "test")
        a, b = pair_rows(clean_ids, c_index["sample_id"].to_numpy()[c_test])
        if len(a) < 4:
            raise ValueError(
                f"dataset {entry['dataset']!r}: {len(a)} test images pair with the clean ones by sample id; "
                "CKA needs at least 4"
            )
        xc = _layer(entry["features_dir"], layer)
        row = drift(np.asarray(x[test[a]]), np.asarray(xc[c_test[b]]), labels[a])
        rows.append(
            {
                "dataset": entry["dataset"],
                "corruption": entry["corruption"],
                "severity": int(entry["severity"]),
                "model": model,
                "layer": layer,
                **row,
            }
        )
    out = pl.DataFrame(rows)
    write_table(out, table)
    log.info("%s / %s feature drift:\n%s", model, layer, out)
    return out


def plot_feature_drift(
    model: str, layers: Sequence[str], tables: Sequence[Pathish], table: Pathish, figure: Pathish
) -> None:
    from layeratlas.plots.robustness import drift_figure

    merged = pl.concat([pl.read_parquet(t) for t in tables], how="vertical")
    write_table(merged, table)
    title = f"Feature drift of {model}: clean versus corrupted test images, per layer"
    plots.save_figure(drift_figure(merged, layers, title), figure)


def pca_grid(
    original: str,
    finetuned: str,
    layer: str,
    clean_dataset: str,
    corrupted_dataset: str,
    features: Mapping[tuple[str, str], Pathish],
    dataset_dir: Pathish,
    figure: Pathish,
) -> None:
    """2 x 2 PCA: rows = (original, fine-tuned) model, columns = (clean, corrupted) test images. Each
    row's PCA is fitted on the clean features of its model and applied to the corrupted ones, so both
    panels of a row share one basis and one pair of axes."""
    from sklearn.decomposition import PCA

    from layeratlas.plots.robustness import pca_grid as grid
    from layeratlas.robustness.evaluate import pair_rows

    class_names = read_json(Path(dataset_dir) / "dataset.json")["class_names"]
    coords, labels = {}, {}
    for model in (original, finetuned):
        idx = {d: _index(features[(model, d)]) for d in (clean_dataset, corrupted_dataset)}
        tests = {d: np.flatnonzero(i["split"].to_numpy().astype(str) == "test") for d, i in idx.items()}
        a, b = pair_rows(
            idx[clean_dataset]["sample_id"].to_numpy()[tests[clean_dataset]],
            idx[corrupted_dataset]["sample_id"].to_numpy()[tests[corrupted_dataset]],
        )
        clean_x = np.asarray(
            _layer(features[(model, clean_dataset)], layer)[tests[clean_dataset][a]], np.float64
        )
        corr_rows = tests[corrupted_dataset][b]
        corr_x = np.asarray(_layer(features[(model, corrupted_dataset)], layer)[corr_rows], np.float64)
        pca = PCA(n_components=2, random_state=0).fit(clean_x)
        coords[(model, clean_dataset)] = pca.transform(clean_x)
        coords[(model, corrupted_dataset)] = pca.transform(corr_x)
        y = idx[clean_dataset]["label"].to_numpy()[tests[clean_dataset][a]]
        labels[(model, clean_dataset)] = labels[(model, corrupted_dataset)] = y
    title = f"PCA of {layer}: {original} vs {finetuned}, clean {clean_dataset} vs {corrupted_dataset} (test)"
    fig = grid(coords, labels, class_names, [original, finetuned], [clean_dataset, corrupted_dataset], title)
    plots.save_figure(fig, figure)
