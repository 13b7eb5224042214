"""File output helpers: every artefact is written under a temporary name and renamed when complete,
so a killed job never leaves a file that a rerun would trust."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

Pathish = str | os.PathLike


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = f".{path.stem}.", f".tmp{path.suffix}"
    remove_stale(path.parent, f"{prefix}*{suffix}")
    # Same directory (same filesystem) so os.replace is atomic; same suffix so writers that
    # infer the format from the name (matplotlib, numpy) keep working.
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def remove_stale(folder: Path, pattern: str) -> None:
    """Delete what an earlier, killed attempt at the same output left under its temporary name.

    Safe because Snakemake never runs two jobs for one output at once.
    """
    for stale in folder.glob(pattern):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(data: Any, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def write_parquet(table: pl.DataFrame, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        table.write_parquet(tmp)


def write_table(table: pl.DataFrame, path: str | os.PathLike) -> None:
    """Write ``table`` as ``<path>.parquet`` (for code) and ``<path>.tsv`` (for people and the report)."""
    path = Path(path)
    write_parquet(table, path.with_suffix(".parquet"))
    with atomic_path(path.with_suffix(".tsv")) as tmp:
        table.write_csv(tmp, separator="\t", float_precision=6)
