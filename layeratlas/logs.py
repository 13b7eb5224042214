"""Send a rule's logging, warnings and progress bars to its Snakemake log file."""

from __future__ import annotations

import logging
import os
import sys
import time


def _seconds_since_process_start() -> float:
    """How long ago this process started (Linux: /proc; NaN elsewhere), to 10 ms."""
    try:
        with open("/proc/self/stat") as f:
            started = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22: start time in clock ticks
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(uptime - started / os.sysconf("SC_CLK_TCK"), 0.0)
    except (OSError, ValueError, IndexError):
        return float("nan")


def log_to_file(path: str | os.PathLike | None) -> None:
    if path:
        # Line-buffered so `tail -f` on a running job shows progress; tqdm writes to stderr.
        sys.stderr = open(path, "w", buffering=1)  # noqa: SIM115 - lives as long as the job
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)
    # The job's first line of work: benchmarks/default_run.py reads it to split a job's seconds into
    # start-up (interpreter + imports, which every script does before calling this) and work.
    logging.getLogger("layeratlas").info(
        "work starts at %.3f (epoch s); interpreter started %.2f s before",
        time.time(),
        _seconds_since_process_start(),
    )
