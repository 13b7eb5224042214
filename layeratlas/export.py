"""Export a model truncated at its chosen layers, with preprocessing inside, as TorchScript and ONNX.

The exported extractor takes raw uint8 images (N, H, W, C), any size, 1 or 3 channels, and returns
one output per chosen layer, named after the layer, in the order the config lists them. The TorchScript
graph refuses another rank, channel count or dtype with a message naming that layout; the ONNX graph
cannot raise a readable error, so its feeders check with ``layeratlas.extraction.check_images``
(onnxruntime itself refuses another dtype or rank).
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from layeratlas.io import save_torch, write_bytes, write_json
from layeratlas.models.layers import layer_shapes, relative_depths, static_adaptive_pools, truncated_graph
from layeratlas.models.preprocess import Preprocess, scripted_check_layout
from layeratlas.models.zoo import Architecture, input_size, model_architecture

ONNX_OPSET = 18
INPUT_NAME = "images"


class LayerExtractor(nn.Module):
    """uint8 images -> preprocessing -> truncated network -> tuple of layer outputs."""

    def __init__(self, preprocess: Preprocess, graph: nn.Module, layers: Sequence[str]) -> None:
        super().__init__()
        self.preprocess = preprocess
        self.graph = graph
        self.layers = list(layers)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # The layout check is traced into TorchScript as a scripted call (it raises there); ONNX cannot
        # raise, so it is left out of that graph and extraction checks its input in Python.
        if not torch.onnx.is_in_onnx_export():
            images = scripted_check_layout()(images)
        out = self.graph(self.preprocess(images))
        return tuple(out[name] for name in self.layers)


def build_extractor(model: nn.Module, spec: Mapping[str, Any]) -> LayerExtractor:
    arch = model_architecture(spec)  # with its options (e.g. a colour scattering network)
    preprocess = Preprocess(input_size(spec), arch.channels, arch.mean, arch.std)
    layers = list(spec["layers"])
    model = static_adaptive_pools(model, arch.channels, input_size(spec))  # AlexNet's 6x6 pool -> ONNX
    return LayerExtractor(preprocess, truncated_graph(model, arch, layers), layers).eval()


def example_images(batch: int = 2, side: int = 32, channels: int = 3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, side, side, channels), dtype=torch.uint8, generator=g)


def export_torchscript(extractor: LayerExtractor, example: torch.Tensor, path: str | os.PathLike) -> None:
    with torch.no_grad(), warnings.catch_warnings():
        # Tracer and deprecation warnings are expected here; parity tests check the result.
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(extractor, example, check_trace=False)
    save_torch(traced, path)  # through Python's writer: a full disk names the file instead of aborting


def export_onnx(extractor: LayerExtractor, example: torch.Tensor, path: str | os.PathLike) -> None:
    """ONNX with dynamic batch, height, width and channel axes on the input.

    Uses the TorchScript-based exporter (``dynamo=False``): it keeps the symbolic channel axis that the
    in-graph preprocessing relies on, where the dynamo exporter would specialise it.
    """
    axes = {INPUT_NAME: {0: "batch", 1: "height", 2: "width", 3: "channels"}}
    axes.update({name: {0: "batch"} for name in extractor.layers})
    buffer = io.BytesIO()  # serialised in memory, written by Python: a full disk names the file
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            extractor,
            (example,),
            buffer,
            input_names=[INPUT_NAME],
            output_names=extractor.layers,
            dynamic_axes=axes,
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    write_bytes(buffer.getvalue(), path)
    import onnx

    onnx.checker.check_model(str(path))


def _training_provenance(spec: Mapping[str, Any]) -> dict[str, Any]:
    """What the weights were trained on: the dataset, and for a train.snapshots model the training run
    and the epoch it was taken after (0 = before training)."""
    snapshot = spec.get("snapshot_of")
    if snapshot:
        return {
            "trained_on": snapshot["dataset"],
            "snapshot": {"of_model": snapshot["model"], "epoch": int(snapshot["epoch"])},
        }
    return {"trained_on": (spec.get("train") or {}).get("dataset"), "snapshot": None}


def extractor_metadata(name: str, spec: Mapping[str, Any], extractor: LayerExtractor) -> dict[str, Any]:
    arch: Architecture = model_architecture(spec)
    size = input_size(spec)
    shapes = layer_shapes(extractor.graph, extractor.preprocess(example_images(1, size, arch.channels)))
    return {
        "model": name,
        "architecture": arch.name,
        "options": dict(spec.get("options") or {}),  # small_cnn widths, scattering J/L/channels
        "weights": spec.get("weights", "none"),
        **_training_provenance(spec),
        "input": {
            "name": INPUT_NAME,
            "dtype": "uint8",
            "layout": "NHWC",
            "channels_accepted": [1, 3],
            "any_height_width": True,
        },
        "preprocessing": {
            "resize": [size, size],
            "interpolation": "bilinear, antialiased (as torchvision Resize(antialias=True))",
            "channels": arch.channels,
            "mean": list(arch.mean),
            "std": list(arch.std),
            "formula": "(image / 255 - mean) / std",
        },
        "layers": [
            {"name": layer, "shape": list(shapes[layer]), "reduction": spec["layers"][layer]}
            for layer in extractor.layers
        ],
        "onnx_opset": ONNX_OPSET,
        "torch_version": torch.__version__,
    }


def export_all(
    name: str,
    spec: Mapping[str, Any],
    model: nn.Module,
    onnx_path: Any,
    torchscript_path: Any,
    metadata_path: Any,
) -> dict[str, Any]:
    """Build the extractor for a model config and write all three artefacts."""
    extractor = build_extractor(model, spec)
    example = example_images(2, 32, 3)
    export_torchscript(extractor, example, torchscript_path)
    export_onnx(extractor, example, onnx_path)
    meta = extractor_metadata(name, spec, extractor)
    # Position in the whole network (the extractor's graph is cut after its deepest layer).
    depths = relative_depths(model, model_architecture(spec), list(spec["layers"]))
    for entry in meta["layers"]:
        entry["relative_depth"] = depths[entry["name"]]
    write_json(meta, metadata_path)
    return meta
