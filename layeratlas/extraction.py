"""Feature extraction through onnxruntime: batches of uint8 images in, one ``.npy`` per layer out.

Each layer's features stream into a memory-mapped ``.npy`` while the next batch runs, so memory does
not grow with the dataset. The folder is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import polars as pl
from tqdm.auto import tqdm

from layeratlas.io import remove_stale

log = logging.getLogger(__name__)

REDUCTIONS = ("none", "avg", "max")


def choose_providers(prefer_gpu: bool = True) -> list[str]:
    """CUDA first when this onnxruntime build has it and a GPU is visible, CPU always as fallback."""
    available = ort.get_available_providers()
    if prefer_gpu and "CUDAExecutionProvider" in available and _cuda_device_visible():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def _cuda_device_visible() -> bool:
    # onnxruntime-gpu lists the CUDA provider even on machines without a GPU; ask torch (whose wheels
    # also carry the CUDA libraries onnxruntime needs) whether a device is really there.
    try:
        import torch

        if not torch.cuda.is_available():
            return False
        ort.preload_dlls()
        return True
    except Exception:  # noqa: BLE001 - any failure here just means "use the CPU"
        return False


def make_session(onnx_path: str | os.PathLike, threads: int, prefer_gpu: bool = True) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)  # the cores Snakemake gave this job, no more
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(onnx_path), options, providers=choose_providers(prefer_gpu))
    log.info("onnxruntime %s, providers in use: %s", ort.__version__, session.get_providers())
    return session


def reduce_features(x: np.ndarray, how: str) -> np.ndarray:
    """(N, C, *spatial) -> (N, D): flatten, or pool over the spatial axes."""
    if how not in REDUCTIONS:
        raise ValueError(f"unknown reduction {how!r}; choose one of {', '.join(REDUCTIONS)}")
    if x.ndim <= 2 or how == "none":
        return x.reshape(len(x), -1)
    axes = tuple(range(2, x.ndim))
    return x.mean(axis=axes) if how == "avg" else x.max(axis=axes)


def reduced_dim(shape: list[int], how: str) -> int:
    return int(shape[0]) if (how != "none" and len(shape) > 1) else int(np.prod(shape))


def extract_features(
    session: ort.InferenceSession,
    images: np.ndarray,
    layers: Mapping[str, str],
    shapes: Mapping[str, list[int]],
    out_dir: str | os.PathLike,
    index: pl.DataFrame,
    batch_size: int = 64,
    progress: bool = True,
) -> dict[str, Any]:
    """Run every image through ``session`` once and write into ``out_dir``: ``<layer>.npy`` per layer,
    ``index.parquet`` (one row per sample, same order) and ``extraction.json`` (throughput, provider).

    ``layers`` maps layer name -> reduction; ``shapes`` gives each layer's per-sample output shape
    (from the export metadata).
    """
    if index.height != len(images):
        raise ValueError(f"index has {index.height} rows for {len(images)} images")
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(out_dir.parent, f".{out_dir.name}.*")
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    tmp_dir.chmod(0o755)
    n = len(images)
    try:
        stores = {
            name: np.lib.format.open_memmap(
                tmp_dir / f"{name}.npy",
                mode="w+",
                dtype=np.float32,
                shape=(n, reduced_dim(shapes[name], how)),
            )
            for name, how in layers.items()
        }
        output_names = [o.name for o in session.get_outputs()]
        wanted = [name for name in output_names if name in layers]
        input_name = session.get_inputs()[0].name
        start = time.perf_counter()
        bar = tqdm(total=n, desc="extract", unit="img", disable=not progress, mininterval=5)
        for lo in range(0, n, batch_size):
            batch = np.ascontiguousarray(images[lo : lo + batch_size])
            outputs = session.run(wanted, {input_name: batch})
            for name, value in zip(wanted, outputs, strict=True):
                feats = reduce_features(value, layers[name])
                if not np.isfinite(feats).all():
                    bad = lo + np.flatnonzero(~np.isfinite(feats).all(axis=1))
                    raise FloatingPointError(
                        f"layer {name}: non-finite features for sample ids {bad[:10].tolist()}"
                    )
                stores[name][lo : lo + len(batch)] = feats
            bar.update(len(batch))
        bar.close()
        seconds = time.perf_counter() - start
        for store in stores.values():
            store.flush()
        del stores
        stats = {
            "n_images": n,
            "seconds": seconds,
            "images_per_second": n / seconds if seconds > 0 else float("nan"),
            "providers": session.get_providers(),
            "batch_size": batch_size,
            "layers": {
                name: {"reduction": how, "dim": reduced_dim(shapes[name], how)}
                for name, how in layers.items()
            },
        }
        index.write_parquet(tmp_dir / "index.parquet")
        (tmp_dir / "extraction.json").write_text(json.dumps(stats, indent=2) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp_dir, out_dir)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return stats
