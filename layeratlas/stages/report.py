"""What the report rules run (scripts/ call these): the atlas and depth profile of a dataset, the comparison
figures of a model pair at one layer, the dataset overview, the HTML tables and the front page."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from layeratlas.io import Pathish, read_json, write_json, write_table

# Figures (matplotlib), the front page and the tables are imported by the steps that use them: a job
# that renders tables or the front page does not pay for matplotlib's import (tests/test_imports.py).

log = logging.getLogger(__name__)


def _class_names(dataset_dir: Pathish) -> list[str]:
    return list(read_json(Path(dataset_dir) / "dataset.json")["class_names"])


def atlas(
    dataset: str,
    layers: Mapping[str, Sequence[str]],
    maps: Mapping[str, str],
    summary: Pathish,
    dataset_dir: Pathish,
    method: str,
    atlas_figure: Pathish,
    depth_figure: Pathish,
) -> None:
    """``maps``: "model/layer" -> embedding parquet of ``method``; ``summary``: the summary .parquet."""
    from layeratlas import plots
    from layeratlas.plots import atlas as atlas_plots
    from layeratlas.plots import layers as layer_plots
    from layeratlas.report import front_page

    rows = pl.read_parquet(summary).filter(pl.col("dataset") == dataset)
    accuracy = {}
    if "linear_probe_accuracy" in rows.columns:
        # with its interval where the summary has one (written "98.2% [96.5, 99.1]")
        ci = [
            c for c in ("linear_probe_accuracy_ci_low", "linear_probe_accuracy_ci_high") if c in rows.columns
        ]
        columns = ["linear_probe_accuracy", *ci] if len(ci) == 2 else ["linear_probe_accuracy"]
        accuracy = {
            (m, layer): (values[0] if len(values) == 1 else tuple(values))
            for m, layer, *values in rows.select("model", "layer", *columns).iter_rows()
        }
    tables_ = {tuple(key.split("/", 1)): pl.read_parquet(path) for key, path in maps.items()}
    name = front_page.EMBEDDING_NAMES.get(method, method)
    n = next(iter(tables_.values())).height if tables_ else 0
    fig = atlas_plots.atlas_grid(
        tables_,
        layers,
        _class_names(dataset_dir),
        accuracy,
        method=name,
        title=f"{name} of every model and layer on {dataset} (n={n}; corner: linear-probe test accuracy"
        + (" [95% interval])" if any(isinstance(v, tuple) for v in accuracy.values()) else ")"),
    )
    plots.save_figure(fig, atlas_figure, dpi=100)
    fig = layer_plots.depth_profile(
        rows, list(layers), title=f"Depth profile on {dataset}: every model overlaid"
    )
    plots.save_figure(fig, depth_figure)


def compare_pair(
    dataset: str,
    layer: str,
    names: Sequence[str],
    maps: Sequence[Pathish],
    intra: Sequence[Pathish],
    inter: Sequence[Pathish],
    dataset_dir: Pathish,
    method: str,
    maps_figure: Pathish,
    intra_figure: Pathish,
    inter_figure: Pathish,
) -> None:
    """The two models ``names`` at ``layer``: maps on shared axes, grouped intra bars, inter heatmaps."""
    from layeratlas import plots
    from layeratlas.plots import compare as compare_plots
    from layeratlas.report import front_page

    where = f"{layer} on {dataset}"
    name = front_page.EMBEDDING_NAMES.get(method, method)
    fig = compare_plots.maps_side_by_side(
        names,
        [pl.read_parquet(p) for p in maps],
        _class_names(dataset_dir),
        title=f"{name} at {where}, shared axes",
    )
    plots.save_figure(fig, maps_figure)
    fig = compare_plots.intra_grouped_bars(
        names,
        [pl.read_parquet(p) for p in intra],
        title=f"Intra-class variance per class at {where}\n(dashed: each model's mean; lower: more compact)",
    )
    plots.save_figure(fig, intra_figure)
    fig = compare_plots.inter_heatmaps(
        names, [pl.read_parquet(p) for p in inter], title=f"Inter-class variance at {where}, one colour scale"
    )
    plots.save_figure(fig, inter_figure)


def dataset_overview(
    dataset: str,
    dataset_dir: Pathish,
    counts: Pathish,
    page: Pathish,
    grid: Pathish,
    per_class: int = 8,
    many_per_class: int = 3,
) -> None:
    """Class counts per split (a table and its HTML page) and the first ``per_class`` images of every
    class (``many_per_class`` above ``plots.MANY_CLASSES`` classes, so that every class fits one page)."""
    from layeratlas import plots
    from layeratlas.data.datasets import load_dataset
    from layeratlas.report import tables

    ds = load_dataset(dataset_dir)
    index = ds.index()
    frame = (
        index.group_by("label", "class_name", "split")
        .len()
        .pivot(on="split", index=["label", "class_name"], values="len")
        .sort("label")
        .fill_null(0)
        .rename({"label": "class_id", "class_name": "class_name"})
    )
    splits = [s for s in ("train", "val", "test") if s in frame.columns]
    frame = frame.select("class_id", "class_name", *splits).with_columns(
        pl.sum_horizontal(splits).alias("total")
    )
    write_table(frame, counts)
    tables.write_table_html(
        Path(counts).with_suffix(".tsv"),
        page,
        f"{dataset}: images per class and split",
        note=f"{len(ds.labels):,} images",
    )
    from layeratlas.plots.classes import EXAMPLES_DPI, class_examples

    k = len(ds.class_names)
    per_class = per_class if not plots.many_classes(k) else many_per_class
    labels = np.asarray(ds.labels)
    examples = [ds.images[np.flatnonzero(labels == c)[:per_class]] for c in range(k)]
    fig = class_examples(
        examples, ds.class_names, f"{dataset}: the first {per_class} images of each of its {k} classes"
    )
    many = plots.many_classes(k)
    plots.save_figure(fig, grid, dpi=EXAMPLES_DPI if many else plots.DPI, palette=many)


def html_tables(sources: Sequence[Pathish], pages: Sequence[Pathish], titles: Sequence[str]) -> None:
    """Several tables' pages in one process (rules study_tables, comparisons): ``sources[i]`` ->
    ``pages[i]`` titled ``titles[i]``."""
    from layeratlas.report import tables

    if not len(sources) == len(pages) == len(titles):
        raise ValueError(f"{len(sources)} tables, {len(pages)} pages and {len(titles)} titles")
    for source, page, title in zip(sources, pages, titles, strict=True):
        tables.write_table_html(source, page, title)


def write_front_page(
    config: Mapping[str, Any],
    summary: Pathish,
    cka: Mapping[str, Pathish],
    figures: Mapping[str, Mapping[str, Pathish]],
    page: Pathish,
    findings_json: Pathish,
    explorers: Mapping[str, str] | None = None,
    comparisons: Pathish | None = None,
    training: Mapping[str, Pathish] | None = None,
    built: Sequence[str] = (),
) -> None:
    """The front page (HTML fragment embedded in the report's landing text) and its findings as JSON.
    ``comparisons``: results/summary/comparisons.parquet (the paired tests), when built; ``training``:
    model -> results/training/{model}/metrics.json of the trained models; ``built``: what the report's
    comparisons category holds ("tests", "pairs"), for the links."""
    from layeratlas.report import front_page

    frame = pl.read_parquet(summary)
    found = front_page.findings(
        frame,
        config,
        {d: pl.read_parquet(p) for d, p in cka.items()},
        pl.read_parquet(comparisons) if comparisons else None,
        {m: read_json(p) for m, p in (training or {}).items()},
    )
    write_json(found, findings_json)
    categories = front_page.front_page_categories(config, built, bool(explorers))
    text = front_page.render_front_page(config, found, figures, categories, explorers or {})
    front_page.write_front_page(text, page)
    for dataset, s in front_page.finding_sentences(found).items():
        log.info("%s: %s", dataset, " ".join([*s["models"], s["best"]]))
