"""Paired tests between layers and models: counts and p-values against scipy, and ties."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from layeratlas.analysis.comparisons import SCHEMA, comparison_table


def _cell(correct, ids=None) -> pl.DataFrame:
    correct = np.asarray(correct, dtype=bool)
    ids = np.arange(len(correct)) if ids is None else np.asarray(ids)
    return pl.DataFrame({"sample_id": ids, "correct": correct})


def _table(cells, order, pairs=(), ratio=None):
    shared = {(a, b): [la for la in order[b] if la in order[a]] for a, b in pairs}
    return comparison_table("digits", cells, order, list(pairs), shared, "linear_probe", ratio)


def test_counts_p_values_and_holm_by_hand():
    # top layer "b" (9/10); "a" 7/10 and "c" 5/10 against it
    a = [1, 1, 1, 1, 1, 1, 1, 0, 0, 0]
    b = [1, 1, 1, 1, 1, 1, 1, 1, 1, 0]
    c = [0, 0, 1, 1, 1, 1, 1, 0, 0, 0]
    cells = {("m", "a"): _cell(a), ("m", "b"): _cell(b), ("m", "c"): _cell(c)}
    t = _table(cells, {"m": ["a", "b", "c"]})
    assert t.schema == pl.Schema(SCHEMA)
    assert t["kind"].to_list() == ["layer_vs_top"] * 2
    assert t["layer_a"].to_list() == ["b", "b"] and t["layer_b"].to_list() == ["a", "c"]
    assert t["a_only"].to_list() == [2, 4] and t["b_only"].to_list() == [0, 0]
    p = [binomtest(2, 2).pvalue, binomtest(4, 4).pvalue]
    assert t["p_value"].to_list() == pytest.approx(p)
    # Holm: 2 * p_c (the smaller), then max(that, 1 * p_a)
    assert t["p_adjusted"].to_list() == pytest.approx([max(p[0], 2 * p[1]), 2 * p[1]])
    assert t["accuracy_a"].to_list() == [0.9, 0.9] and t["accuracy_b"].to_list() == [0.7, 0.5]
    assert t["correction"][0].startswith("Holm over 2 layer(s) of m")
    assert t["ratio_change"].null_count() == 2


def test_only_the_images_both_cells_have_are_compared():
    cells = {("m", "a"): _cell([1, 1, 0, 1], ids=[0, 1, 2, 3]), ("m", "b"): _cell([1, 0, 0], ids=[3, 2, 1])}
    t = _table(cells, {"m": ["a", "b"]})
    assert t["n"].to_list() == [3]


def test_pairs_and_models_with_the_ratio_change():
    rng = np.random.default_rng(0)
    base = rng.random(40) < 0.6
    tuned = base | (rng.random(40) < 0.5)  # fine-tuning only helps
    cells = {("pre", "x"): _cell(base), ("ft", "x"): _cell(tuned), ("ft", "y"): _cell(base)}
    order = {"pre": ["x"], "ft": ["x", "y"]}
    t = _table(cells, order, pairs=[("pre", "ft")], ratio=lambda a, b, layer: (0.5, 0.1, 0.9))
    pair = t.filter(pl.col("kind") == "pair").row(0, named=True)
    assert (pair["model_a"], pair["model_b"], pair["layer_a"]) == ("pre", "ft", "x")
    assert pair["a_only"] == 0 and pair["b_only"] == int(np.sum(tuned & ~base))
    assert (pair["ratio_change"], pair["ratio_change_ci_low"], pair["ratio_change_ci_high"]) == (
        0.5,
        0.1,
        0.9,
    )
    across = t.filter(pl.col("kind") == "model_vs_model").row(0, named=True)
    assert (across["model_a"], across["layer_a"], across["model_b"], across["layer_b"]) == (
        "ft",
        "x",
        "pre",
        "x",
    )


correct_lists = st.lists(st.booleans(), min_size=1, max_size=30)


@given(st.integers(1, 5), correct_lists)
@settings(max_examples=30, deadline=None)
def test_all_layers_equal_nothing_differs(n_layers, correct):
    layers = [f"l{i}" for i in range(n_layers)]
    t = _table({("m", la): _cell(correct) for la in layers}, {"m": layers})
    assert t.height == n_layers - 1
    assert set(t["layer_a"].to_list()) <= {"l0"}  # ties go to the first layer
    assert t["a_only"].sum() == 0 and t["b_only"].sum() == 0
    assert t["p_value"].to_list() == [1.0] * t.height and t["p_adjusted"].to_list() == [1.0] * t.height


@given(st.lists(st.booleans(), min_size=4, max_size=30), st.data())
@settings(max_examples=40, deadline=None)
def test_two_tied_tops_are_never_separated(base, data):
    # "b" and "c": the same number right, on other images; "a" strictly fewer.
    shuffled = data.draw(st.permutations(base))
    mask = data.draw(st.lists(st.booleans(), min_size=len(base), max_size=len(base)))
    top, twin = np.array([True, *base]), np.array([*shuffled, True])
    lower = np.array([False, *(np.array(base) & np.array(mask))])
    cells = {("m", "a"): _cell(lower), ("m", "b"): _cell(top), ("m", "c"): _cell(twin)}
    t = _table(cells, {"m": ["a", "b", "c"]})
    tie = t.filter(pl.col("layer_b") == "c").row(0, named=True)
    assert t["layer_a"].to_list() == ["b", "b"]  # the first of the tied tops
    assert tie["a_only"] == tie["b_only"] and tie["p_value"] == 1.0 and tie["p_adjusted"] == 1.0
    for r in t.iter_rows(named=True):
        assert r["p_value"] <= r["p_adjusted"] <= 1
        assert r["accuracy_a"] >= r["accuracy_b"]
        assert r["a_only"] - r["b_only"] == round(r["n"] * (r["accuracy_a"] - r["accuracy_b"]))


@given(correct_lists)
@settings(max_examples=20, deadline=None)
def test_one_model_and_no_pair_give_no_pair_or_model_rows(correct):
    t = _table({("m", "a"): _cell(correct)}, {"m": ["a"]})
    assert t.height == 0 and t.schema == pl.Schema(SCHEMA)
    t = _table({("m", "a"): _cell(correct), ("m", "b"): _cell(correct)}, {"m": ["a", "b"]})
    assert t["kind"].to_list() == ["layer_vs_top"]
