"""Input and output shape of every layer for one input (the printout of seed report 003), with the
parameters of each module and the receptive field of its units."""

from __future__ import annotations

import math

import polars as pl
import torch
from torch import fx

from layeratlas.inspection.graph import TracedModel
from layeratlas.inspection.receptive_field import receptive_fields


class _ShapeRecorder(fx.Interpreter):
    def __init__(self, module: fx.GraphModule) -> None:
        super().__init__(module)
        self.inputs: dict[fx.Node, tuple] = {}
        self.outputs: dict[fx.Node, tuple] = {}

    def run_node(self, n: fx.Node):  # noqa: ANN201
        out = super().run_node(n)
        if isinstance(out, torch.Tensor):
            self.outputs[n] = tuple(out.shape)
        first = next((a for a in n.all_input_nodes if a in self.outputs), None)
        if first is not None:
            self.inputs[n] = self.outputs[first]
        return out


def shapes(traced: TracedModel, x: torch.Tensor) -> tuple[dict[fx.Node, tuple], dict[fx.Node, tuple]]:
    """(input shape, output shape) of every node for the batch ``x`` (batch axis included)."""
    recorder = _ShapeRecorder(fx.GraphModule(traced.model, traced.graph))
    with torch.no_grad():
        recorder.run(x)
    return recorder.inputs, recorder.outputs


def fake_shapes(traced: TracedModel, x: torch.Tensor) -> tuple[dict[fx.Node, tuple], dict[fx.Node, tuple]]:
    """``shapes`` without computing a value: the graph runs on fake tensors (shapes and dtypes only).
    A network's first real pass pays oneDNN's set-up (issue 22: 1.3 of the 1.8 CPU-s of
    EfficientNet-Lite0's layer table at 112 px); the table reads shapes only. Where an operation has no
    fake implementation, a real pass."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    try:
        with FakeTensorMode(allow_non_fake_inputs=True) as mode:
            return shapes(traced, mode.from_tensor(x))
    except Exception:  # noqa: BLE001 (any op fake mode cannot run: the real pass is the reference)
        return shapes(traced, x)


def _shape(shape: tuple | None) -> str:
    return "x".join(str(s) for s in shape[1:]) if shape else ""


def _size(values: tuple[float, float]) -> str:
    return "x".join(str(int(v)) for v in values)


def layer_shape_table(
    traced: TracedModel, x: torch.Tensor, measured: tuple[dict, dict] | None = None
) -> pl.DataFrame:
    """One row per operation in forward order, for one input ``x`` (1, C, H, W): layer name (as
    ``layeratlas layers`` prints it), kind, input and output shape (without the batch axis), parameters
    of the module, and the receptive field (pixels of the model's input) and stride of one output unit.
    ``measured``: ``shapes`` of ``x`` where a caller has them already (else from fake tensors)."""
    in_shapes, out_shapes = measured or fake_shapes(traced, x)
    fields = receptive_fields(traced, in_shapes, out_shapes)
    rows = []
    for node in traced.compute_nodes():
        module = traced.module(node)
        field = fields.get(node)
        whole = field is None or field.whole
        rows.append(
            {
                "layer": traced.names.get(node, node.name),
                "kind": type(module).__name__
                if module is not None
                else getattr(node.target, "__name__", str(node.target)),
                "input_shape": _shape(in_shapes.get(node)),
                "output_shape": _shape(out_shapes.get(node)),
                "params": sum(p.numel() for p in module.parameters()) if module is not None else 0,
                "receptive_field": "whole image" if whole else _size(field.size),
                "stride": None
                if whole or not all(math.isfinite(j) for j in field.jump)
                else _size(field.jump),
            }
        )
    schema = dict.fromkeys(("layer", "kind", "input_shape", "output_shape"), pl.String)
    schema |= {"params": pl.Int64, "receptive_field": pl.String, "stride": pl.String}
    return pl.DataFrame(rows, schema=schema)
