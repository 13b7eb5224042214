"""The small Fashion-MNIST CNN of seed report 003.

conv-relu-conv-relu-pool-conv-relu-pool-flatten-fc-relu-fc-relu-fc
(1@28x28 -> 16@7x7 -> 120 -> 100 -> classes)."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn


class SmallCNN(nn.Sequential):
    """Named children so the layer names (conv1, relu5, ...) read like the report's diagram."""

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        widths: tuple[int, int, int] = (6, 16, 16),
        hidden: tuple[int, int] = (120, 100),
        input_size: int = 28,
    ) -> None:
        c1, c2, c3 = widths
        side = input_size // 4  # two 2x2 max-pools
        super().__init__(
            OrderedDict(
                conv1=nn.Conv2d(in_channels, c1, 3, padding=1),
                relu1=nn.ReLU(),
                conv2=nn.Conv2d(c1, c2, 3, padding=1),
                relu2=nn.ReLU(),
                pool1=nn.MaxPool2d(2),
                conv3=nn.Conv2d(c2, c3, 3, padding=1),
                relu3=nn.ReLU(),
                pool2=nn.MaxPool2d(2),
                flatten=nn.Flatten(),
                fc1=nn.Linear(c3 * side * side, hidden[0]),
                relu4=nn.ReLU(),
                fc2=nn.Linear(hidden[0], hidden[1]),
                relu5=nn.ReLU(),
                fc3=nn.Linear(hidden[1], num_classes),
            )
        )
