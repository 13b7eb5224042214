"""Paired tests between (model, layer) cells of one dataset, on per-image correctness of one classifier.

Every test compares two cells on the same test images (joined by sample_id): the exact McNemar test
of their discordant counts (``layeratlas.analysis.stats.mcnemar_exact``), Holm-corrected within its
family. Three kinds of rows:

- ``layer_vs_top``: within a model, its top layer (highest accuracy; ties to the first in config
  order) against every other layer; Holm over that model's comparisons;
- ``pair``: each (reference, other) model pair at each shared layer (a = reference, b = other); Holm
  over the pair's shared layers; with the change of the inter/intra ratio and its paired bootstrap
  interval where given;
- ``model_vs_model``: the overall top cell (each model's top layer, the best of them; ties to the
  first model) against every other model's top layer; Holm over those.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import polars as pl

from layeratlas.analysis.stats import holm, mcnemar_exact

SCHEMA = {
    "dataset": pl.Utf8,
    "kind": pl.Utf8,
    "model_a": pl.Utf8,
    "layer_a": pl.Utf8,
    "model_b": pl.Utf8,
    "layer_b": pl.Utf8,
    "classifier": pl.Utf8,
    "n": pl.Int64,
    "accuracy_a": pl.Float64,
    "accuracy_b": pl.Float64,
    "a_only": pl.Int64,
    "b_only": pl.Int64,
    "p_value": pl.Float64,
    "p_adjusted": pl.Float64,
    "correction": pl.Utf8,
    "ratio_change": pl.Float64,
    "ratio_change_ci_low": pl.Float64,
    "ratio_change_ci_high": pl.Float64,
}

Cell = tuple[str, str]  # (model, layer)
# (reference, other, layer) -> (ratio change, interval low, interval high)
RatioChange = Callable[[str, str, str], tuple[float, float, float]]


def correctness(predictions: pl.DataFrame, classifier: str) -> pl.DataFrame:
    """sample_id, correct of one classifier from a predictions table (interface of the probes)."""
    return predictions.filter(pl.col("classifier") == classifier).select("sample_id", "correct")


def paired_test(a: pl.DataFrame, b: pl.DataFrame) -> dict[str, float | int]:
    """n, accuracy_a, accuracy_b, a_only, b_only, p_value of two correctness tables on the images
    both have (joined by sample_id)."""
    joined = a.join(b, on="sample_id", how="inner", suffix="_b")
    ca, cb = joined["correct"].to_numpy().astype(bool), joined["correct_b"].to_numpy().astype(bool)
    n = len(ca)
    a_only, b_only = int(np.sum(ca & ~cb)), int(np.sum(~ca & cb))
    nan = float("nan")
    return {
        "n": n,
        "accuracy_a": float(ca.mean()) if n else nan,
        "accuracy_b": float(cb.mean()) if n else nan,
        "a_only": a_only,
        "b_only": b_only,
        "p_value": mcnemar_exact(a_only, b_only),
    }


def top_layer(cells: Mapping[Cell, pl.DataFrame], model: str, layers: Sequence[str]) -> str:
    """The model's layer with the highest accuracy; ties to the first in ``layers``' order."""
    scores = [float(cells[(model, layer)]["correct"].mean()) for layer in layers]
    return layers[int(np.argmax(scores))]  # argmax: the first of equal maxima


def _family(rows: list[dict], correction: str) -> list[dict]:
    adjusted = holm([r["p_value"] for r in rows])
    return [{**r, "p_adjusted": p, "correction": correction} for r, p in zip(rows, adjusted, strict=True)]


def comparison_table(
    dataset: str,
    cells: Mapping[Cell, pl.DataFrame],
    order: Mapping[str, Sequence[str]],
    pairs: Sequence[tuple[str, str]],
    shared: Mapping[tuple[str, str], Sequence[str]],
    classifier: str,
    ratio_change: RatioChange | None = None,
) -> pl.DataFrame:
    """Every paired test of one dataset (see the module docstring).

    ``cells``: {(model, layer): sample_id, correct}; ``order``: {model: [layer, ...]} in config order
    (models in config order too); ``shared``: {(reference, other): [layer, ...]} of each pair.
    """
    base = {"dataset": dataset, "classifier": classifier}
    none = {"ratio_change": None, "ratio_change_ci_low": None, "ratio_change_ci_high": None}
    out: list[dict] = []
    tops = {m: top_layer(cells, m, list(layers)) for m, layers in order.items() if layers}

    for model, layers in order.items():
        top = tops.get(model)
        rows = [
            {
                **base,
                "kind": "layer_vs_top",
                "model_a": model,
                "layer_a": top,
                "model_b": model,
                "layer_b": layer,
            }
            | paired_test(cells[(model, top)], cells[(model, layer)])
            | none
            for layer in layers
            if layer != top
        ]
        out += _family(rows, f"Holm over {len(rows)} layer(s) of {model} against its top layer {top}")

    for reference, other in pairs:
        rows = []
        for layer in shared.get((reference, other), []):
            row = {
                **base,
                "kind": "pair",
                "model_a": reference,
                "layer_a": layer,
                "model_b": other,
                "layer_b": layer,
            } | paired_test(cells[(reference, layer)], cells[(other, layer)])
            change = ratio_change(reference, other, layer) if ratio_change else (None, None, None)
            rows.append(row | dict(zip(none, change, strict=True)))
        out += _family(rows, f"Holm over {len(rows)} shared layer(s) of {reference} -> {other}")

    if len(tops) > 1:
        best = max(tops, key=lambda m: (float(cells[(m, tops[m])]["correct"].mean()), -list(tops).index(m)))
        rows = [
            {
                **base,
                "kind": "model_vs_model",
                "model_a": best,
                "layer_a": tops[best],
                "model_b": model,
                "layer_b": tops[model],
            }
            | paired_test(cells[(best, tops[best])], cells[(model, tops[model])])
            | none
            for model in tops
            if model != best
        ]
        out += _family(
            rows, f"Holm over {len(rows)} model(s) against the overall top cell {best} / {tops[best]}"
        )
    return pl.DataFrame(out, schema=SCHEMA)
