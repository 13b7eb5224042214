"""Export step."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
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

    model = load_model(name, spec, checkpoint, seed)
    meta = export_all(name, spec, model, onnx_path, torchscript_path, metadata_path)
    log.info("exported %s: %s", name, [(x["name"], x["shape"]) for x in meta["layers"]])


def load_model(name: str, spec: Mapping[str, Any], checkpoint: Pathish | None, seed: int):  # noqa: ANN201
    """The network a model's features come from: its trained checkpoint (a snapshot's epoch file inside
    the training run's snapshots folder) or, untrained, its initial weights."""
    from layeratlas.models import build_model
    from layeratlas.models.zoo import load_checkpoint

    snapshot = spec.get("snapshot_of")
    if snapshot and checkpoint:  # the training run's folder of per-epoch checkpoints
        checkpoint = Path(checkpoint) / f"epoch{snapshot['epoch']}.pt"
        if not checkpoint.is_file():
            raise FileNotFoundError(
                f"model {name}: model {snapshot['model']} wrote no snapshot after epoch {snapshot['epoch']} "
                f"({checkpoint} is missing: did training stop early, or run fewer epochs?)"
            )
    return load_checkpoint(checkpoint) if checkpoint else build_model(spec, seed=seed)
