"""Preprocessing that lives inside every exported graph: uint8 NHWC images of any size and 1 or 3
channels in, the normalised float NCHW tensor the network expects out.

Resizing is bilinear with antialiasing, as torchvision's ``Resize(antialias=True)``: a downscaled image
is averaged over each output pixel's footprint instead of sampled at 2 x 2 pixels (a 512 px image of
1 px stripes becomes a flat ~128, not 18..237). PyTorch's ``interpolate(..., antialias=True)`` does not
export to ONNX (no symbolic for ``_upsample_bilinear2d_aa``; onnxruntime's own antialiased ``Resize``
differs from PyTorch by up to 16 grey levels at 4x), so the same triangle filter is written here as two
small matrix products whose weights are computed from the input size inside the graph: it traces and
exports with dynamic height and width, and eager, TorchScript and ONNX run the same arithmetic.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence

import torch
from torch import nn


def check_layout(images: torch.Tensor) -> torch.Tensor:
    """The TorchScript graph's own check (``scripted_check_layout``, so the traced extractor keeps it as
    control flow).
    Left out of the ONNX graph, which cannot raise a readable error; ``extraction.check_images`` guards
    its feeders
    and onnxruntime itself refuses another dtype or rank."""
    if images.dim() != 4:
        raise ValueError(
            "expected uint8 images of layout NHWC (batch, height, width, channels) with 1 or 3 channels, "
            "got rank " + str(images.dim())
        )
    if images.size(3) != 1 and images.size(3) != 3:
        raise ValueError(
            "expected uint8 images of layout NHWC (batch, height, width, channels) with 1 or 3 channels, "
            "got " + str(images.size(3)) + " channels in the last axis"
        )
    if images.dtype != torch.uint8:
        raise ValueError(
            "expected uint8 images of layout NHWC (batch, height, width, channels) with 1 or 3 channels, "
            "got another dtype (floats in [0, 1] would be read as near-black)"
        )
    return images


@functools.cache
def scripted_check_layout() -> torch.jit.ScriptFunction:
    """``check_layout`` compiled once (on first use: scripting at import would slow every import)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script's deprecation notice
        return torch.jit.script(check_layout)


def _resize_weights(line: torch.Tensor, size: int) -> torch.Tensor:
    """(size, n) weights of torchvision's antialiased bilinear resize of an axis of ``n`` pixels
    (``line``: any float vector of length n). Output pixel i is centred at (i + 0.5) * n / size; input
    pixel j weighs max(0, 1 - |j + 0.5 - centre| / max(n / size, 1)), normalised per output pixel.
    Built from tensor operations only (no Python ints of the input size), so the size stays dynamic."""
    ones = torch.ones_like(line)
    centres_in = ones.cumsum(0) - 0.5  # j + 0.5
    n = ones.sum()
    scale = n / size
    support = torch.clamp(scale, min=1.0)
    centres_out = (torch.arange(size, dtype=line.dtype, device=line.device) + 0.5) * scale
    weights = torch.relu(1.0 - (centres_in[None, :] - centres_out[:, None]).abs() / support)
    return weights / weights.sum(dim=1, keepdim=True)


def resize_antialiased(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) float -> (N, C, size, size), bilinear with antialiasing (see the module docstring)."""
    rows = _resize_weights(x[0, 0, :, 0], size)  # (size, H)
    cols = _resize_weights(x[0, 0, 0, :], size)  # (size, W)
    return torch.matmul(torch.matmul(rows, x), cols.transpose(0, 1))


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
        x = resize_antialiased(x, self.size)
        return (x - self.offset) / self.scale
