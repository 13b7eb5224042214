"""Export step."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from layeratlas.io import Pathish

log = logging.getLogger("layeratlas")


def export_model(
    name: str,
    spec: Mapping[str, Any],
    checkpoint: Pathish | None,
    seed: int,
    onnx_path: Pathish,
    torchscript_path: Pathish,
    metadata_path: Pathish,
) -> None:
    from layeratlas.export import export_all
    from layeratlas.models import build_model
    from layeratlas.models.zoo import load_checkpoint

    model = load_checkpoint(checkpoint) if checkpoint else build_model(spec, seed=seed)
    meta = export_all(name, spec, model, onnx_path, torchscript_path, metadata_path)
    log.info("exported %s: %s", name, [(x["name"], x["shape"]) for x in meta["layers"]])
