"""Shared helpers of the benchmark scripts: peak-RSS sampling, FLOP counting, result lines.

Benchmarks print figures; they are never tests (timings depend on the machine and its load).
"""

from __future__ import annotations

import contextlib
import os
import platform
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import psutil


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    physical = psutil.cpu_count(logical=False)
    return (
        f"{cpu}; {physical} physical / {psutil.cpu_count()} logical cores; "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB; load average {os.getloadavg()[0]:.1f} at start"
    )


@dataclass
class Measure:
    """Wall time and the highest RSS of this process seen while the block ran (sampled every 5 ms)."""

    seconds: float = 0.0
    peak_rss: int = 0
    baseline_rss: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)


@contextlib.contextmanager
def measure() -> Iterator[Measure]:
    proc = psutil.Process()
    m = Measure(baseline_rss=proc.memory_info().rss)
    m.peak_rss = m.baseline_rss

    def sample() -> None:
        while not m._stop.is_set():
            m.peak_rss = max(m.peak_rss, proc.memory_info().rss)
            m._stop.wait(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    try:
        yield m
    finally:
        m.seconds = time.perf_counter() - start
        m._stop.set()
        sampler.join()
        m.peak_rss = max(m.peak_rss, proc.memory_info().rss)


def flops_per_image(module, example) -> float:  # noqa: ANN001 - torch module and input
    """FLOPs of one forward pass per image (a multiply-add counts 2), from torch.utils.flop_counter."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(example)
    return counter.get_total_flops() / len(example)


def mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.0f} MiB"


def row(name: str, images: int, m: Measure, gflop_per_image: float | None = None) -> dict:
    ips = images / m.seconds if m.seconds > 0 else float("nan")
    result = {
        "method": name,
        "images": images,
        "seconds": m.seconds,
        "images_per_s": ips,
        "gflop_per_s": ips * gflop_per_image if gflop_per_image else float("nan"),
        "peak_rss": m.peak_rss,
    }
    print(
        f"{name:<38} {images:>6} img  {m.seconds:8.2f} s  {ips:8.2f} img/s  "
        f"{result['gflop_per_s']:8.1f} GFLOP/s  peak RSS {mib(m.peak_rss):>10}",
        flush=True,
    )
    return result
