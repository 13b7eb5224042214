"""File output helpers: every artefact is written under a temporary name and renamed when complete,
so a killed job never leaves a file that a rerun would trust."""

from __future__ import annotations

import contextlib
import errno
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
    except (OSError, RuntimeError) as exc:
        tmp_path.unlink(missing_ok=True)  # first: the space it took is what the message reports
        if _disk_full(exc, path.parent):
            raise DiskFullError(
                errno.ENOSPC,
                f"no space left on device while writing {path} (the partial file was removed; "
                f"{_free(path.parent)} free there); free some space and rerun",
                str(path),
            ) from exc
        raise
    finally:
        tmp_path.unlink(missing_ok=True)


class DiskFullError(OSError):
    """A write that ran out of space (ENOSPC or a quota), naming the file being written."""

    def __str__(self) -> str:
        return str(self.strerror)


FULL_BELOW = 1 << 20  # a writer's failure with less than this free is taken as a full disk


def _disk_full(exc: BaseException, folder: Path) -> bool:
    """ENOSPC / EDQUOT, or a writer's own error (torch's C++ writer says only "file write failed")
    while the disk is (nearly) full."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if "no space left" in str(exc).lower():
        return True
    try:
        return shutil.disk_usage(folder).free < FULL_BELOW
    except OSError:
        return False


def _free(folder: Path) -> str:
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return "unknown space"
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if free < 1024 or unit == "GiB":
            return f"{free:.0f} {unit}" if unit == "bytes" else f"{free:.1f} {unit}"
        free /= 1024
    return f"{free} bytes"


def write_bytes(data: bytes, path: str | os.PathLike) -> None:
    """``data`` to ``path`` atomically, written by Python (a full disk is a clear DiskFullError)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def save_torch(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` through memory then ``write_bytes``: torch's C++ file writer aborts the process
    (SIGABRT) when the disk fills; Python's write raises ENOSPC, which names the file."""
    import io

    import torch

    buffer = io.BytesIO()
    if isinstance(obj, torch.jit.ScriptModule):
        torch.jit.save(obj, buffer)
    else:
        torch.save(obj, buffer)
    write_bytes(buffer.getvalue(), path)


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
