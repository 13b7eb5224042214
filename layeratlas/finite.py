"""Stop on NaN or infinite numbers with the rows' sample ids, so a bad layer (or a diverged t-SNE/UMAP)
fails its rule with a message that says which model, layer and images are involved, instead of writing
tables of NaN or crashing deep inside a library."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SHOWN_IDS = 10  # sample ids named in the message (the count is always given)
CHUNK_BYTES = 64 * 2**20  # rows checked at a time: memory-mapped features are never loaded whole


class NonFiniteError(FloatingPointError):
    """An array that must be finite holds NaN or infinite values; the message names what and where."""


def nonfinite_rows(array: np.ndarray, chunk_bytes: int = CHUNK_BYTES) -> np.ndarray:
    """Positions of the rows (first axis) that hold any NaN or +-inf, in order."""
    array = np.atleast_1d(np.asanyarray(array))
    if not np.issubdtype(array.dtype, np.inexact):  # integers and booleans are always finite
        return np.zeros(0, np.int64)
    row_bytes = max(1, array[:1].nbytes)
    step = max(1, chunk_bytes // row_bytes)
    bad = []
    for start in range(0, len(array), step):
        chunk = np.asarray(array[start : start + step]).reshape(min(step, len(array) - start), -1)
        bad.append(start + np.flatnonzero(~np.isfinite(chunk).all(axis=1)))
    return np.concatenate(bad).astype(np.int64) if bad else np.zeros(0, np.int64)


def require_finite(array: np.ndarray, what: str, ids: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """Return ``array`` unchanged if every value is finite, else raise NonFiniteError.

    ``what`` says what the array is (e.g. ``"features of model m, layer l"``); ``ids`` are the sample
    ids of its rows (positions are used when not given). The message gives the number of bad rows,
    the first sample ids and whether they hold NaN, inf or both.
    """
    bad = nonfinite_rows(array)
    if not len(bad):
        return array
    array = np.atleast_1d(np.asanyarray(array))
    rows = np.asarray(array[bad])
    kinds = [k for k, hit in (("NaN", np.isnan(rows).any()), ("inf", np.isinf(rows).any())) if hit]
    label = "sample ids" if ids is not None else "rows"
    named = np.asarray(ids)[bad] if ids is not None else bad
    shown = ", ".join(str(int(i)) for i in named[:SHOWN_IDS])
    more = f", ... ({len(bad) - SHOWN_IDS} more)" if len(bad) > SHOWN_IDS else ""
    raise NonFiniteError(
        f"{what}: {' and '.join(kinds)} values in {len(bad)} of {len(array)} rows, {label} [{shown}{more}]"
    )
