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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from layeratlas.config import model_pairs
from layeratlas.data.datasets import OWN_TEST_SPLIT
from layeratlas.io import atomic_path

PROBE = "linear_probe_accuracy"  # the layer's linear separability (held-out test accuracy)
RATIO = "inter_to_intra_ratio"  # between-class over within-class variance of the features
NC1 = "nc1"  # within-class variability collapse (lower: more collapsed)

EMBEDDING_NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}


# --- the study ---------------------------------------------------------------------------------------


def _epochs(n: Any) -> str:
    return f"{n} epoch{'' if n == 1 else 's'}"


def model_origin(name: str, config: Mapping[str, Any]) -> str:
    """How model ``name`` was obtained, in words (trained from scratch, pretrained, fine-tuned from ...)."""
    spec = config["models"][name]
    arch, weights = spec["architecture"], str(spec.get("weights", "none"))
    train = spec.get("train") or {}
    source = {"none": "random", "imagenet": "ImageNet"}.get(weights, f"file {weights}")
    if not train:
        return f"{arch} with {source} weights as they are" if weights != "none" else f"{arch}, untrained"
    data = train.get("dataset")
    data = ", ".join(data) if isinstance(data, list) else data
    epochs = train.get("epochs")
    if weights == "none":
        return f"{arch} trained from scratch on {data} ({_epochs(epochs)})"
    base = next((a for a, b in model_pairs(config) if b == name), None)
    what = f"fine-tuned from {source} weights" + (f" (those of {base})" if base else "")
    parts = [p for p in (train.get("trainable") or []) if p]
    trainable = f", training {', '.join(parts)}" + (" and a new head" if train.get("new_head") else "")
    return f"{arch} {what} on {data} ({_epochs(epochs)}{trainable if parts else ''})"


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
    for name, spec in config["models"].items():
        origin = model_origin(name, config)
        if (
            spec["architecture"] == name
        ):  # "small_cnn: trained from scratch", not "small_cnn: small_cnn trained"
            origin = origin.removeprefix(f"{name} ").removeprefix("with ")
        models.append(f"{name}: {origin}; layers {', '.join(spec['layers'])}")
    analyses = config.get("analyses", {})
    split = analyses.get("split", "test")
    where = "all images" if split == "all" else f"the {split} split"
    return (
        f"Dataset{'s' if len(datasets) > 1 else ''} {'; '.join(datasets)}. "
        f"{len(models)} model{'s' if len(models) > 1 else ''}: {'. '.join(models)}. "
        f"Every layer is analysed on {where} "
        f"({', '.join(_analyses(analyses))}); seed {config.get('seed', 0)}."
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


def _value(row: Mapping[str, Any], column: str) -> float | None:
    v = row.get(column)
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _best(rows: Sequence[Mapping[str, Any]], column: str) -> dict[str, Any] | None:
    """The row with the highest ``column`` (the first in layer order on ties), with any tied layers."""
    scored = [(r, _value(r, column)) for r in rows]
    scored = [(r, v) for r, v in scored if v is not None]
    if not scored:
        return None
    top = max(v for _, v in scored)
    tied = [r for r, v in scored if v == top]
    return {
        "model": tied[0]["model"],
        "layer": tied[0]["layer"],
        "value": top,
        "tied": [r["layer"] for r in tied[1:]],
    }


def _cka(cka: pl.DataFrame | None, a: str, b: str, layer: str) -> float | None:
    if cka is None:
        return None
    hit = cka.filter(
        (pl.col("model_a") == a)
        & (pl.col("layer_a") == layer)
        & (pl.col("model_b") == b)
        & (pl.col("layer_b") == layer)
    )
    return float(hit["cka"][0]) if hit.height else None


def findings(
    summary: pl.DataFrame, config: Mapping[str, Any], cka: Mapping[str, pl.DataFrame] | None = None
) -> dict[str, Any]:
    """What the summary table says, per dataset: each model's best layer by linear-probe accuracy and by
    inter/intra-class variance ratio, the best (model, layer) overall, and per model pair (``model_pairs``)
    the change at every shared layer (probe accuracy, ratio, NC1, and the CKA between the two models there
    from ``cka[dataset]``, the dataset's results/analysis/{dataset}/cka.parquet). Missing metrics are None.
    """
    if "model" not in summary.columns or "layer" not in summary.columns:
        raise ValueError(f"the summary table needs columns model and layer, it has {summary.columns}")
    if "dataset" not in summary.columns:
        summary = summary.with_columns(pl.lit("data").alias("dataset"))
    pairs = model_pairs(config)
    out: dict[str, Any] = {"datasets": {}}
    for dataset in dict.fromkeys(summary["dataset"].to_list()):
        rows = summary.filter(pl.col("dataset") == dataset).to_dicts()
        per_model = []
        for model in dict.fromkeys(r["model"] for r in rows):
            mine = [r for r in rows if r["model"] == model]
            probe, ratio = _best(mine, PROBE), _best(mine, RATIO)
            per_model.append(
                {
                    "model": model,
                    "probe": probe,
                    "ratio": ratio,
                    "agree": None if not (probe and ratio) else probe["layer"] == ratio["layer"],
                    "layers": len(mine),
                }
            )
        lookup = {(r["model"], r["layer"]): r for r in rows}
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
                changes.append(
                    {
                        "layer": layer,
                        **{
                            key: [_value(ra, col), _value(rb, col)]
                            for key, col in (("probe", PROBE), ("ratio", RATIO), ("nc1", NC1))
                        },
                        "cka": _cka((cka or {}).get(dataset), a, b, layer),
                    }
                )
            pair_out.append({"reference": a, "other": b, "layers": changes})
        out["datasets"][dataset] = {"per_model": per_model, "best": _best(rows, PROBE), "pairs": pair_out}
    return out


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _num(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def _change(before: float | None, after: float | None, percent: bool = False) -> str:
    if before is None or after is None:
        return "n/a"
    if percent:
        return f"{_pct(before)} → {_pct(after)} ({100 * (after - before):+.1f} points)"
    return f"{_num(before)} → {_num(after)}" + (f" (×{after / before:.2f})" if before > 0 else "")


def model_sentence(entry: Mapping[str, Any], dataset: str) -> str:
    model, probe, ratio = entry["model"], entry["probe"], entry["ratio"]
    if entry["layers"] == 1:
        layer = (probe or ratio or {}).get("layer", "its layer")
        return (
            f"{model} has one analysed layer ({layer}): linear probe {_pct(probe and probe['value'])}, "
            f"inter/intra ratio {_num(ratio and ratio['value'])}."
        )
    parts = []
    if probe:
        tie = f", tied with {', '.join(probe['tied'])}" if probe["tied"] else ""
        parts.append(
            f"{model} separates the classes of {dataset} best at {probe['layer']} by linear-probe accuracy "
            f"({_pct(probe['value'])}{tie})"
        )
    if ratio:
        if probe and entry["agree"]:
            parts.append(f"the inter/intra-class variance ratio agrees ({_num(ratio['value'])} there)")
        elif probe:
            parts.append(
                f"but the inter/intra-class variance ratio peaks at {ratio['layer']} "
                f"({_num(ratio['value'])}): the classes are most compact and apart there, "
                "although a linear classifier does best elsewhere"
            )
        else:
            parts.append(
                f"{model}'s inter/intra-class variance ratio peaks at {ratio['layer']} "
                f"({_num(ratio['value'])})"
            )
    return ("; ".join(parts) + ".") if parts else f"{model}: no separability metric was computed."


def _unchanged(change: Mapping[str, Any]) -> bool:
    """The two models' features at this layer are the same (a frozen layer): CKA 1 and equal metrics."""
    same = all(
        v[0] is not None and v[1] is not None and math.isclose(v[0], v[1], rel_tol=1e-6, abs_tol=1e-9)
        for v in (change["probe"], change["ratio"])
    )
    return same and change["cka"] is not None and change["cka"] > 0.9995


def pair_sentences(pair: Mapping[str, Any]) -> list[str]:
    """One sentence per shared layer: what changed from the reference model to the other one."""
    a, b = pair["reference"], pair["other"]
    out = []
    for c in pair["layers"]:
        if _unchanged(c):
            out.append(
                f"At {c['layer']}, {b} has the features of {a} (CKA {c['cka']:.3f}; linear probe "
                f"{_pct(c['probe'][0])}, inter/intra ratio {_num(c['ratio'][0])} in both): training did not "
                "change this layer (it lies below the trained modules)."
            )
            continue
        bits = [f"linear probe {_change(*c['probe'], percent=True)}"]
        bits.append(f"inter/intra ratio {_change(*c['ratio'])}")
        if c["nc1"][0] is not None or c["nc1"][1] is not None:
            bits.append(f"NC1 {_change(*c['nc1'])}")
        if c["cka"] is not None:
            bits.append(f"CKA between the two {c['cka']:.2f}")
        out.append(f"At {c['layer']}, {a} → {b}: " + "; ".join(bits) + ".")
    return out


def finding_sentences(found: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per dataset: ``models`` (a sentence per model), ``best`` (one sentence) and ``pairs`` (title and
    sentences per pair; empty when no two models form a pair)."""
    out = {}
    for dataset, f in found["datasets"].items():
        best = f["best"]
        best_text = (
            f"Best overall on {dataset}: {best['model']} at {best['layer']}, {_pct(best['value'])} "
            "linear-probe "
            "test accuracy."
            if best
            else f"No linear-probe accuracy was computed on {dataset} (analyses.probes is off)."
        )
        pairs = [
            {
                "title": f"{p['reference']} → {p['other']}",
                "sentences": pair_sentences(p),
                "layers": p["layers"],
            }
            for p in f["pairs"]
        ]
        out[dataset] = {
            "models": [model_sentence(e, dataset) for e in f["per_model"]],
            "best": best_text,
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
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "layer",
            "probe acc. before",
            "after",
            "ratio before",
            "after",
            "NC1 before",
            "after",
            "CKA",
        )
    )
    rows = []
    for c in pair["layers"]:
        cells = [
            c["layer"],
            _pct(c["probe"][0]),
            _pct(c["probe"][1]),
            _num(c["ratio"][0]),
            _num(c["ratio"][1]),
        ]
        cells += [_num(c["nc1"][0]), _num(c["nc1"][1]), "n/a" if c["cka"] is None else f"{c['cka']:.2f}"]
        rows.append("<tr>" + "".join(f"<td>{html.escape(x)}</td>" for x in cells) + "</tr>")
    return f'<table class="la-pair"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


STYLE = """<style>
/* Snakemake's report centres its content pane vertically, which cuts off the top of a page taller than the
   window, and keeps the landing text narrow (max-w-lg): start at the top, widen the text for the atlas.
   The style lives only while this page is shown. */
div.grow.flex.items-center.justify-center.h-screen { align-items: flex-start; justify-content: flex-start; }
div.prose.max-w-lg { max-width: 80rem; }
#layeratlas-front h2 { margin-top: 0.5em; }
#layeratlas-front table.la-pair { font-size: 0.85em; border-collapse: collapse; }
#layeratlas-front table.la-pair td, #layeratlas-front table.la-pair th {
  padding: 2px 8px; text-align: right; }
#layeratlas-front table.la-pair td:first-child { text-align: left; }
</style>"""


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
    embedding = EMBEDDING_NAMES.get((config.get("report") or {}).get("atlas_embedding", "tsne"), "t-SNE")
    parts = [
        STYLE,
        '<div id="layeratlas-front">',
        "<h2>The study</h2>",
        f"<p>{html.escape(study_paragraph(config))}</p>",
    ]
    for dataset, s in sentences.items():
        parts.append(f"<h2>Findings on {html.escape(dataset)}</h2>")
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
