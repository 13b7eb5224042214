"""Layer names a user can pick (torchvision FX node names and the modules that contain them) and the
truncated multi-output graph that returns them."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import torch
from torch import nn

from layeratlas.models.zoo import Architecture


def _fx(arch: Architecture):  # noqa: ANN202
    # timm wraps torchvision's FX helpers with its own leaf modules/functions (e.g. dynamic "same"
    # padding) so its models trace; torchvision's are used for everything else.
    if arch.uses_timm:
        from timm.models import create_feature_extractor, get_graph_node_names
    else:
        from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names
    return create_feature_extractor, get_graph_node_names


def layer_names(model: nn.Module, arch: Architecture) -> list[str]:
    """Every name ``create_feature_extractor`` accepts, in forward order: FX node names plus the
    module names that contain them (``blocks.4`` stands for the last node inside ``blocks.4``)."""
    _, get_graph_node_names = _fx(arch)
    _, nodes = get_graph_node_names(model.eval())
    names: dict[str, None] = {}
    for node in nodes[1:]:  # nodes[0] is the input placeholder
        parts = node.split(".")
        for i in range(1, len(parts) + 1):
            names.setdefault(".".join(parts[:i]), None)
    return list(names)


class UnknownLayerError(ValueError):
    pass


def check_layers(requested: Sequence[str], valid: Sequence[str], where: str) -> None:
    """Raise UnknownLayerError naming each unknown layer with its closest valid names."""
    problems = []
    for name in requested:
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=5, cutoff=0.5)
            hint = (
                f"closest: {', '.join(close)}"
                if close
                else f"valid names start with: {', '.join(valid[:12])}"
            )
            problems.append(f"{where}: layer {name!r} does not exist ({hint})")
    if problems:
        raise UnknownLayerError(
            "\n".join(problems) + "\n(`layeratlas layers ARCHITECTURE` lists every layer)"
        )


def truncated_graph(model: nn.Module, arch: Architecture, layers: Sequence[str]) -> nn.Module:
    """One graph, cut after the deepest requested layer, returning ``{layer: tensor}``."""
    check_layers(layers, layer_names(model, arch), f"model {arch.name}")
    create_feature_extractor, _ = _fx(arch)
    return create_feature_extractor(model.eval(), return_nodes={name: name for name in layers})


def layer_shapes(graph: nn.Module, example: torch.Tensor) -> dict[str, tuple[int, ...]]:
    with torch.no_grad():
        return {k: tuple(v.shape[1:]) for k, v in graph(example).items()}
