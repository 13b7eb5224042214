"""Send a rule's logging, warnings and progress bars to its Snakemake log file, and make a job that
stops on an expected problem say so in one line.

Every script calls ``log_to_file(snakemake.log[0])`` first. An error of the project's own types
(``EXPECTED``: a dataset file that cannot be read, a config or layer that cannot work, weights that
cannot be had, a full disk, non-finite features) carries a sentence naming the file and the fix: the
job prints that one line (to the terminal and as the last line of its log, which Snakemake shows with
``show-failed-logs``) and keeps the traceback next to the log, in ``<log>.traceback``. Any other error
is a fault of layeratlas: its traceback stays in the log, as Python prints it. ``LAYERATLAS_TRACEBACK=1``
keeps every traceback in the log (as in the CLI)."""

from __future__ import annotations

import atexit
import gc
import logging
import os
import sys
import time
import traceback
from types import TracebackType

# The project's own error types (dotted names: matched on the exception's classes, nothing imported).
EXPECTED = frozenset(
    {
        "layeratlas.config.ConfigError",
        "layeratlas.data.downloads.DatasetFilesError",
        "layeratlas.models.layers.UnknownLayerError",
        "layeratlas.models.weights.WeightsUnavailableError",
        "layeratlas.io.DiskFullError",
        "layeratlas.finite.NonFiniteError",
    }
)
TRACEBACK_ENV = "LAYERATLAS_TRACEBACK"


def is_expected(error: BaseException) -> bool:
    """Whether ``error`` is one of the project's own error types (a problem of the input, not a fault)."""
    return any(f"{c.__module__}.{c.__qualname__}" in EXPECTED for c in type(error).__mro__)


def one_line(error: BaseException) -> str:
    """``error: <message>``, its lines joined (a message may list several files)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return "error: " + ("; ".join(lines) or type(error).__name__)


def job_excepthook(log: str | os.PathLike):  # noqa: ANN201 - a sys.excepthook
    """A ``sys.excepthook`` for a job logging to ``log`` (see the module docstring)."""
    default = sys.excepthook

    def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        _FAILED.append(kind)  # the log's last line stays the error's (no "job ends" line after it)
        if not is_expected(error) or os.environ.get(TRACEBACK_ENV, "") not in ("", "0"):
            default(kind, error, tb)
            return
        sidecar = f"{log}.traceback"
        with open(sidecar, "w") as out:
            out.writelines(traceback.format_exception(kind, error, tb))
        line = one_line(error)
        print(f"{line}\n(traceback: {sidecar})", file=sys.stderr, flush=True)
        if sys.stderr is not sys.__stderr__:
            print(line, file=sys.__stderr__, flush=True)

    return hook


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


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children so far (NaN without the
    Unix ``resource`` module)."""
    try:
        import resource
    except ImportError:
        return float("nan")
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


_FAILED: list[type[BaseException]] = []


def _log_job_end() -> None:
    if not _FAILED:
        seconds = cpu_seconds()
        logging.getLogger("layeratlas").info("job ends after %.2f CPU-s (user + sys, children too)", seconds)
    # The interpreter's last garbage collection walks every object the imports made before the process
    # ends anyway: ~0.35 CPU-s of a job that imported torch (0.5 -> 0.15 s of teardown, measured). Frozen
    # objects are skipped; files are closed and the log flushed as before.
    gc.freeze()


def log_to_file(path: str | os.PathLike | None) -> None:
    if path:
        # Line-buffered so `tail -f` on a running job shows progress; tqdm writes to stderr.
        sys.stderr = open(path, "w", buffering=1)  # noqa: SIM115 - lives as long as the job
        sys.excepthook = job_excepthook(path)
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
    # ... and its last: the job's CPU seconds, read by the same benchmark (Snakemake's benchmark files
    # sample them once a second and miss the end of every job).
    atexit.register(_log_job_end)
