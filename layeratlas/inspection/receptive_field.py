"""Receptive fields by arithmetic over the convolution / pooling stack.

Per spatial axis each node carries (size r, jump j, start s): a unit at output position i sees the input
pixels centred on s + i*j, r pixels wide. A convolution or pooling with kernel k, stride t, padding p and
dilation d gives r' = r + (d(k-1)) j, j' = j t, s' = s + (d(k-1)/2 - p) j (Araujo et al., Distill 2019).
Element-wise operations keep the field; a merge (add, concatenation) takes the widest of its inputs;
anything that leaves no spatial axes (global pooling, flattening, linear layers) sees the whole image.

Adaptive pooling breaks the arithmetic: output unit o pools input units floor(o*n/m) .. ceil((o+1)*n/m)-1
(n in, m out), windows of uneven width and uneven step (AlexNet's 6x6 pool of a 9x9 grid at 320 px) or
overlapping copies when m > n (a 2x2 grid upsampled to 6x6 at 112 px). There, and after it, a field
holds each unit's interval explicitly per axis (``Field.spans``), from the true windows.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from torch import fx, nn

from layeratlas.inspection.graph import TracedModel

log = logging.getLogger("layeratlas")


@dataclass(frozen=True)
class Field:
    """Receptive field of a node's units, per axis (height, width), in model-input pixels.
    ``whole`` marks units that see the whole input (no spatial axes left)."""

    size: tuple[float, float]
    jump: tuple[float, float]
    start: tuple[float, float]
    whole: bool = False
    # Per axis, the (low, high-exclusive) input interval of each output position, where the field is not
    # an arithmetic progression (after adaptive pooling); ``size`` then holds the widest, ``jump`` the mean.
    spans: tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]] | None = None

    def span(self, axis: int, pos: int) -> tuple[int, int]:
        """(low, high-exclusive) input pixels of output position ``pos`` along ``axis`` (0: rows)."""
        if self.spans is not None:
            return self.spans[axis][pos]
        centre = self.start[axis] + pos * self.jump[axis]
        low = math.floor(centre - (self.size[axis] - 1) / 2 + 1e-9)
        return low, low + int(round(self.size[axis]))

    def box(self, y: int, x: int, input_hw: tuple[int, int]) -> tuple[int, int, int, int]:
        """(top, left, bottom, right), bottom/right exclusive, of unit (y, x); may reach past the image."""
        if self.whole:
            return 0, 0, input_hw[0], input_hw[1]
        (top, bottom), (left, right) = self.span(0, y), self.span(1, x)
        return top, left, bottom, right


INPUT_FIELD = Field((1.0, 1.0), (1.0, 1.0), (0.0, 0.0))


def _pair(v) -> tuple[int, int]:  # noqa: ANN001
    return tuple(nn.modules.utils._pair(v))  # type: ignore[return-value]


def _same_padding(size_in: int, k: int, stride: int, dilation: int) -> int:
    """Left/top padding of TensorFlow-style "same" convolution (timm's Conv2dSame, MaxPool2dSame)."""
    total = max((math.ceil(size_in / stride) - 1) * stride + (k - 1) * dilation + 1 - size_in, 0)
    return total // 2


def window(module: nn.Module, in_hw: tuple[int, int]) -> tuple[tuple, tuple, tuple, tuple] | None:
    """(kernel, stride, padding, dilation) per axis of a sliding-window module, or None."""
    if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        k, s = _pair(module.kernel_size), _pair(module.stride or module.kernel_size)
        d = _pair(getattr(module, "dilation", 1))
        if type(module).__name__.endswith("Same"):  # padding chosen at run time from the input size
            p = tuple(_same_padding(i, kk, ss, dd) for i, kk, ss, dd in zip(in_hw, k, s, d, strict=True))
        elif isinstance(getattr(module, "padding", 0), str):  # padding="same" (stride 1) / "valid"
            p = tuple((dd * (kk - 1)) // 2 for kk, dd in zip(k, d, strict=True))
            p = p if module.padding == "same" else (0, 0)
        else:
            p = _pair(module.padding)
        return k, s, p, d
    return None


def _explicit(field: Field, in_hw: tuple[int, int], out_hw: tuple[int, int], windows) -> Field:  # noqa: ANN001
    """The field of units that each pool the input positions ``windows(axis, o)`` (a range; positions
    outside the input grid are padding and see nothing): the union of those positions' intervals."""
    spans, size, jump = [], [], []
    for axis in (0, 1):
        axis_spans = []
        for o in range(out_hw[axis]):
            seen = [q for q in windows(axis, o) if 0 <= q < in_hw[axis]]
            if not seen:  # only padding: an empty interval at the nearest edge
                edge = field.span(axis, 0 if o == 0 else in_hw[axis] - 1)[0]
                axis_spans.append((edge, edge))
                continue
            axis_spans.append((field.span(axis, seen[0])[0], field.span(axis, seen[-1])[1]))
        spans.append(tuple(axis_spans))
        size.append(float(max(high - low for low, high in axis_spans)))
        jump.append(field.jump[axis] * in_hw[axis] / out_hw[axis])
    return Field(tuple(size), tuple(jump), field.start, spans=(spans[0], spans[1]))


def adaptive_step(field: Field, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> Field:
    """The field after adaptive pooling from ``in_hw`` to ``out_hw``, from PyTorch's true windows:
    output o pools inputs floor(o*n/m) .. ceil((o+1)*n/m) - 1."""

    def windows(axis: int, o: int) -> range:
        n, m = in_hw[axis], out_hw[axis]
        return range((o * n) // m, -(-((o + 1) * n) // m))

    return _explicit(field, in_hw, out_hw, windows)


def step(field: Field, k, s, p, d, in_hw=None, out_hw=None) -> Field:  # noqa: ANN001
    """The field after one sliding window (per-axis kernel, stride, padding, dilation). A field with
    explicit ``spans`` (after adaptive pooling) needs the grid sizes ``in_hw`` and ``out_hw``."""
    if field.spans is not None:
        if in_hw is None or out_hw is None:
            raise ValueError("a field with explicit spans needs the input and output grid sizes")
        return _explicit(
            field,
            in_hw,
            out_hw,
            lambda a, o: range(o * s[a] - p[a], o * s[a] - p[a] + d[a] * (k[a] - 1) + 1, d[a]),
        )
    size, jump, start = [], [], []
    for r, j, st, kk, ss, pp, dd in zip(field.size, field.jump, field.start, k, s, p, d, strict=True):
        span = dd * (kk - 1)
        size.append(r + span * j)
        jump.append(j * ss)
        start.append(st + (span / 2 - pp) * j)
    return Field(tuple(size), tuple(jump), tuple(start))


def sequential_field(layers: list[tuple[tuple, tuple, tuple, tuple]]) -> Field:
    """Field after a plain stack of windows [(kernel, stride, padding, dilation) per axis, ...]."""
    field = INPUT_FIELD
    for k, s, p, d in layers:
        field = step(field, k, s, p, d)
    return field


def _tensor_inputs(node: fx.Node) -> list[fx.Node]:
    return [a for a in node.all_input_nodes]


def receptive_fields(
    traced: TracedModel, in_shapes: dict[fx.Node, tuple], out_shapes: dict[fx.Node, tuple]
) -> dict[fx.Node, Field]:
    """Field of every node, from the shapes one forward pass recorded (``layer_table.shapes``)."""
    fields: dict[fx.Node, Field] = {}
    for node in traced.graph.nodes:
        if node.op == "placeholder":
            fields[node] = INPUT_FIELD
            continue
        if node.op in ("output", "get_attr"):
            continue
        parents = [fields[a] for a in _tensor_inputs(node) if a in fields]
        out = out_shapes.get(node)
        if not parents:  # a constant
            fields[node] = INPUT_FIELD
            continue
        if (
            any(f.whole for f in parents)
            or out is None
            or len(out) < 4
            or _pooled_to_one(out, in_shapes.get(node))
        ):
            fields[node] = Field((math.inf, math.inf), (math.inf, math.inf), (0.0, 0.0), whole=True)
            continue
        widest = max(parents, key=lambda f: f.size[0] * f.size[1])
        module = traced.module(node)
        in_shape = in_shapes.get(node)
        in_hw = tuple(in_shape[-2:]) if in_shape is not None and len(in_shape) >= 4 else tuple(out[-2:])
        in_hw = (int(in_hw[0]), int(in_hw[1]))
        params = window(module, in_hw) if module is not None else None
        if params is None and node.op == "call_function" and "pool" in getattr(node.target, "__name__", ""):
            params = _function_window(node)
        out_hw = (int(out[-2]), int(out[-1]))
        if params is not None:
            fields[node] = step(widest, *params, in_hw=in_hw, out_hw=out_hw)
        elif tuple(out[-2:]) == in_hw:
            fields[node] = widest  # element-wise (norm, activation, add, 1x1 spatial shape kept)
        elif isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) or (
            node.op == "call_function" and "adaptive" in getattr(node.target, "__name__", "")
        ):
            fields[node] = adaptive_step(widest, in_hw, out_hw)  # the true, possibly uneven, windows
        elif in_hw[0] % out[-2] == 0 and widest.spans is None:
            # an unknown operation that divides the grid: windows of in/out pixels
            k = tuple(max(1, math.ceil(i / o)) for i, o in zip(in_hw, out[-2:], strict=True))
            s = tuple(max(1, i // o) for i, o in zip(in_hw, out[-2:], strict=True))
            if module is None:
                log.warning("receptive field: %s treated as a %s window", traced.names.get(node), k)
            fields[node] = step(widest, k, s, (0, 0), (1, 1))
        else:
            log.warning("receptive field: %s changes the grid in an unknown way; whole image", node)
            fields[node] = Field((math.inf, math.inf), (math.inf, math.inf), (0.0, 0.0), whole=True)
    return fields


def _pooled_to_one(out: tuple, in_shape: tuple | None) -> bool:
    """A 1x1 grid made from a larger one (global pooling): its unit sees the whole image."""
    grown = in_shape is not None and len(in_shape) >= 4 and tuple(in_shape[-2:]) != (1, 1)
    return tuple(out[-2:]) == (1, 1) and grown


def _function_window(node: fx.Node) -> tuple | None:
    """F.max_pool2d / F.avg_pool2d called as functions (kernel, stride, padding positional or keyword)."""
    names = ("kernel_size", "stride", "padding", "dilation")
    args = dict(zip(names, node.args[1:], strict=False)) | {
        k: v for k, v in node.kwargs.items() if k in names
    }
    if "kernel_size" not in args:
        return None
    k = _pair(args["kernel_size"])
    s = _pair(args.get("stride") or k)
    return k, s, _pair(args.get("padding", 0)), _pair(args.get("dilation", 1))
