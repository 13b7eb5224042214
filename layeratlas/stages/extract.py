"""Feature extraction step."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from layeratlas.data.datasets import load_dataset
from layeratlas.io import Pathish, read_json

log = logging.getLogger("layeratlas")


def extract_features(
    onnx_path: Pathish,
    metadata: Pathish,
    dataset_dir: Pathish,
    out_dir: Pathish,
    batch_size: int,
    threads: int,
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``options``: the config's ``extraction`` block (schema defaults for what it leaves out)."""
    from layeratlas.extraction import extract_features as run
    from layeratlas.extraction import extraction_options, make_session, quantize_int8

    opts = extraction_options({**(options or {}), "batch_size": batch_size})
    meta = read_json(metadata)
    ds = load_dataset(dataset_dir)
    layers = {x["name"]: x["reduction"] for x in meta["layers"]}
    shapes = {x["name"]: x["shape"] for x in meta["layers"]}
    graph, extra_files = Path(onnx_path), {}
    if opts["precision"] == "int8":
        # Calibrate on a seeded sample of the train split (all images when there is none).
        train = ds.split == "train"
        pool = np.flatnonzero(train) if train.any() else np.arange(len(train))
        rng = np.random.default_rng(0)
        rows = np.sort(rng.choice(pool, min(len(pool), opts["calibration_images"]), replace=False))
        scratch = tempfile.TemporaryDirectory(prefix="layeratlas-int8-")  # removed with the object
        graph = Path(scratch.name) / "extractor.int8.onnx"
        quantize_int8(onnx_path, np.ascontiguousarray(ds.images[rows]), graph)
        extra_files["extractor.int8.onnx"] = graph
    session = make_session(graph, threads, options=opts, image_shape=ds.images.shape[1:])
    on_gpu = session.get_providers()[0] != "CPUExecutionProvider"
    stats = run(
        session,
        ds.images,
        layers,
        shapes,
        out_dir,
        ds.index(),
        opts["batch_size"],
        prefetch=opts["prefetch"],
        pad_last_batch=opts["pad_last_batch"],
        io_binding=bool(opts["io_binding"]) and on_gpu,
        extra_stats={"precision": opts["precision"], "threads": threads},
        extra_files=extra_files,
        model=meta.get("model"),
    )
    log.info(
        "extracted %d images in %.1f s (%.1f images/s) with %s",
        stats["n_images"],
        stats["seconds"],
        stats["images_per_second"],
        stats["providers"][0],
    )
    return stats
