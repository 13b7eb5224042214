"""The training job imports what training needs: no matplotlib (figures are other jobs), and no
scipy.stats unless the network ended at chance (its interval goes into the warning)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from layeratlas.analysis.stats import wilson_interval
from layeratlas.training import chance_warning, wilson_includes

FRESH = """
import sys
import polars as pl
from layeratlas.stages import train
from layeratlas.training import TrainingResult

history = pl.DataFrame({"train_loss": [0.1]})
predictions = pl.DataFrame({"label": [0, 1, 2, 3] * 25, "predicted": [0, 1, 2, 3] * 25})
assert train.warn_if_at_chance("m", TrainingResult(history, {}, predictions), 10) is None
print(sorted(m for m in ("matplotlib", "scipy.stats", "layeratlas.plots") if m in sys.modules))
"""


def test_training_job_imports_no_figures_and_no_scipy_stats():
    out = subprocess.run([sys.executable, "-c", FRESH], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


@pytest.mark.parametrize("chance", [0.1, 1 / 3, 0.5, 0.9])
@pytest.mark.parametrize("n", [1, 7, 30, 449])
def test_wilson_includes_agrees_with_the_interval(n, chance):
    for correct in range(n + 1):
        low, high = wilson_interval(correct, n)
        assert wilson_includes(correct, n, chance) == (low <= chance <= high), (correct, n, chance)


def test_chance_warning_still_names_the_interval():
    message = chance_warning(0.5, 12, 100, 10)
    assert message is not None and "95% interval" in message and "includes chance (10.0%)" in message
    assert chance_warning(0.5, 95, 100, 10) is None


FAULTS = """
import resource, sys, torch
from layeratlas.training import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else None
def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        x = torch.ones(32, 96, 56, 56)  # 38 MiB, over glibc's largest dynamic mmap threshold
        del x
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
faults()
print(applied, faults())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_training_job_keeps_freed_memory_instead_of_faulting_it_in_again():
    def run(mode: str) -> tuple[str, int]:
        out = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, check=True)
        applied, faults = out.stdout.split()
        return applied, int(faults)

    pages = 32 * 96 * 56 * 56 * 4 // 4096
    applied, kept = run("keep")
    assert applied == "True" and kept < pages  # each 38 MiB tensor reuses the same heap pages
    assert run("plain")[1] > 5 * pages  # glibc's default: an mmap and its page faults every time
