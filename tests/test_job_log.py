"""Every job's log starts with its first line of work and ends with its CPU seconds, which
benchmarks/default_run.py reads for every rule (Snakemake's benchmark files miss the end of each job)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_job_log_ends_with_its_cpu_seconds(tmp_path):
    log = tmp_path / "job.log"
    code = f"from layeratlas.logs import log_to_file; log_to_file({str(log)!r}); sum(range(3_000_000))"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    lines = log.read_text().splitlines()
    assert "work starts at" in lines[0]
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from default_run import JOB_ENDS  # the benchmark's own pattern

    seconds = float(JOB_ENDS.search(lines[-1])[1])
    assert 0.01 < seconds < 60  # the interpreter and the loop above cost some tenths of a second
