"""The report's front page: the study in one paragraph and its findings as sentences with numbers, all
computed from the config and the summary table (results/summary/layers.parquet), never written by hand.

``findings`` returns plain dicts (also written as JSON beside the page); ``finding_sentences`` turns them
into sentences; ``render_front_page`` lays out the HTML that the report's landing text embeds.
"""

from __future__ import annotations

import base64
import html
import math
import os
import statistics
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from layeratlas.config import atlas_embedding, model_pairs
from layeratlas.data.datasets import OWN_TEST_SPLIT
from layeratlas.io import atomic_path
from layeratlas.models.sweeps import seed_groups

PROBE = "linear_probe_accuracy"  # the layer's linear separability (held-out test accuracy)
RATIO = "inter_to_intra_ratio"  # between-class over within-class variance of the features
NC1 = "nc1"  # within-class variability collapse (lower: more collapsed)

EMBEDDING_NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}


# --- the study ---------------------------------------------------------------------------------------


def _epochs(n: Any) -> str:
    return f"{n} epoch{'' if n == 1 else 's'}"


def model_origin(name: str, config: Mapping[str, Any]) -> str:
    """How model ``name`` was obtained, in words (trained from scratch, pretrained, fine-tuned from ...,
    a training run's snapshot after an epoch)."""
    spec = config["models"][name]
    arch, weights = spec["architecture"], str(spec.get("weights", "none"))
    train = spec.get("train") or {}
    source = {"none": "random", "imagenet": "ImageNet"}.get(weights, f"file {weights}")
    if snapshot := spec.get("snapshot_of"):
        data = snapshot.get("dataset")
        data = ", ".join(data) if isinstance(data, list) else data
        when = "before training" if snapshot["epoch"] == 0 else f"after epoch {snapshot['epoch']}"
        return f"{arch} with the weights of {snapshot['model']} {when} of its training on {data}"
    if not train:
        return f"{arch} with {source} weights as they are" if weights != "none" else f"{arch}, untrained"
    data = train.get("dataset")
    data = ", ".join(data) if isinstance(data, list) else data
    epochs = _epochs(train.get("epochs"))
    if train.get("sample_size"):  # the numbers rest on this many images, not the whole split
        epochs += f", on a seeded sample of {train['sample_size']:,} train images"
    if weights == "none":
        return f"{arch} trained from scratch on {data} ({epochs})"
    base = next((a for a, b in model_pairs(config) if b == name), None)
    what = f"fine-tuned from {source} weights" + (f" (those of {base})" if base else "")
    parts = [p for p in (train.get("trainable") or []) if p]
    trainable = f", training {', '.join(parts)}" + (" and a new head" if train.get("new_head") else "")
    return f"{arch} {what} on {data} ({epochs}{trainable if parts else ''})"


POOLED = {"avg", "max", "adaptive_avg", "adaptive_max"}


def reduction_words(value: Any) -> str:
    """A layer's reduction in words, '' for none: "global average pool", "adaptive_avg 2×2", "PCA to 64"."""
    spec = value if isinstance(value, Mapping) else {"reduction": value}
    kind = str(spec.get("reduction", "none"))
    if kind in ("avg", "max"):
        return f"global {'average' if kind == 'avg' else 'max'} pool"
    if kind.startswith("adaptive_"):
        return f"{kind} {spec['size']}×{spec['size']}"
    if kind == "channels":
        return f"{len(spec['channels'])} channels"
    if kind in ("random_projection", "pca"):
        return f"{'random projection' if kind == 'random_projection' else 'PCA'} to {spec['dim']}"
    return ""


def _reduction(value: Any) -> str:
    return str(value.get("reduction", "none")) if isinstance(value, Mapping) else str(value)


def shared_layers(config: Mapping[str, Any], a: str, b: str) -> list[str]:
    """The layers both models extract, in the order of ``b``."""
    layers_a = set(config["models"][a]["layers"])
    return [layer for layer in config["models"][b]["layers"] if layer in layers_a]


def study_paragraph(config: Mapping[str, Any]) -> str:
    """The study in one paragraph (plain text): datasets, models and how each was obtained, split, seed."""
    datasets = []
    for name, spec in config["datasets"].items():
        split = dict(spec.get("split") or {})
        own_test = spec["source"] in OWN_TEST_SPLIT  # its test images are the source's own test split
        if own_test:
            split.pop("test", None)
        fractions = "/".join(f"{k} {v:g}" for k, v in split.items())
        fractions += " of the train images, test = its own test images" if own_test and fractions else ""
        cap = f", at most {spec['max_per_class']} images per class" if spec.get("max_per_class") else ""
        datasets.append(f"{name} ({spec['source']}{cap}; split {fractions})" if fractions else name)
    models = []
    groups = seed_groups(config["models"])
    member_of = {m: group for group, members in groups.items() for m in members}
    for name, spec in config["models"].items():
        if name in member_of and name != groups[member_of[name]][0]:
            continue  # a model trained once per seed is described once, with its runs
        origin = model_origin(name, config)
        if (
            spec["architecture"] == name
        ):  # "small_cnn: trained from scratch", not "small_cnn: small_cnn trained"
            origin = origin.removeprefix(f"{name} ").removeprefix("with ")
        layers = [
            f"{layer} ({words})" if (words := reduction_words(value)) else layer
            for layer, value in spec["layers"].items()
        ]
        if name in member_of:
            members = groups[member_of[name]]
            seeds = ", ".join(str(config["models"][m]["sweep_group"]["value"]) for m in members)
            origin += f", trained {len(members)} times with train.seeds {seeds} (runs {', '.join(members)})"
            name = member_of[name]
        models.append(f"{name}: {origin}; layers {', '.join(layers)}")
    reductions = [_reduction(v) for spec in config["models"].values() for v in spec["layers"].values()]
    pooled = sorted({r for r in reductions if r in POOLED})
    fairness = (
        f" Some layers are pooled ({', '.join(pooled)}) and some are not: comparing a pooled layer with an "
        "unpooled one is unfair, since pooling discards where in the image a feature fires and changes "
        "how many values the probe sees."
        if pooled and "none" in reductions
        else ""
    )
    analyses = config.get("analyses", {})
    split = analyses.get("split", "test")
    where = "all images" if split == "all" else f"the {split} split"
    return (
        f"Dataset{'s' if len(datasets) > 1 else ''} {'; '.join(datasets)}. "
        f"{len(models)} model{'s' if len(models) > 1 else ''}: {'. '.join(models)}. "
        f"Every layer is analysed on {where} "
        f"({', '.join(_analyses(analyses))}); seed {config.get('seed', 0)}.{fairness}"
    )


def _analyses(analyses: Mapping[str, Any]) -> list[str]:
    """What each layer got, in words, from the analyses block (switches that are off are left out)."""
    on = lambda key: bool((analyses.get(key) or {}).get("enabled") if key == "probes" else analyses.get(key))  # noqa: E731
    names = [EMBEDDING_NAMES.get(e, e) for e in analyses.get("embeddings", [])]
    out = [f"{', '.join(names)} maps"] if names else []
    out += [w for key, w in (("variance", "class variances"), ("probes", "classifiers")) if on(key)]
    out += [
        w
        for key, w in (("cluster_quality", "cluster quality"), ("neural_collapse", "neural collapse"))
        if on(key)
    ]
    return out or ["no per-layer analysis"]


# --- the findings ------------------------------------------------------------------------------------

ALPHA = 0.05  # two cells differ only where a paired test (after its correction) gives p below this


def _value(row: Mapping[str, Any], column: str) -> float | None:
    v = row.get(column)
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _interval(row: Mapping[str, Any], column: str) -> list[float] | None:
    """The summary's ``<column>_ci_low/_ci_high``; for an accuracy without them, Wilson from n_test."""
    low, high = _value(row, f"{column}_ci_low"), _value(row, f"{column}_ci_high")
    if low is not None and high is not None:
        return [low, high]
    value, n = _value(row, column), _value(row, "n_test")
    if column.endswith("_accuracy") and value is not None and n:
        from layeratlas.analysis.stats import wilson_interval  # scipy: not at import (report.smk reads us)

        correct = _value(row, "linear_probe_correct") if column == PROBE else None
        return list(wilson_interval(round(value * n) if correct is None else int(correct), int(n)))
    return None


def _cell(row: Mapping[str, Any], column: str) -> dict[str, Any]:
    return {
        "model": row["model"],
        "layer": row["layer"],
        "value": _value(row, column),
        "ci": _interval(row, column),
    }


def _test(t: Mapping[str, Any]) -> dict[str, Any]:
    """The numbers of one paired test that the page prints and findings.json keeps."""
    p = t.get("p_adjusted")
    p = t["p_value"] if p is None or (isinstance(p, float) and math.isnan(p)) else p
    return {
        "a_only": int(t["a_only"]),
        "b_only": int(t["b_only"]),
        "n": None if t.get("n") is None else int(t["n"]),
        "p_value": float(t["p_value"]),
        "p_adjusted": float(p),
        "correction": t.get("correction") or "none",
        "differ": float(p) < ALPHA,
    }


def _tests(comparisons: pl.DataFrame | None, dataset: str, kind: str) -> list[dict[str, Any]]:
    if comparisons is None or comparisons.height == 0:
        return []
    part = comparisons
    if "dataset" in part.columns:
        part = part.filter(pl.col("dataset") == dataset)
    return part.filter(pl.col("kind") == kind).to_dicts()


def _ranked(cells: list[dict[str, Any]], tests: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Split ``cells`` (scored by one metric) into ``top``: the top cell and every cell no paired test in
    ``tests`` separates from it, and ``lower``: the cells a test does separate. Each cell in ``tests``
    (``model_b``/``layer_b`` against the top ``model_a``/``layer_a``) carries its test. Without tests,
    ``tested`` is False and only exact ties join the top."""
    cells = [c for c in cells if c["value"] is not None]
    if not cells:
        return None
    key = lambda c: (c["model"], c["layer"])  # noqa: E731
    by_key = {key(c): c for c in cells}
    top_key = (tests[0]["model_a"], tests[0]["layer_a"]) if tests else None
    if top_key not in by_key:  # no test, or one about cells this summary lacks
        best = max(c["value"] for c in cells)
        top = [c for c in cells if c["value"] == best]
        return {"tested": False, "top": top, "lower": [c for c in cells if c["value"] != best]}
    against = {(t["model_b"], t["layer_b"]): _test(t) for t in tests}
    top, lower, untested = [by_key[top_key]], [], []
    for c in cells:
        if key(c) == top_key:
            continue
        if key(c) not in against:
            untested.append(c)
            continue
        c = c | {"test": against[key(c)]}
        (lower if c["test"]["differ"] else top).append(c)
    return {
        "tested": True,
        "correction": tests[0].get("correction") or "none",
        "n": None if tests[0].get("n") is None else int(tests[0]["n"]),
        "top": top,
        "lower": lower,
        "untested": untested,
    }


def _at_chance(
    mine: Sequence[Mapping[str, Any]], chance: float | None, training: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """Why a model is at chance, or None: its training ended at chance (the test accuracy's Wilson interval
    includes ``chance``), or the linear probe's interval includes chance at every layer."""
    if chance is None:
        return None
    if training and training.get("test_accuracy") is not None:
        n = training.get("n_test") or next((int(r["n_test"]) for r in mine if r.get("n_test")), None)
        accuracy = float(training["test_accuracy"])
        if n and not math.isnan(accuracy):
            from layeratlas.analysis.stats import wilson_interval

            ci = list(wilson_interval(round(accuracy * n), int(n)))
            if ci[0] <= chance:
                return {
                    "why": "training",
                    "accuracy": accuracy,
                    "ci": ci,
                    "loss": training.get("test_loss"),
                }
    cells = [_cell(r, PROBE) for r in mine]
    if cells and all(c["ci"] is not None and c["ci"][0] <= chance for c in cells):
        return {"why": "probe", "cells": cells}
    return None


def _cka(cka: pl.DataFrame | None, a: str, b: str, layer: str) -> tuple[float | None, list[float] | None]:
    """CKA between ``a`` and ``b`` at ``layer`` and its bootstrap interval (None where not computed)."""
    if cka is None:
        return None, None
    hit = cka.filter(
        (pl.col("model_a") == a)
        & (pl.col("layer_a") == layer)
        & (pl.col("model_b") == b)
        & (pl.col("layer_b") == layer)
    )
    if not hit.height:
        return None, None
    row = hit.row(0, named=True)
    low, high = _value(row, "cka_ci_low"), _value(row, "cka_ci_high")
    return _value(row, "cka"), None if low is None or high is None else [low, high]


def _first(rows: Sequence[Mapping[str, Any]], column: str) -> float | None:
    return next((v for r in rows if (v := _value(r, column)) is not None), None)


def _seed_cell(
    group: str, layer: str, runs: Sequence[Mapping[str, Any]], column: str
) -> dict[str, Any] | None:
    """One layer of a model trained once per seed, as one cell: ``value`` the mean over its runs, ``range``
    [min, max] across them, ``runs`` each run's value and interval (None where a run lacks the metric)."""
    cells = [_cell(r, column) | {"model": r["model"]} for r in runs]
    values = [c["value"] for c in cells]
    if not values or any(v is None for v in values):
        return None
    return {
        "model": group,
        "layer": layer,
        "value": statistics.fmean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else None,
        "range": [min(values), max(values)],
        "ci": None,
        "runs": [{"model": c["model"], "value": c["value"], "ci": c["ci"]} for c in cells],
    }


def _seeded(
    group: str,
    members: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    within: Sequence[Mapping[str, Any]],
    chance: float | None,
    training: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """One model trained once per seed (``train.seeds``) as one entry of ``per_model``.

    Per layer the mean linear-probe accuracy over the runs, its range and each run's Wilson interval.
    The top layer is the one with the highest mean. Another layer is *lower* only where both say so:
    every run's paired test separates it from that run's top layer while the top layer is not separated
    from it (the run's own ranking agrees), and its range across runs lies wholly below the top layer's
    (the seed spread separates them; with three runs each, the chance of that by luck alone is 1 in 20).
    Every other layer stays in the top set, with why: the runs disagree, or the ranges overlap."""
    mine = {m: [r for r in rows if r["model"] == m] for m in members}
    runs = [m for m in members if mine[m]]
    per_run = {
        m: _ranked(
            [_cell(r, PROBE) for r in mine[m]],
            [t for t in within if t["model_a"] == m and t["model_b"] == m],
        )
        for m in runs
    }
    at_chance = None
    for m in runs:
        if why := _at_chance(mine[m], chance, training.get(m)):
            at_chance = why | {"run": m}
            break
    layers = [r["layer"] for r in mine[runs[0]]] if runs else []
    layers = [la for la in layers if all(any(r["layer"] == la for r in mine[m]) for m in runs)]
    by_layer = {la: [next(r for r in mine[m] if r["layer"] == la) for m in runs] for la in layers}
    cells = [c for la in layers if (c := _seed_cell(group, la, by_layer[la], PROBE))]
    probe = None
    if cells:
        for c in cells:  # in how many runs the layer scored highest
            c["top_in"] = sum(
                run["value"] == max(x["runs"][i]["value"] for x in cells) for i, run in enumerate(c["runs"])
            )
        top = max(cells, key=lambda c: (c["value"], -cells.index(c)))
        tested = all(per_run[m] and per_run[m]["tested"] for m in runs)
        first = per_run[runs[0]] or {}
        probe = {
            "tested": tested,
            "correction": str(first.get("correction", "none")).replace(runs[0], group),
            "n": first.get("n"),
            "top": [top],
            "lower": [],
            "untested": [],
        }
        for c in cells:
            if c is top:
                continue
            tests, agree = [], True
            for m in runs:
                split = per_run[m] or {"top": [], "lower": []}
                lower = {x["layer"]: x for x in split["lower"]}
                agree &= c["layer"] in lower and any(x["layer"] == top["layer"] for x in split["top"])
                if c["layer"] in lower:
                    tests.append(lower[c["layer"]]["test"] | {"run": m})
            apart = c["range"][1] < top["range"][0]
            c = c | {"tests": tests, "runs_separate": agree, "ranges_apart": apart}
            (probe["lower"] if tested and agree and apart else probe["top"]).append(c)
        if not tested:  # no tests: only the seed spread; no layer is named best (as for one run)
            probe["lower"] = [c for c in probe["top"][1:] if c["ranges_apart"]]
            probe["top"] = [c for c in probe["top"] if c not in probe["lower"]]
    ratio_cells = [c for la in layers if (c := _seed_cell(group, la, by_layer[la], RATIO))]
    peak = max((c["value"] for c in ratio_cells), default=None)
    ratio = [c for c in ratio_cells if c["value"] == peak]
    top_layers = {c["layer"] for c in probe["top"]} if probe else set()
    return {
        "model": group,
        "runs": runs,
        "layers": len(layers),
        "at_chance": at_chance,
        "probe": probe,
        "ratio": ratio or None,
        "agree": None if not (probe and ratio) else any(c["layer"] in top_layers for c in ratio),
    }


def _overall_with_seeds(
    best: dict[str, Any] | None, per_model: Sequence[Mapping[str, Any]], member_of: Mapping[str, str]
) -> dict[str, Any] | None:
    """The overall split of run cells (``_ranked`` over model_vs_model tests) read at the level of models:
    a seeded model's layer is in the top set where any of its runs is, lower where all its runs are; a
    layer of another model is also kept in the top set where it reaches into the range of the lead cell's
    model across its runs (the seed spread does not separate them)."""
    if not best or not any(c["model"] in member_of for c in best["top"] + best["lower"]):
        return best
    seeded = {e["model"]: e for e in per_model if e.get("runs") and e["probe"]}

    def as_model(c: Mapping[str, Any]) -> dict[str, Any]:
        group = member_of.get(c["model"])
        if group is None or group not in seeded:
            return dict(c)
        probe = seeded[group]["probe"]
        layer_cell = next((x for x in probe["top"] + probe["lower"] if x["layer"] == c["layer"]), None)
        if layer_cell is None:  # a layer some run lacks: that run's cell, named by its model
            layer_cell = dict(c) | {"model": group}
        test = c.get("test")  # a test between two runs of one model says nothing about the model: dropped
        same_model = member_of.get(best["top"][0]["model"]) == group
        return layer_cell | ({"test": test} if test is not None and not same_model else {})

    def low(c: Mapping[str, Any]) -> float:
        return c["range"][0] if c.get("range") else c["value"]

    def high(c: Mapping[str, Any]) -> float:
        return c["range"][1] if c.get("range") else c["value"]

    top, lower, seen = [], [], set()
    for c in best["top"]:
        c = as_model(c)
        if (c["model"], c["layer"]) not in seen:
            seen.add((c["model"], c["layer"]))
            top.append(c)
    for c in list(top):  # a seeded model brings every layer its own runs do not separate from its top
        if c["model"] in seeded:
            for x in seeded[c["model"]]["probe"]["top"]:
                if (x["model"], x["layer"]) not in seen:
                    seen.add((x["model"], x["layer"]))
                    top.append(x)
    lead = top[0]["model"]
    for c in best["lower"]:
        c = as_model(c)
        if (c["model"], c["layer"]) in seen or c["model"] == lead:  # the lead's own layers: its sentence
            continue
        seen.add((c["model"], c["layer"]))
        if high(c) >= low(top[0]):  # within the lead's seed range: the spread does not separate them
            top.append(c | {"spread": True})
        else:
            lower.append(c)
    return best | {"top": top, "lower": lower}


def _pairs_with_seeds(pairs: list[dict[str, Any]], member_of: Mapping[str, str]) -> list[dict[str, Any]]:
    """A pair one of whose models was trained once per seed (reference -> each run, or each run -> the
    other) as one pair of models: ``runs`` the run pairs as computed, ``layers`` per shared layer the
    means over the runs and whether every run's test agrees (``changed``: every run's McNemar test finds a
    change in the same direction; ``ratio_changed``: every run's interval of the ratio's change excludes
    0 on the same side)."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for p in pairs:
        key = (member_of.get(p["reference"], p["reference"]), member_of.get(p["other"], p["other"]))
        grouped.setdefault(key, []).append(p)
    out = []
    for (a, b), runs in grouped.items():
        if len(runs) == 1 and (runs[0]["reference"], runs[0]["other"]) == (a, b):
            out += runs
            continue
        shared = [
            c["layer"]
            for c in runs[0]["layers"]
            if all(any(x["layer"] == c["layer"] for x in r["layers"]) for r in runs)
        ]
        layers = []
        for layer in shared:
            each = [next(x for x in r["layers"] if x["layer"] == layer) for r in runs]
            mean = lambda key, i, each=each: (  # noqa: E731
                None if any(c[key][i] is None for c in each) else statistics.fmean(c[key][i] for c in each)
            )
            tests = [c["test"] for c in each]
            signs = {(t["b_only"] > t["a_only"]) - (t["b_only"] < t["a_only"]) for t in tests if t}
            cis = [c.get("ratio_change_ci") for c in each]
            sides = {(lo > 0) - (hi < 0) for lo, hi in (ci for ci in cis if ci)}
            ckas = [c["cka"] for c in each]
            layers.append(
                {
                    "layer": layer,
                    **{key: [mean(key, 0), mean(key, 1)] for key in ("probe", "ratio", "nc1")},
                    "tests": tests,
                    "tested": all(t is not None for t in tests),
                    "changed": all(t is not None and t["differ"] for t in tests) and len(signs) == 1,
                    "changed_in": sum(bool(t and t["differ"]) for t in tests),
                    "ratio_changes": [c.get("ratio_change") for c in each],
                    "ratio_changed": all(cis) and len(sides) == 1 and 0 not in sides,
                    "cka_range": None if None in ckas else [min(ckas), max(ckas)],
                    "unchanged": all(_unchanged(c) for c in each),
                    "runs": each,
                }
            )
        names = [f"{r['reference']} → {r['other']}" for r in runs]
        out.append({"reference": a, "other": b, "runs": names, "per_run": runs, "layers": layers})
    return out


def findings(
    summary: pl.DataFrame,
    config: Mapping[str, Any],
    cka: Mapping[str, pl.DataFrame] | None = None,
    comparisons: pl.DataFrame | None = None,
    training: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """What the summary table and the paired tests support, per dataset.

    ``summary``: results/summary/layers.parquet (metrics with ``_ci_low``/``_ci_high``, n_test,
    chance_accuracy); ``comparisons``: results/summary/comparisons.parquet (exact McNemar tests on
    linear-probe correctness: ``layer_vs_top``, ``pair``, ``model_vs_model``); ``training``: model ->
    results/training/{model}/metrics.json; ``cka[dataset]``: results/analysis/{dataset}/cka.parquet.

    Per model: whether it is at chance (then nothing else is concluded for it), the top set by linear-probe
    accuracy (the top layer and every layer no test separates from it at ``ALPHA``), the layers a test puts
    lower, and where the inter/intra ratio peaks. Overall: the same split over every model's top layer.
    Per model pair (``model_pairs``): the change at every shared layer with its test. Missing metrics
    are None; without tests, ``tested`` is False and only exact ties count as equal.

    A model trained once per seed (``train.seeds``: members ``<name>-seed<k>``) is one entry with ``runs``
    (:func:`_seeded`), one cell in the overall best (:func:`_overall_with_seeds`) and one pair
    (:func:`_pairs_with_seeds`): it claims only what every run and the spread between the runs support.
    """
    if "model" not in summary.columns or "layer" not in summary.columns:
        raise ValueError(f"the summary table needs columns model and layer, it has {summary.columns}")
    if "dataset" not in summary.columns:
        summary = summary.with_columns(pl.lit("data").alias("dataset"))
    pairs = model_pairs(config)
    groups = seed_groups(config["models"])
    member_of = {m: group for group, members in groups.items() for m in members}
    out: dict[str, Any] = {"alpha": ALPHA, "datasets": {}}
    for dataset in dict.fromkeys(summary["dataset"].to_list()):
        rows = summary.filter(pl.col("dataset") == dataset).to_dicts()
        chance = _first(rows, "chance_accuracy")
        within = _tests(comparisons, dataset, "layer_vs_top")
        per_model = []
        for model in dict.fromkeys(r["model"] for r in rows):
            if model in member_of:  # a model trained once per seed reads as one model
                group = member_of[model]
                if not any(e["model"] == group for e in per_model):
                    members = [m for m in groups[group] if any(r["model"] == m for r in rows)]
                    per_model.append(_seeded(group, members, rows, within, chance, training or {}))
                continue
            mine = [r for r in rows if r["model"] == model]
            probe = _ranked(
                [_cell(r, PROBE) for r in mine],
                [t for t in within if t["model_a"] == model and t["model_b"] == model],
            )
            ratio_cells = [c for c in (_cell(r, RATIO) for r in mine) if c["value"] is not None]
            peak = max((c["value"] for c in ratio_cells), default=None)
            ratio = [c for c in ratio_cells if c["value"] == peak]
            top_layers = {c["layer"] for c in probe["top"]} if probe else set()
            per_model.append(
                {
                    "model": model,
                    "layers": len(mine),
                    "at_chance": _at_chance(mine, chance, (training or {}).get(model)),
                    "probe": probe,
                    "ratio": ratio or None,
                    # the ratio peaks at a layer the probe cannot tell from its top (None: not both known)
                    "agree": None if not (probe and ratio) else any(c["layer"] in top_layers for c in ratio),
                }
            )
        per_model.sort(key=lambda e: e["at_chance"] is None)  # a model at chance is said so first
        best = _ranked([_cell(r, PROBE) for r in rows], _tests(comparisons, dataset, "model_vs_model"))
        if best and best["tested"]:
            # a model whose top layer ties the overall top brings every layer tied with its own top
            # (tested against their own model's top layer: that test is kept only where it is the overall top)
            ties = {e["model"]: e["probe"]["top"][1:] for e in per_model if e["probe"]}
            lead = best["top"][0]["model"]
            best["top"] = [
                x if x is c or c["model"] == lead else {k: v for k, v in x.items() if k != "test"}
                for c in best["top"]
                for x in (c, *ties.get(c["model"], []))
            ]
        best = _overall_with_seeds(best, per_model, member_of)
        lookup = {(r["model"], r["layer"]): r for r in rows}
        pair_tests = {
            (t["model_a"], t["model_b"], t["layer_a"]): _test(t) for t in _tests(comparisons, dataset, "pair")
        }
        pair_rows = {
            (t["model_a"], t["model_b"], t["layer_a"]): t for t in _tests(comparisons, dataset, "pair")
        }
        pair_out = []
        for a, b in pairs:
            layers = [
                layer
                for layer in shared_layers(config, a, b)
                if (a, layer) in lookup and (b, layer) in lookup
            ]
            if not layers:
                continue
            changes = []
            for layer in layers:
                ra, rb = lookup[(a, layer)], lookup[(b, layer)]
                t = pair_rows.get((a, b, layer), {})
                low, high = _value(t, "ratio_change_ci_low"), _value(t, "ratio_change_ci_high")
                changes.append(
                    {
                        "layer": layer,
                        **{
                            key: [_value(ra, col), _value(rb, col)]
                            for key, col in (("probe", PROBE), ("ratio", RATIO), ("nc1", NC1))
                        },
                        "probe_ci": [_interval(ra, PROBE), _interval(rb, PROBE)],
                        "ratio_ci": [_interval(ra, RATIO), _interval(rb, RATIO)],
                        "test": pair_tests.get((a, b, layer)),
                        "ratio_change": _value(t, "ratio_change"),
                        "ratio_change_ci": None if low is None or high is None else [low, high],
                        **dict(
                            zip(("cka", "cka_ci"), _cka((cka or {}).get(dataset), a, b, layer), strict=True)
                        ),
                    }
                )
            pair_out.append({"reference": a, "other": b, "layers": changes})
        pair_out = _pairs_with_seeds(pair_out, member_of)
        out["datasets"][dataset] = {
            "chance_accuracy": chance,
            "n_test": _first(rows, "n_test"),
            "per_model": per_model,
            "best": best,
            "models": len(per_model),
            "pairs": pair_out,
        }
    return out


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _num(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def _ci(ci: Sequence[float] | None, percent: bool = True) -> str:
    """`` [96.5, 99.1]``: the 95% interval after a value ('' where there is none)."""
    if ci is None:
        return ""
    f = (lambda v: f"{100 * v:.1f}") if percent else _num
    return f" [{f(ci[0])}, {f(ci[1])}]"


def _acc(cell: Mapping[str, Any]) -> str:
    """An accuracy with its Wilson interval: ``98.2% [96.5, 99.1]``; of a model trained once per seed,
    the mean over its runs and their range: ``mean 95.9%, range 94.4–97.8% across 3 runs``."""
    if cell.get("range"):
        return f"mean {_pct(cell['value'])}, range {_range(cell)} across {len(cell['runs'])} runs"
    return _pct(cell["value"]) + _ci(cell.get("ci"))


def _p(p: float) -> str:
    if p < 0.001:
        return "p < 0.001"
    if p >= 0.995:
        return "p = 1.0"
    return f"p = {p:.1g}" if p < 0.01 else f"p = {p:.2f}"


def _discordant(test: Mapping[str, Any]) -> str:
    """``2 vs 2 images differ, p = 1.0``: the two discordant counts of a McNemar test and its p."""
    return f"{test['a_only']} vs {test['b_only']} images differ, {_p(test['p_adjusted'])}"


def _names(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _how(ranked: Mapping[str, Any]) -> str:
    n = f" {ranked['n']:,}" if ranked.get("n") else ""
    correction = ranked["correction"]
    return f"exact McNemar on the same{n} test images, " + (
        "no correction" if correction == "none" else f"p corrected: {correction}"
    )


def _chance_sentence(entry: Mapping[str, Any], dataset: str, chance: float) -> str:
    model, why = entry["model"], entry["at_chance"]
    if why["why"] == "training":
        loss = "" if why.get("loss") is None else f", test loss {why['loss']:.3f}"
        return (
            f"{model} did not learn: its training ended at chance (test accuracy "
            f"{_pct(why['accuracy'])}{_ci(why['ci'])}, chance {_pct(chance)}{loss}). "
            "No layer conclusions are drawn for it."
        )
    cells = ", ".join(f"{c['layer']} {_acc(c)}" for c in why["cells"])
    return (
        f"{model}'s features are at chance on {dataset}: at every layer the linear-probe interval includes "
        f"chance ({_pct(chance)}): {cells}. No layer conclusions are drawn for it."
    )


def model_sentence(entry: Mapping[str, Any], dataset: str, chance: float | None = None) -> str:
    """What the tests support about one model's layers, in words (its at-chance warning instead, if any)."""
    model, probe, ratio = entry["model"], entry["probe"], entry["ratio"]
    if entry.get("at_chance"):
        return _chance_sentence(entry, dataset, chance if chance is not None else float("nan"))
    ratio_text = (
        "n/a"
        if not ratio
        else " and ".join(f"{c['layer']} ({_num(c['value'])}{_ci(c['ci'], False)})" for c in ratio)
    )
    if entry["layers"] == 1:
        layer = (probe or {"top": [{"layer": "its layer"}]})["top"][0]["layer"]
        acc = _acc(probe["top"][0]) if probe else "n/a"
        ratio_value = _num(ratio[0]["value"]) + _ci(ratio[0]["ci"], False) if ratio else "n/a"
        return (
            f"{model} has one analysed layer ({layer}): linear probe {acc}, inter/intra ratio {ratio_value}."
        )
    parts = []
    if probe:
        top, lower = probe["top"], probe["lower"]
        accs = _names([_acc(c) for c in top])
        if not probe["tested"]:
            tie = "equally (the same accuracy)" if len(top) > 1 else ""
            text = (
                f"{model} scores highest on {dataset} at {_names([c['layer'] for c in top])} {tie}by "
                f"linear-probe accuracy ({accs}); no paired test was available, so no layer is named best"
            ).replace("  ", " ")
            if lower:
                text += f" (the others: {', '.join(c['layer'] + ' ' + _acc(c) for c in lower)})"
        elif len(top) > 1:
            first = top[0]["layer"]
            tests = "; ".join(f"{c['layer']} vs {first}: {_discordant(c['test'])}" for c in top[1:])
            text = (
                f"{model}: {_names([c['layer'] for c in top])} separate the classes of {dataset} equally "
                f"well by linear-probe accuracy ({accs}; {tests})"
            )
        else:
            text = (
                f"{model} separates the classes of {dataset} best at {top[0]['layer']} "
                f"by linear-probe accuracy ({accs})"
            )
        if probe["tested"]:
            if lower:
                name = (lambda c: "") if len(lower) == 1 else (lambda c: f"{c['layer']} ")  # noqa: E731
                each = "; ".join(f"{name(c)}{_acc(c)}, {_discordant(c['test'])}" for c in lower)
                names = _names([c["layer"] for c in lower])
                text += f"; {names} {'is' if len(lower) == 1 else 'are'} lower ({each})"
            if probe.get("untested"):
                text += f"; not tested: {', '.join(c['layer'] for c in probe['untested'])}"
        parts.append(text)
    if ratio:
        peak = ratio_text
        if probe and entry["agree"]:
            best = "is best" if probe["tested"] else "scores highest"
            where = "among those layers" if len(probe["top"]) > 1 else f"where the probe {best} too"
            parts.append(f"the inter/intra-class variance ratio peaks at {peak}, {where}")
        elif probe and probe["tested"]:
            parts.append(
                f"the inter/intra-class variance ratio peaks at {peak}, where the probe is lower: the "
                "classes are most compact and apart there, yet a linear classifier separates them better at "
                f"{_names([c['layer'] for c in probe['top']])}"
            )
        else:
            whose = "the" if probe else f"{model}'s"
            parts.append(f"{whose} inter/intra-class variance ratio peaks at {peak}")
    if not parts:
        return f"{model}: no separability metric was computed."
    how = f" Tests: {_how(probe)}." if probe and probe["tested"] else ""
    return "; ".join(parts) + "." + how


def _chance_note(why: Mapping[str, Any]) -> str:
    """What a cell of a model at chance (``findings``' ``at_chance``) means where the overall ranking names
    it: its layers are still measured by the probe, but its own conclusions were withheld above."""
    if why["why"] == "training":
        return (
            "its model's training ended at chance (above): the probe measures this layer's features, not "
            "what that training taught"
        )
    return "its model's features are at chance (above)"


def best_sentence(
    best: Mapping[str, Any] | None,
    dataset: str,
    models: int,
    at_chance: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """The overall best (model, layer) cells: named only where a test supports them. ``at_chance``: model ->
    why it is at chance (``findings``' per-model ``at_chance``); a cell of such a model says so."""
    if not best:
        return f"No linear-probe accuracy was computed on {dataset} (analyses.probes is off)."
    notes = {m: f"; {_chance_note(why)}" for m, why in (at_chance or {}).items() if why}
    top = best["top"]
    cells = ", ".join(f"{c['model']} at {c['layer']} ({_acc(c)}{notes.get(c['model'], '')})" for c in top)
    if models == 1:
        return f"One model on {dataset}, so its best layers above are the best overall."
    if not best["tested"]:
        what = "equally " if len(top) > 1 else ""
        return (
            f"Highest linear-probe accuracy overall on {dataset} {what}at {cells}; no paired test across "
            "models was available, so no best overall is named."
        )
    tested = [c for c in top if c.get("test")]
    tests = "; ".join(
        f"{c['model']} at {c['layer']}: "
        + (
            f"{_discordant(c['test'])} against one run, but within the range of the top model's runs"
            if c.get("spread")
            else _discordant(c["test"])
        )
        for c in tested
    )
    lower = ", ".join(
        f"{c['model']} at {c['layer']} ({_acc(c)}; {_discordant(c['test'])}{notes.get(c['model'], '')})"
        for c in best["lower"]
    )
    lower = f" Lower: {lower}." if lower else ""
    how = f" Tests: {_how(best)}."
    if any(c.get("range") for c in top + best["lower"]):
        how += (
            " A model trained once per seed counts as one: tested run by run, and lower only where it also "
            "lies below the range of the top model's runs."
        )
    if len({c["model"] for c in top}) == 1:  # one model's top layers (tied among themselves) beat the rest
        return f"Best overall on {dataset}: {cells}; every other model's best layer is lower.{lower}{how}"
    pairs = f"; against the top, {tests}" if tests else ""
    return f"No single best overall on {dataset}: the tests do not separate {cells}{pairs}.{lower}{how}"


def _unchanged(change: Mapping[str, Any]) -> bool:
    """The two models' features at this layer are the same (a frozen layer): CKA 1 and equal metrics."""
    same = all(
        v[0] is not None and v[1] is not None and math.isclose(v[0], v[1], rel_tol=1e-6, abs_tol=1e-9)
        for v in (change["probe"], change["ratio"])
    )
    return same and change["cka"] is not None and change["cka"] > 0.9995


def _change(before: float | None, after: float | None, percent: bool = False) -> str:
    if before is None or after is None:
        return "n/a"
    if percent:
        return f"{_pct(before)} → {_pct(after)} ({100 * (after - before):+.1f} points)"
    return f"{_num(before)} → {_num(after)}" + (f" (×{after / before:.2f})" if before > 0 else "")


def _cka_ci(change: Mapping[str, Any]) -> str:
    """`` [0.912, 0.947]``: the CKA's bootstrap interval, '' where there is none."""
    ci = change.get("cka_ci")
    return "" if not ci else f" [{ci[0]:.3f}, {ci[1]:.3f}]"


def pair_sentences(pair: Mapping[str, Any]) -> list[str]:
    """One sentence per shared layer: what changed from the reference model to the other one, and what
    did not, each with its test (probe: exact McNemar; ratio: the bootstrap interval of its change). A
    pair with a model trained once per seed: :func:`seeded_pair_sentences`."""
    if pair.get("runs"):
        return seeded_pair_sentences(pair)
    a, b = pair["reference"], pair["other"]
    out = []
    for c in pair["layers"]:
        ci_a, ci_b = c.get("probe_ci") or [None, None]
        if _unchanged(c):
            out.append(
                f"At {c['layer']}, {b} has the features of {a} (CKA {c['cka']:.3f}{_cka_ci(c)}; linear probe "
                f"{_pct(c['probe'][0])}{_ci(ci_a)}, inter/intra ratio {_num(c['ratio'][0])} in both): "
                "training did not change this layer (it lies below the trained modules)."
            )
            continue
        probe = f"{_pct(c['probe'][0])}{_ci(ci_a)} → {_pct(c['probe'][1])}{_ci(ci_b)}"
        if None not in c["probe"]:
            probe += f", {100 * (c['probe'][1] - c['probe'][0]):+.1f} points"
        test = c.get("test")
        if test is None:
            bits = [f"linear probe {probe} (no paired test)"]
        else:
            verdict = "changed" if test["differ"] else "did not change detectably"
            tail = f"; correction: {test['correction']}" if test["correction"] != "none" else ""
            bits = [
                f"the linear probe {verdict}: {probe} ({test['a_only']} images only {a} gets right, "
                f"{test['b_only']} only {b}; {_p(test['p_adjusted'])}{tail})"
            ]
        ratio = _change(*c["ratio"])
        if c.get("ratio_change_ci"):
            low, high = c["ratio_change_ci"]
            verdict = "changed" if low > 0 or high < 0 else "did not change detectably"
            bits.append(
                f"the inter/intra ratio {verdict}: {_num(c['ratio'][0])} → {_num(c['ratio'][1])}, "
                f"change {c['ratio_change']:+.3g} [{low:+.3g}, {high:+.3g}]"
            )
        else:
            bits.append(f"inter/intra ratio {ratio}")
        if c["nc1"][0] is not None or c["nc1"][1] is not None:
            bits.append(f"NC1 {_change(*c['nc1'])}")
        if c["cka"] is not None:
            bits.append(f"CKA between the two {c['cka']:.3f}{_cka_ci(c)}")
        out.append(f"At {c['layer']}, {a} → {b}: " + "; ".join(bits) + ".")
    return out


def _range(c: Mapping[str, Any]) -> str:
    """``88.9–97.8%``: a seeded cell's accuracy range across its runs."""
    low, high = c["range"]
    return f"{100 * low:.1f}–{100 * high:.1f}%"


def _seed_acc(c: Mapping[str, Any], intervals: bool = False) -> str:
    """``pool1 94.8% (range 88.9–97.8% across 3 runs)``: a seeded layer's mean accuracy and its range;
    ``intervals`` adds each run's 95% interval."""
    each = ", ".join(_ci(r["ci"]).strip() or "n/a" for r in c["runs"]) if intervals else ""
    each = f"; each run's interval {each}" if each else ""
    return f"{c['layer']} {_pct(c['value'])} (range {_range(c)} across {len(c['runs'])} runs{each})"


def _run_tests(tests: Sequence[Mapping[str, Any]]) -> str:
    """Each run's test of one layer against that run's top: once when every run gives the same numbers."""
    texts = [_discordant(t) for t in tests]
    if len(set(texts)) == 1:
        return f"{texts[0]} in each run"
    return "; ".join(f"{t['run']}: {text}" for t, text in zip(tests, texts, strict=True))


def seeded_sentence(entry: Mapping[str, Any], dataset: str, chance: float | None = None) -> str:
    """A model trained once per seed, as one model: the mean linear-probe accuracy over its runs with their
    range, a best layer only where every run's test and the spread between the runs support it."""
    runs = entry["runs"]
    head = f"{entry['model']} (trained {len(runs)} times, train.seeds: {', '.join(runs)})"
    if why := entry.get("at_chance"):
        inner = _chance_sentence({"model": why["run"], "at_chance": why}, dataset, chance or float("nan"))
        inner = inner.replace("No layer conclusions are drawn for it.", "")
        return f"{head}: its run {inner}No layer conclusions are drawn for {entry['model']}."
    probe, ratio = entry["probe"], entry["ratio"]
    if not probe:
        return f"{head}: no linear-probe accuracy was computed."
    top, lower, n = probe["top"], probe["lower"], len(runs)
    accs = "; ".join(_seed_acc(c, intervals=True) for c in top)
    if entry["layers"] == 1:
        ratio_text = f"; inter/intra ratio {_num(ratio[0]['value'])} (mean)" if ratio else ""
        return f"{head} has one analysed layer: linear probe {accs}{ratio_text}."
    if not probe["tested"]:
        text = (
            f"{head}: highest mean linear-probe accuracy on {dataset} at "
            f"{_names([c['layer'] for c in top])}: {accs}; no paired test was available, so no layer is "
            "named best"
        )
    elif len(top) > 1:
        wins = [c for c in top + lower if c["top_in"]]
        wins.sort(key=lambda c: -c["top_in"])
        tally = ", ".join(
            f"{c['layer']} in {c['top_in']}" + (f" of {n} runs" if i == 0 else "") for i, c in enumerate(wins)
        )
        reasons = []
        if any(not c["runs_separate"] for c in top[1:]):
            flips = [c["layer"] for c in top[1:] if not c["runs_separate"]]
            reasons.append(
                f"not every run's test separates {_names(flips)} from the top (highest: {tally})"
                if len(wins) > 1
                else f"not every run's test separates {_names(flips)} from {top[0]['layer']}"
            )
        if overlap := [c["layer"] for c in top[1:] if not c["ranges_apart"]]:
            reasons.append(f"the seed ranges overlap ({top[0]['layer']} and {_names(overlap)})")
        text = (
            f"{head}: no single best layer on {dataset} by linear-probe accuracy: {accs}; "
            f"{_names([c['layer'] for c in top])} cannot be told apart, since {' and '.join(reasons)}"
        )
        if len(wins) > 1 and "highest:" not in text:
            text += f"; the top layer differs between runs (highest: {tally})"
    else:
        text = f"{head} separates the classes of {dataset} best at {top[0]['layer']} in every run: {accs}"
    if lower and probe["tested"]:
        each = "; ".join(f"{_seed_acc(c)}, {_run_tests(c['tests'])}" for c in lower)
        names = _names([c["layer"] for c in lower])
        text += f"; {names} {'is' if len(lower) == 1 else 'are'} lower in every run: {each}"
    if ratio:
        peaks = " and ".join(
            f"{c['layer']} ({_num(c['value'])}, range {_num(c['range'][0])}–{_num(c['range'][1])})"
            for c in ratio
        )
        where = " among those layers" if entry["agree"] and len(top) > 1 else ""
        text += f"; the mean inter/intra-class variance ratio peaks at {peaks}{where}"
    how = (
        f" Tests: {_how(probe)}, in each run; a layer is lower only where every run's test separates it "
        "from that run's top and its range across runs lies below the top layer's."
        if probe["tested"]
        else ""
    )
    return text + "." + how


def seeded_pair_sentences(pair: Mapping[str, Any]) -> list[str]:
    """One sentence per shared layer of a pair with a model trained once per seed: a change is stated only
    where every run's test finds it, in the same direction; otherwise how many runs found one."""
    a, b, n = pair["reference"], pair["other"], len(pair["runs"])
    out = []
    for c in pair["layers"]:
        if c["unchanged"]:
            out.append(
                f"At {c['layer']}, {b} has the features of {a} in every run (CKA "
                f"{c['cka_range'][0]:.3f} or more): training did not change this layer."
            )
            continue
        probe = f"mean {_pct(c['probe'][0])} → {_pct(c['probe'][1])}"
        each = ", ".join(
            f"{t['a_only']} vs {t['b_only']} ({_p(t['p_adjusted'])})" if t else "no test" for t in c["tests"]
        )
        if not c["tested"]:
            bits = [f"linear probe {probe} (not every run has a paired test)"]
        elif c["changed"]:
            bits = [
                f"the linear probe changed in every run: {probe} (images only {a} / only {b} gets right, "
                f"per run: {each})"
            ]
        else:
            bits = [
                f"the linear probe did not change detectably in every run ({c['changed_in']} of {n} runs "
                f"found a change): {probe} (images only {a} / only {b} gets right, per run: {each})"
            ]
        changes = ", ".join("n/a" if v is None else f"{v:+.3g}" for v in c["ratio_changes"])
        verdict = "changed in every run" if c["ratio_changed"] else "did not change detectably in every run"
        bits.append(
            f"the inter/intra ratio {verdict}: mean {_num(c['ratio'][0])} → {_num(c['ratio'][1])} "
            f"(change per run: {changes})"
        )
        if c["cka_range"]:
            low, high = c["cka_range"]
            bits.append(f"CKA between the two {low:.3f}–{high:.3f} across runs")
        out.append(f"At {c['layer']}, {a} → {b} ({n} runs): " + "; ".join(bits) + ".")
    return out


def _run_of(run: Mapping[str, Any], pair: Mapping[str, Any]) -> str:
    """Which run a run pair of a seeded pair is: its member model on the seeded side."""
    return run["other"] if run["other"] != pair["other"] else run["reference"]


def finding_sentences(found: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per dataset: ``models`` (a sentence per model, models at chance first), ``best`` (one sentence) and
    ``pairs`` (title and sentences per pair; empty when no two models form a pair)."""
    out = {}
    for dataset, f in found["datasets"].items():
        chance = f.get("chance_accuracy")
        pairs = [
            {
                "reference": p["reference"],
                "other": p["other"],
                "title": f"{p['reference']} → {p['other']}",
                "sentences": pair_sentences(p),
                # the table: a pair with seeded models lists each run's rows
                "layers": [
                    c | {"layer": f"{c['layer']} ({_run_of(r, p)})"}
                    for r in p["per_run"]
                    for c in r["layers"]
                ]
                if p.get("runs")
                else p["layers"],
            }
            for p in f["pairs"]
        ]
        out[dataset] = {
            "models": [
                (seeded_sentence if e.get("runs") else model_sentence)(e, dataset, chance)
                for e in f["per_model"]
            ],
            "best": best_sentence(
                f["best"],
                dataset,
                f.get("models", len(f["per_model"])),
                at_chance={e["model"]: e.get("at_chance") for e in f["per_model"]},
            ),
            "pairs": pairs,
        }
    return out


# --- the page ----------------------------------------------------------------------------------------


def _img(path: str | os.PathLike, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}" style="max-width:100%">'


def _category_link(category: str, text: str) -> str:
    # The report's own navigation (the links Snakemake adds for categories call the same function).
    return f"<a href=\"javascript:app.showCategory('{html.escape(category)}')\">{html.escape(text)}</a>"


def _pair_table(pair: Mapping[str, Any]) -> str:
    # before = the reference model, after = the other one (long model names as headers widen the page)
    heads = ("layer", "probe before", "probe after", "only before right", "only after right", "p")
    heads += ("ratio before", "ratio after", "ratio change [95%]", "NC1 before", "NC1 after", "CKA [95%]")
    head = "".join(f"<th>{html.escape(h)}</th>" for h in heads)
    rows = []
    for c in pair["layers"]:
        ci_a, ci_b = c.get("probe_ci") or [None, None]
        test = c.get("test")
        change = c.get("ratio_change")
        cells = [
            c["layer"],
            _pct(c["probe"][0]) + _ci(ci_a),
            _pct(c["probe"][1]) + _ci(ci_b),
            "n/a" if test is None else str(test["a_only"]),
            "n/a" if test is None else str(test["b_only"]),
            "n/a" if test is None else _p(test["p_adjusted"]).removeprefix("p = ").removeprefix("p "),
            _num(c["ratio"][0]),
            _num(c["ratio"][1]),
            "n/a" if change is None else f"{change:+.3g}" + _ci(c.get("ratio_change_ci"), False),
        ]
        cells += [
            _num(c["nc1"][0]),
            _num(c["nc1"][1]),
            "n/a" if c["cka"] is None else f"{c['cka']:.3f}{_cka_ci(c)}",
        ]
        rows.append("<tr>" + "".join(f"<td>{html.escape(x)}</td>" for x in cells) + "</tr>")
    caption = f"before: {pair['reference']}; after: {pair['other']}; p: exact McNemar"
    return (
        f'<div class="la-scroll"><table class="la-pair"><caption>{html.escape(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


HOW_TO_READ = (
    "How to read this: a value in brackets is its 95% interval (Wilson for accuracies, a bootstrap over "
    "the test images for the ratio and for CKA, CKA's on a stated subsample of them): the range of values "
    "consistent with this test set, so two values whose intervals overlap may well not differ. A p-value "
    "comes from an exact McNemar test on the test images that one cell gets right and the other wrong "
    f"(corrected as stated for the number of comparisons); only p < {ALPHA:g} counts as a difference, and "
    "“equally well” means no test found one, not that none exists."
)
HOW_TO_READ_SEEDS = (
    " A model trained once per seed (train.seeds) is one model: its accuracy is the mean over its runs with "
    "their range, and a layer (or another model) counts as lower only where every run's test separates it "
    "and the ranges across runs do not overlap."
)


STYLE = """<style>
/* Snakemake's report centres its content pane vertically, which cuts off the top of a page taller than the
   window, and keeps the landing text narrow (max-w-lg): start at the top, widen the text for the atlas.
   The style lives only while this page is shown. */
div.grow.flex.items-center.justify-center.h-screen { align-items: flex-start; justify-content: flex-start; }
div.prose.max-w-lg { max-width: min(80rem, 100%); }
/* The landing text shares a row with the rule graph: wrap, so the page takes the pane's width and the
   graph goes below it, instead of both running past the pane's right edge. */
div.grow.flex.gap-3.p-3.items-start { flex-wrap: wrap; min-width: 0; width: 100%; }
div.grow.flex.gap-3.p-3.items-start > div.py-2 { flex: 1 1 100%; min-width: 0; }
#layeratlas-front h2 { margin-top: 0.5em; }
#layeratlas-front p.la-how { font-size: 0.85em; color: #555; }
#layeratlas-front div.la-scroll { max-width: 100%; overflow-x: auto; }
#layeratlas-front table.la-pair caption { caption-side: top; text-align: left; color: #555; }
#layeratlas-front table.la-pair { font-size: 0.85em; border-collapse: collapse; }
#layeratlas-front table.la-pair td, #layeratlas-front table.la-pair th {
  padding: 2px 8px; text-align: right; white-space: nowrap; }
#layeratlas-front table.la-pair td:first-child { text-align: left; }
</style>"""


def front_page_categories(
    config: Mapping[str, Any], comparisons: Collection[str] = (), explorers: bool = False
) -> list[tuple[str, str]]:
    """The report categories the front page links, (category, what it holds), only those that are built:
    ``comparisons`` names what the comparisons category holds ("tests": the table of paired tests,
    "pairs": model pairs side by side), none of them when empty."""
    held = {
        "tests": "the paired tests behind these findings (table: discordant images, p-values)",
        "pairs": "model pairs side by side at each shared layer: maps, intra- and inter-class variance",
    }
    out = [("atlas", "the atlas grids, depth profiles and this page's figures at full size")]
    if explorers:
        out.append(("explorer", "every model's and layer's map, linked, with the images on hover"))
    if what := [held[k] for k in held if k in comparisons]:
        out.append(("comparisons", "; ".join(what)))
    out += [
        (
            "summary",
            "the summary table (readable and as .tsv), CKA across every model and layer, pixel baselines",
        ),
        ("datasets", "images per class and split, and example images of every class"),
    ]
    return out + [(m, f"everything of model {m}, layer by layer") for m in config["models"]]


def render_front_page(
    config: Mapping[str, Any],
    found: Mapping[str, Any],
    figures: Mapping[str, Mapping[str, str | os.PathLike]],
    categories: Sequence[tuple[str, str]] = (),
    explorers: Mapping[str, str] = {},  # noqa: B006 (read only)
) -> str:
    """The front page as an HTML fragment: study, findings, then per dataset the atlas grid and the depth
    profile (``figures[dataset]`` with keys ``atlas`` and ``depth``, PNG paths embedded inline so the page
    needs nothing beside it), then links to the report's categories (``(category, what it holds)``) and
    to the interactive explorers (``explorers[dataset]``: path of its HTML file)."""
    sentences = finding_sentences(found)
    method = atlas_embedding(config)
    embedding = EMBEDDING_NAMES.get(method, str(method))
    parts = [
        STYLE,
        '<div id="layeratlas-front">',
        "<h2>The study</h2>",
        f"<p>{html.escape(study_paragraph(config))}</p>",
    ]
    for dataset, s in sentences.items():
        parts.append(f"<h2>Findings on {html.escape(dataset)}</h2>")
        how = HOW_TO_READ + (HOW_TO_READ_SEEDS if seed_groups(config["models"]) else "")
        parts.append(f'<p class="la-how">{html.escape(how)}</p>')
        parts.append(
            "<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in [*s["models"], s["best"]]) + "</ul>"
        )
        for pair in s["pairs"]:
            parts.append(f'<h3 class="la-pair-title">What changed: {html.escape(pair["title"])}</h3>')
            parts.append("<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in pair["sentences"]) + "</ul>")
            parts.append(_pair_table(pair))
        figs = figures.get(dataset, {})
        if "atlas" in figs:
            parts.append(
                f"<h3>Atlas: every model (rows) and layer (columns), {embedding} coloured by class</h3>"
                "<p>The number in each map's corner is the layer's linear-probe test accuracy.</p>"
            )
            image = _img(figs["atlas"], "atlas")
            parts.append(f'<div id="atlas-{html.escape(dataset)}" class="la-atlas">{image}</div>')
        if "depth" in figs:
            parts.append("<h3>Depth profile: every model overlaid</h3>")
            parts.append(
                f'<div id="depth-{html.escape(dataset)}" class="la-depth">'
                f"{_img(figs['depth'], 'depth profile')}</div>"
            )
        if dataset in explorers:
            parts.append(
                "<p>Interactive, linked maps of every model and layer with the images on hover: the "
                f"{_category_link('explorer', 'explorer')} category, or "
                f"<code>{html.escape(explorers[dataset])}</code> opened from disk.</p>"
            )
    if categories:
        parts.append("<h2>Where to look next</h2><ul>")
        parts += [f"<li>{_category_link(c, c)}: {html.escape(what)}</li>" for c, what in categories]
        parts.append("</ul>")
    parts.append("</div>")
    return "\n".join(parts)


def write_front_page(text: str, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
