"""Dataset preparation step."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from layeratlas.datasets import build_dataset, save_dataset
from layeratlas.io import Pathish

log = logging.getLogger("layeratlas")


def prepare_dataset(name: str, spec: Mapping[str, Any], seed: int, out_dir: Pathish) -> None:
    ds = build_dataset(name, spec, seed)
    save_dataset(ds, out_dir)
    log.info(
        "dataset %s: %d images %s, splits %s",
        name,
        len(ds.labels),
        ds.images.shape[1:],
        {s: int((ds.split == s).sum()) for s in ("train", "val", "test")},
    )
