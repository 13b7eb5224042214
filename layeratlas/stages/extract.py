"""Feature extraction step."""

from __future__ import annotations

import logging
from typing import Any

from layeratlas.datasets import load_dataset
from layeratlas.io import Pathish, read_json

log = logging.getLogger("layeratlas")


def extract_features(
    onnx_path: Pathish,
    metadata: Pathish,
    dataset_dir: Pathish,
    out_dir: Pathish,
    batch_size: int,
    threads: int,
) -> dict[str, Any]:
    from layeratlas.extraction import extract_features as run
    from layeratlas.extraction import make_session

    meta = read_json(metadata)
    ds = load_dataset(dataset_dir)
    layers = {x["name"]: x["reduction"] for x in meta["layers"]}
    shapes = {x["name"]: x["shape"] for x in meta["layers"]}
    session = make_session(onnx_path, threads)
    stats = run(session, ds.images, layers, shapes, out_dir, ds.index(), batch_size)
    log.info(
        "extracted %d images in %.1f s (%.1f images/s) with %s",
        stats["n_images"],
        stats["seconds"],
        stats["images_per_second"],
        stats["providers"][0],
    )
    return stats
