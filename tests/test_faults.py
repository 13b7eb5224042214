"""A run killed with SIGKILL in the middle leaves nothing a rerun would trust, and the rerun gives
bitwise the same features and the same tables as an uninterrupted run (determinism on CPU)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tests.conftest import TINY_CONFIG
from tests.snakemake_runs import SNAKEMAKE, snakemake

RUN = ["--cores", "2", "--resources", "gpu=1", "--configfile", str(TINY_CONFIG)]


def _kill_during_extraction(workdir: Path, timeout: float = 600) -> None:
    """Start the tiny run and SIGKILL Snakemake and its jobs while features are being written."""
    proc = subprocess.Popen(
        [*SNAKEMAKE, "--directory", str(workdir), *RUN],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so the kill reaches the running jobs too
    )
    features = workdir / "results" / "features"
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            # extraction writes into a hidden temporary folder and renames it when complete
            if features.exists() and any(p.name.startswith(".") for p in features.glob("*/*")):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before extraction could be interrupted"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _tables(workdir: Path) -> dict[str, pl.DataFrame]:
    tables = {}
    for path in sorted((workdir / "results").rglob("*.parquet")):
        table = pl.read_parquet(path)
        tables[str(path.relative_to(workdir))] = table.drop([c for c in table.columns if c == "seconds"])
    return tables


@pytest.fixture(scope="module")
def killed_then_rerun(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("killed")
    _kill_during_extraction(workdir)
    for path in (workdir / "results" / "features").rglob("*.npy"):
        # whatever is under a final name is complete: it loads with its full row count
        if not path.parent.name.startswith("."):
            assert len(np.load(path, mmap_mode="r")) > 0
    snakemake(workdir, "--unlock", *RUN)  # what a user does after a crash: release Snakemake's lock
    snakemake(workdir, *RUN)  # profiles/default has rerun-incomplete: the killed job is redone
    return workdir


def test_rerun_after_kill_completes_without_leftovers(killed_then_rerun):
    leftovers = [p for p in killed_then_rerun.rglob("results/**/.*") if p.name != ".snakemake_timestamp"]
    assert not leftovers  # no temporary files or folders (Snakemake marks directory outputs with a timestamp)
    dry = snakemake(killed_then_rerun, "--dry-run", *RUN).stdout
    assert "Nothing to be done" in dry


def test_rerun_gives_bitwise_identical_features(killed_then_rerun, tiny_run):
    first = sorted((tiny_run / "results" / "features").rglob("*.npy"))
    assert first
    for path in first:
        again = killed_then_rerun / path.relative_to(tiny_run)
        assert np.array_equal(np.load(path), np.load(again)), path.relative_to(tiny_run)


def test_rerun_gives_identical_tables(killed_then_rerun, tiny_run):
    first, again = _tables(tiny_run), _tables(killed_then_rerun)
    assert first.keys() == again.keys()
    for name, table in first.items():
        assert table.equals(again[name]), name
