"""Architectures by name: how to build each, its preprocessing, its classifier and its weights.

Model metadata is data looked up by name (as timm's FeatureInfo), not re-derived by every caller.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from layeratlas.io import atomic_path
from layeratlas.models.efficientnet import create_efficientnet_lite0, load_packaged_imagenet_weights
from layeratlas.models.small_cnn import SmallCNN


@dataclass(frozen=True)
class Architecture:
    name: str
    create: Callable[[int, int], nn.Module]  # (num_classes, input_size) -> randomly initialised model
    input_size: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classifier: str  # module name of the final linear layer
    imagenet_weights: Callable[[nn.Module], None] | None = None
    uses_timm: bool = False


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture(
            name="small_cnn",
            create=lambda num_classes, size: SmallCNN(num_classes=num_classes, input_size=size),
            input_size=28,
            channels=1,
            mean=(0.5,),
            std=(0.5,),
            classifier="fc3",
        ),
        Architecture(
            name="efficientnet_lite0",
            create=lambda num_classes, size: create_efficientnet_lite0(num_classes),
            input_size=224,
            channels=3,
            mean=(0.5, 0.5, 0.5),  # the TF-ported Lite weights were trained on [-1, 1] inputs
            std=(0.5, 0.5, 0.5),
            classifier="classifier",
            imagenet_weights=load_packaged_imagenet_weights,
            uses_timm=True,
        ),
    )
}

IMAGENET_CLASSES = 1000


def get_architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}") from None


def input_size(spec: Mapping[str, Any]) -> int:
    """The side the model's images are resized to: the config's ``input_size`` or the architecture's."""
    return int(spec.get("input_size") or get_architecture(spec["architecture"]).input_size)


def replace_classifier(model: nn.Module, arch: Architecture, num_classes: int) -> None:
    """Swap the final linear layer for a freshly initialised one with ``num_classes`` outputs."""
    old = model.get_submodule(arch.classifier)
    if not isinstance(old, nn.Linear):
        raise TypeError(f"{arch.name}.{arch.classifier} is {type(old).__name__}, expected Linear")
    parent_name, _, attr = arch.classifier.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attr, nn.Linear(old.in_features, num_classes))


def _create(spec: Mapping[str, Any], num_classes: int | None, pretrained: bool) -> nn.Module:
    arch = get_architecture(spec["architecture"])
    if spec.get("weights", "none") != "imagenet":
        return arch.create(num_classes or 10, input_size(spec))
    if arch.imagenet_weights is None:
        raise ValueError(f"architecture {arch.name!r} has no ImageNet weights; use weights: none")
    model = arch.create(IMAGENET_CLASSES, input_size(spec))
    if pretrained:
        arch.imagenet_weights(model)
    if (spec.get("train") or {}).get("new_head") and num_classes is not None:
        replace_classifier(model, arch, num_classes)
    return model


def build_model(spec: Mapping[str, Any], num_classes: int | None = None, seed: int = 0) -> nn.Module:
    """Build the network a model config describes, with its initial weights (before any training).

    ``num_classes``: classifier size the model needs (the training dataset's classes). ImageNet
    weights come with 1000 classes; with ``train.new_head`` the head is then replaced.
    """
    torch.manual_seed(seed)  # random init (and any new head) is a function of the config's seed
    return _create(spec, num_classes, pretrained=True).eval()


def save_checkpoint(model: nn.Module, spec: Mapping[str, Any], num_classes: int, path: Any) -> None:
    with atomic_path(path) as tmp:
        torch.save({"spec": dict(spec), "num_classes": num_classes, "state_dict": model.state_dict()}, tmp)


def load_checkpoint(path: Any) -> nn.Module:
    """Rebuild a trained model from its checkpoint (architecture, head size and weights)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model = _create(ckpt["spec"], ckpt["num_classes"], pretrained=False)
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()
