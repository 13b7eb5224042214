"""Checks of a validated config against the models themselves (what a schema cannot know): every
chosen layer exists in its model. Run before any job, so a typo in a layer name fails in seconds,
not after hours of training."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any


def layer_errors(config: Mapping[str, Any]) -> list[str]:
    """One message per unknown layer, naming the key, the value and the closest valid layer names.

    Each distinct (architecture, input size) is built once with random weights (nothing is downloaded).
    """
    from layeratlas.models import build_model, get_architecture
    from layeratlas.models.layers import layer_names

    known: dict[tuple, list[str]] = {}
    errors = []
    for model, spec in config["models"].items():
        key = (spec["architecture"], spec.get("input_size"))
        if key not in known:
            net = build_model({**spec, "weights": "none", "train": None}, num_classes=10)
            known[key] = layer_names(net, get_architecture(spec["architecture"]))
        valid = known[key]
        for layer in spec["layers"]:
            if layer not in valid:
                close = difflib.get_close_matches(layer, valid, n=5, cutoff=0.5)
                hint = f"closest: {', '.join(close)}" if close else "none is close"
                errors.append(
                    f"models.{model}.layers: {layer!r} is not a layer of {spec['architecture']} ({hint}; "
                    f"`layeratlas layers {spec['architecture']}` lists them all)"
                )
    return errors
