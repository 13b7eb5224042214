"""Preprocessing that lives inside every exported graph: uint8 NHWC images of any size and 1 or 3
channels in, the normalised float NCHW tensor the network expects out."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class Preprocess(nn.Module):
    def __init__(self, size: int, channels: int, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if len(mean) != channels or len(std) != channels:
            raise ValueError(f"mean/std need {channels} values, got {len(mean)}/{len(std)}")
        self.size = int(size)
        self.channels = int(channels)
        # Folding 1/255 into mean/std saves one multiply per pixel.
        self.register_buffer("offset", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1) * 255)
        self.register_buffer("scale", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1) * 255)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.permute(0, 3, 1, 2).float()
        # Both branches accept 1 or 3 input channels without data-dependent control flow, so the
        # traced/exported graph keeps a dynamic channel axis: expand() is a no-op on 3 channels
        # and a mean over 1 channel is the identity.
        x = x.expand(-1, 3, -1, -1) if self.channels == 3 else x.mean(dim=1, keepdim=True)
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return (x - self.offset) / self.scale
