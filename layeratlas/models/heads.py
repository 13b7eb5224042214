"""Classifier heads a training recipe can put on a network: a linear layer (optionally after dropout) or
the custom head of seed report 001 (fastai's): concatenated average+max pooling, then
Linear-BatchNorm-ReLU-Dropout blocks, then a final Linear."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn


class ConcatPool(nn.Module):
    """Global average and max pooling side by side: (N, C, H, W) -> (N, 2C), average first."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        peak = torch.flatten(nn.functional.adaptive_max_pool2d(x, 1), 1)
        return torch.cat([avg, peak], dim=1)


def linear_head(in_features: int, num_classes: int, dropout: float = 0.0) -> nn.Module:
    """A fresh Linear, behind a Dropout when ``dropout`` > 0."""
    if dropout <= 0:
        return nn.Linear(in_features, num_classes)
    return nn.Sequential(OrderedDict(dropout=nn.Dropout(dropout), fc=nn.Linear(in_features, num_classes)))


def mlp_head(in_features: int, num_classes: int, hidden: Sequence[int], dropout: float) -> nn.Sequential:
    """``hidden`` Linear-BatchNorm-ReLU-Dropout blocks, then a Linear to ``num_classes``.

    Module names (``block1.linear``, ..., ``fc``) are layer names a config can extract.
    """
    blocks: OrderedDict[str, nn.Module] = OrderedDict()
    width = in_features
    for i, units in enumerate(hidden, 1):
        blocks[f"block{i}"] = nn.Sequential(
            OrderedDict(
                linear=nn.Linear(width, units),
                bn=nn.BatchNorm1d(units),
                relu=nn.ReLU(),
                dropout=nn.Dropout(dropout),
            )
        )
        width = units
    blocks["fc"] = nn.Linear(width, num_classes)
    return nn.Sequential(blocks)
