"""The traced graph of a model, named as ``layeratlas layers`` names layers, and a forward pass that keeps
the tensors of chosen nodes."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import torch
from torch import fx, nn

ACTIVATIONS = (nn.ReLU, nn.ReLU6)  # "never activates" = output <= 0 everywhere
_ACTIVATION_FUNCTIONS = {"relu", "relu_", "relu6"}
# Operations that commute with ReLU (max-pooling, reshaping, eval-mode dropout): a ReLU followed only
# by these still "is" the layer's ReLU, and its pre-activation map is these applied to the ReLU's input.
_PASS_THROUGH_MODULES = (nn.MaxPool2d, nn.AdaptiveMaxPool2d, nn.Flatten, nn.Dropout, nn.Identity)
_PASS_THROUGH_FUNCTIONS = {"max_pool2d", "flatten", "dropout", "adaptive_max_pool2d"}


@dataclass
class TracedModel:
    """A model's FX graph with each node's layer name (the names `layeratlas layers` prints)."""

    model: nn.Module
    graph: fx.Graph
    names: dict[fx.Node, str]  # node -> layer name

    def node(self, name: str) -> fx.Node:
        for node, qualname in self.names.items():
            if qualname == name:
                return node
        raise KeyError(f"no node named {name!r}")

    def module(self, node: fx.Node) -> nn.Module | None:
        return self.model.get_submodule(node.target) if node.op == "call_module" else None

    def resolve(self, layer: str) -> fx.Node:
        """The node a layer name stands for: itself, or the last node inside a module (``blocks.4``)."""
        inside = [n for n, q in self.names.items() if q == layer or q.startswith(layer + ".")]
        if not inside:
            raise KeyError(f"no layer named {layer!r}")
        return inside[-1]

    def compute_nodes(self) -> list[fx.Node]:
        return [n for n in self.graph.nodes if n.op not in ("placeholder", "output", "get_attr")]


def trace(model: nn.Module, uses_timm: bool) -> TracedModel:
    """Trace ``model`` (eval mode) with the same tracer settings as ``layeratlas.models.layers``."""
    from torchvision.models.feature_extraction import NodePathTracer, _set_default_tracer_kwargs

    kwargs: dict = {}
    if uses_timm:  # timm's own leaf modules (BatchNormAct2d, same-padding convs) and functions
        from timm.layers import get_notrace_functions, get_notrace_modules

        kwargs = {"leaf_modules": get_notrace_modules(), "autowrap_functions": get_notrace_functions()}
    tracer = NodePathTracer(**_set_default_tracer_kwargs(kwargs))
    graph = tracer.trace(model.eval())
    names = {n: tracer.node_to_qualname[n] for n in graph.nodes if n in tracer.node_to_qualname}
    return TracedModel(model.eval(), graph, names)


class _Done(Exception):
    pass


class _Recorder(fx.Interpreter):
    def __init__(self, module: fx.GraphModule, wanted: Collection[fx.Node]) -> None:
        super().__init__(module)
        self.wanted = set(wanted)
        self.seen: dict[fx.Node, torch.Tensor] = {}

    def run_node(self, n: fx.Node):  # noqa: ANN201
        out = super().run_node(n)
        if n in self.wanted:
            self.seen[n] = out
            if len(self.seen) == len(self.wanted):
                raise _Done  # nothing deeper is needed
        return out


def forward_nodes(
    traced: TracedModel, x: torch.Tensor, nodes: Collection[fx.Node]
) -> dict[fx.Node, torch.Tensor]:
    """Run ``x`` through the graph up to the deepest of ``nodes`` and return their tensors."""
    module = fx.GraphModule(traced.model, traced.graph)
    recorder = _Recorder(module, nodes)
    with torch.no_grad(), contextlib.suppress(_Done):
        recorder.run(x)
    missing = set(nodes) - set(recorder.seen)
    if missing:
        raise RuntimeError(f"nodes never computed: {sorted(traced.names.get(n, n.name) for n in missing)}")
    return recorder.seen


def _function_name(node: fx.Node) -> str:
    return getattr(node.target, "__name__", str(node.target))


def is_activation(traced: TracedModel, node: fx.Node) -> bool:
    """A ReLU(6): the module, the function, or a fused norm+activation module (timm's BatchNormAct2d)."""
    module = traced.module(node)
    if module is not None:
        return isinstance(module, ACTIVATIONS) or isinstance(getattr(module, "act", None), ACTIVATIONS)
    return node.op in ("call_function", "call_method") and _function_name(node) in _ACTIVATION_FUNCTIONS


def _is_pass_through(traced: TracedModel, node: fx.Node) -> bool:
    module = traced.module(node)
    if module is not None:
        return isinstance(module, _PASS_THROUGH_MODULES)
    return node.op in ("call_function", "call_method") and _function_name(node) in _PASS_THROUGH_FUNCTIONS


@dataclass(frozen=True)
class PreActivation:
    """How to get a layer's map before its ReLU: the ReLU node, the node feeding it, and the operations
    (max-pooling, flattening) between the ReLU and the layer, replayed on the pre-activation tensor."""

    activation: fx.Node
    source: fx.Node
    chain: tuple[fx.Node, ...]


def pre_activation(traced: TracedModel, layer_node: fx.Node) -> PreActivation | None:
    """The ReLU that produces ``layer_node`` (directly or through max-pooling / flattening), or None."""
    chain: list[fx.Node] = []
    node = layer_node
    while not is_activation(traced, node):
        if not _is_pass_through(traced, node) or not node.args or not isinstance(node.args[0], fx.Node):
            return None
        chain.append(node)
        node = node.args[0]
    source = node.args[0] if node.args and isinstance(node.args[0], fx.Node) else None
    if source is None:
        return None
    return PreActivation(node, source, tuple(reversed(chain)))


def apply_pre_activation(traced: TracedModel, pre: PreActivation, source: torch.Tensor) -> torch.Tensor:
    """The layer's output as it would be without its ReLU, from the tensor feeding the ReLU."""
    x = source
    module = traced.module(pre.activation)
    with torch.no_grad():
        if module is not None and not isinstance(module, ACTIVATIONS):  # norm + activation: keep the norm
            stripped = copy.deepcopy(module)
            stripped.act = nn.Identity()
            if hasattr(stripped, "drop"):
                stripped.drop = nn.Identity()
            x = stripped.eval()(x)
        for node in pre.chain:
            step = traced.module(node)
            if step is not None:
                x = step(x)
            elif node.op == "call_method":
                x = getattr(x, node.target)(*node.args[1:], **node.kwargs)
            else:
                x = node.target(x, *node.args[1:], **node.kwargs)
    return x


def node_names(traced: TracedModel, nodes: Mapping[str, fx.Node]) -> dict[str, str]:
    return {key: traced.names.get(node, node.name) for key, node in nodes.items()}
