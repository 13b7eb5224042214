"""Send a rule's logging, warnings and progress bars to its Snakemake log file."""

from __future__ import annotations

import logging
import os
import sys


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
