"""Layer names a user can pick (torchvision FX node names and the modules that contain them) and the
truncated multi-output graph that returns them."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import numpy as np
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


class _Outputs(nn.Module):
    """Names the outputs of a feature-extractor graph: several layers may be one node (a module and the
    last operation inside it, such as ``layer1.0`` and ``layer1.0.relu_1``)."""

    def __init__(self, graph: nn.Module, nodes: dict[str, str]) -> None:
        super().__init__()
        self.graph = graph
        self.nodes = dict(nodes)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.graph(x)
        return {layer: out[node] for layer, node in self.nodes.items()}


def resolve_nodes(model: nn.Module, arch: Architecture, layers: Sequence[str]) -> dict[str, str]:
    """Layer name -> the FX node it stands for (a module: the last node inside it)."""
    _, get_graph_node_names = _fx(arch)
    _, nodes = get_graph_node_names(model.eval())
    resolved = {}
    for layer in layers:
        inside = [n for n in nodes[1:] if n == layer or n.startswith(layer + ".")]
        resolved[layer] = inside[-1] if inside else layer
    return resolved


def relative_depths(model: nn.Module, arch: Architecture, layers: Sequence[str]) -> dict[str, float | None]:
    """Layer name -> its node's position among the network's FX nodes in forward (execution) order,
    0 for the first node after the input, 1 for the last: comparable between networks of any depth."""
    _, get_graph_node_names = _fx(arch)
    _, nodes = get_graph_node_names(model.eval())
    nodes = nodes[1:]  # nodes[0] is the input placeholder
    position = {n: i for i, n in enumerate(nodes)}
    span = max(1, len(nodes) - 1)
    resolved = resolve_nodes(model, arch, layers)
    return {layer: position[n] / span if n in position else None for layer, n in resolved.items()}


def truncated_graph(model: nn.Module, arch: Architecture, layers: Sequence[str]) -> nn.Module:
    """One graph, cut after the deepest requested layer, returning ``{layer: tensor}``."""
    check_layers(layers, layer_names(model, arch), f"model {arch.name}")
    create_feature_extractor, _ = _fx(arch)
    nodes = resolve_nodes(model, arch, layers)
    if len(set(nodes.values())) == len(nodes):
        return create_feature_extractor(model.eval(), return_nodes={name: name for name in layers})
    unique = list(dict.fromkeys(nodes.values()))
    graph = create_feature_extractor(model.eval(), return_nodes={n: n for n in unique})
    return _Outputs(graph, nodes).eval()


def layer_shapes(graph: nn.Module, example: torch.Tensor) -> dict[str, tuple[int, ...]]:
    with torch.no_grad():
        return {k: tuple(v.shape[1:]) for k, v in graph(example).items()}


def _adaptive_matrix(size_in: int, size_out: int) -> torch.Tensor:
    """(out, in) averaging matrix of PyTorch's adaptive average pooling along one axis."""
    m = torch.zeros(size_out, size_in)
    for i in range(size_out):
        start, stop = (i * size_in) // size_out, -((-(i + 1) * size_in) // size_out)
        m[i, start:stop] = 1.0 / (stop - start)
    return m


class FixedAdaptiveAvgPool2d(nn.Module):
    """``AdaptiveAvgPool2d`` for one known input size, as two matrix products (exports to ONNX, where
    adaptive pooling to a size other than 1x1 needs a static input size the exporter cannot see)."""

    def __init__(self, size_in: tuple[int, int], size_out: tuple[int, int]) -> None:
        super().__init__()
        self.register_buffer("rows", _adaptive_matrix(size_in[0], size_out[0]))
        self.register_buffer("cols", _adaptive_matrix(size_in[1], size_out[1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(torch.matmul(self.rows, x), self.cols.t())


def static_adaptive_pools(model: nn.Module, channels: int, size: int) -> nn.Module:
    """A copy of ``model`` whose non-global ``AdaptiveAvgPool2d`` modules (AlexNet's 6x6) are replaced by
    their fixed equivalent for a ``size`` x ``size`` input; ``model`` itself if it has none."""
    pools = {
        name: m
        for name, m in model.named_modules()
        if isinstance(m, nn.AdaptiveAvgPool2d) and nn.modules.utils._pair(m.output_size) != (1, 1)
    }
    if not pools:
        return model
    seen: dict[str, tuple[int, int]] = {}

    def record(name: str):  # noqa: ANN202 - a hook must return None, or it replaces the output
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            seen.setdefault(name, tuple(inputs[0].shape[-2:]))

        return hook

    hooks = [m.register_forward_hook(record(name)) for name, m in pools.items()]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, channels, size, size))
    finally:
        for h in hooks:
            h.remove()
    import copy

    fixed = copy.deepcopy(model)
    for name, m in pools.items():
        size_out = tuple(
            o if o is not None else i
            for o, i in zip(nn.modules.utils._pair(m.output_size), seen[name], strict=True)
        )
        parent, _, attr = name.rpartition(".")
        setattr(
            fixed.get_submodule(parent) if parent else fixed,
            attr,
            FixedAdaptiveAvgPool2d(seen[name], size_out),
        )
    return fixed.eval()


FLOAT_BYTES = 4  # features are stored as float32


def layer_table(model: nn.Module, arch: Architecture, size: int) -> list[dict[str, object]]:
    """Every pickable layer with its kind, output shape per image at ``size`` px, parameter count (of
    the module, 0 for a function node) and float32 bytes per image stored flat (reduction ``none``)
    and globally pooled (``avg``/``max``: one value per channel; a vector stays as it is)."""
    from layeratlas.models.preprocess import Preprocess

    names = layer_names(model, arch)
    graph = truncated_graph(model, arch, names)
    example = Preprocess(size, arch.channels, arch.mean, arch.std)(
        torch.zeros(1, size, size, arch.channels, dtype=torch.uint8)
    )
    shapes = layer_shapes(graph, example)
    modules = dict(model.named_modules())
    rows = []
    for name in names:
        shape = shapes[name]
        module = modules.get(name)
        flat = FLOAT_BYTES * int(np.prod(shape)) if shape else FLOAT_BYTES
        rows.append(
            {
                "layer": name,
                "kind": type(module).__name__ if module is not None else "function",
                "shape": shape,
                "params": sum(p.numel() for p in module.parameters()) if module is not None else 0,
                "bytes": flat,
                "bytes_pooled": FLOAT_BYTES * shape[0] if len(shape) >= 2 else flat,
            }
        )
    return rows
