"""Repeated training (``train.seeds``): the spread of every summary metric across a model's training runs.

One training run is one sample of training runs; the test set's interval says nothing about how much a
layer's score moves when the same recipe is trained again. This table says that, per (dataset, model, layer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

KEYS = ("dataset", "model", "layer")
# Columns of the summary that are not metrics of the layer: keys, bookkeeping and interval bounds.
NOT_METRICS = {
    "depth",
    "relative_depth",
    "split",
    "n_train",
    "n_val",
    "n_test",
    "n_classes",
    "chance_accuracy",
}


def metric_columns(summary: pl.DataFrame) -> list[str]:
    """The summary's numeric metric columns (not keys, sizes or ``*_ci_low`` / ``*_ci_high`` bounds)."""
    return [
        c
        for c, dtype in summary.schema.items()
        if dtype.is_numeric()
        and c not in KEYS
        and c not in NOT_METRICS
        and not c.endswith(("_ci_low", "_ci_high"))
    ]


def across_seeds(summary: pl.DataFrame, groups: Mapping[str, Sequence[str]]) -> pl.DataFrame:
    """Per (dataset, model trained once per seed, layer, metric): n_seeds, mean, sd (n - 1 in the
    denominator; null for one seed), min, max and range across the members, and the members' names.

    ``groups``: model name -> its member models (``layeratlas.models.sweeps.seed_groups``)."""
    member_of = {m: group for group, members in groups.items() for m in members}
    schema = {
        "dataset": pl.Utf8,
        "model": pl.Utf8,
        "layer": pl.Utf8,
        "metric": pl.Utf8,
        "n_seeds": pl.UInt32,
        "mean": pl.Float64,
        "sd": pl.Float64,
        "min": pl.Float64,
        "max": pl.Float64,
        "range": pl.Float64,
        "members": pl.Utf8,
    }
    rows = summary.filter(pl.col("model").is_in(list(member_of)))
    if rows.is_empty():
        return pl.DataFrame(schema=schema)
    long = rows.with_columns(pl.col("model").replace_strict(member_of).alias("group")).unpivot(
        on=metric_columns(summary), index=["dataset", "group", "layer", "model"], variable_name="metric"
    )
    value = pl.col("value").cast(pl.Float64)
    table = (
        long.drop_nulls("value")
        .group_by(["dataset", "group", "layer", "metric"], maintain_order=True)
        .agg(
            pl.len().cast(pl.UInt32).alias("n_seeds"),
            value.mean().alias("mean"),
            value.std(ddof=1).alias("sd"),
            value.min().alias("min"),
            value.max().alias("max"),
            pl.col("model").str.join(", ").alias("members"),
        )
        .with_columns((pl.col("max") - pl.col("min")).alias("range"))
        .rename({"group": "model"})
    )
    return table.select(list(schema)).cast(schema)
