"""Dead units: channels of a ReLU layer that output 0 for every position of every image of a dataset
(the "dying ReLU" of seed report 003)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl


def channel_maxima(maps: np.ndarray) -> np.ndarray:
    """Highest response of each channel over a batch of (N, C, ...) maps: (C,)."""
    maps = np.asarray(maps)
    return maps.reshape(maps.shape[0], maps.shape[1], -1).max(axis=(0, 2))


def dead_unit_table(maxima: Mapping[str, np.ndarray], kinds: Mapping[str, str] | None = None) -> pl.DataFrame:
    """One row per layer (in the order given): channels, dead channels (highest response <= 0 over the
    whole dataset) and their fraction."""
    rows = []
    for layer, m in maxima.items():
        m = np.asarray(m)
        dead = int((m <= 0).sum())
        rows.append(
            {
                "layer": layer,
                "kind": (kinds or {}).get(layer, ""),
                "channels": int(m.size),
                "dead": dead,
                "dead_fraction": dead / m.size if m.size else 0.0,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "layer": pl.String,
            "kind": pl.String,
            "channels": pl.Int64,
            "dead": pl.Int64,
            "dead_fraction": pl.Float64,
        },
    )
