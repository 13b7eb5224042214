"""Whether a job on this machine could get an NVIDIA GPU, answered without importing torch.

The workflow's main process asks it to decide whether training and extraction claim Snakemake's ``gpu``
resource (a CPU-only machine has nothing for ``--resources gpu=1`` to share out: a training job holding the
"GPU" kept an extraction waiting while a core sat idle), and extraction asks it before paying torch's
import to ask CUDA itself. It errs towards "maybe": only a Linux machine without NVIDIA device files, or a
``CUDA_VISIBLE_DEVICES`` that hides every device, answers no.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def maybe_nvidia_gpu(root: Path = Path("/"), platform: str = sys.platform) -> bool:
    """False where no job could see an NVIDIA GPU: ``CUDA_VISIBLE_DEVICES`` empty or -1, or a Linux machine
    with no NVIDIA driver devices (``/proc/driver/nvidia/gpus/*``, ``/dev/nvidia<N>``) and no WSL GPU
    (``/dev/dxg``). True otherwise, including every other platform (not looked at)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    if not platform.startswith("linux"):
        return True
    gpus = root / "proc" / "driver" / "nvidia" / "gpus"
    if gpus.is_dir() and any(gpus.iterdir()):
        return True
    dev = root / "dev"
    return (dev / "dxg").exists() or any(dev.glob("nvidia[0-9]*"))
