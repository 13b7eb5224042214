"""The frozen prefix computed once per image: training on its cached output gives the weights, history and
predictions of training through the whole network, bit for bit, and it is only used where that holds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from layeratlas import training
from layeratlas.data.datasets import ImageDataset, load_sklearn_digits, stratified_split
from layeratlas.models import build_model
from layeratlas.training import frozen_prefix, prefix_outputs
from tests.test_training import _train

RECIPES = {
    # the default config's recipe (config/config.yaml) at a small input size. One image a batch: oneDNN's
    # convolutions (one thread, these shapes) give an image another last bit in a batch of another size
    # (1 vs 16: 4e-5), and the cache's batches are cut in order where training draws them at random
    "efficientnet_last_stages": {
        "architecture": "efficientnet_lite0",
        "weights": "imagenet",
        "input_size": 64,
        "train": {
            "dataset": "digits",
            "epochs": 2,
            "batch_size": 1,
            "optimizer": "adam",
            "lr": 1e-3,
            "new_head": True,
            "trainable": ["blocks.5", "blocks.6", "conv_head", "bn2"],
        },
        "first_frozen": "conv_stem",
    },
    # a head stage (more frozen) then the last stage: one cache per stage
    "resnet_two_stages": {
        "architecture": "resnet18",
        "input_size": 16,
        "train": {
            "dataset": "digits",
            "epochs": 6,
            "head_epochs": 3,
            "optimizer": "adam",
            "lr": 1e-3,
            "lr_groups": {"layer4": 1e-4, "fc": 1e-3},
            "trainable": ["layer4"],
        },
        "first_frozen": "conv1",
    },
    # everything trains: the prefix is the preprocessing alone (resize and normalise)
    "small_cnn_all_trainable": {
        "architecture": "small_cnn",
        "train": {"dataset": "digits", "epochs": 2, "optimizer": "sgd", "lr": 0.05, "milestones": [1]},
        "first_frozen": None,
    },
}


@pytest.fixture(scope="module")
def digits() -> ImageDataset:
    images, labels, names = load_sklearn_digits()
    keep = np.concatenate([np.flatnonzero(labels == c)[:8] for c in range(10)])  # 80 images
    split = stratified_split(labels[keep], {"train": 0.6, "val": 0.2, "test": 0.2}, seed=0)
    return ImageDataset("digits", images[keep], labels[keep], names, split)


def _counting(monkeypatch: pytest.MonkeyPatch, module_name: str | None) -> list[int]:
    """Images the model's module ``module_name`` sees, counted from the model build_model returns."""
    seen: list[int] = []
    if module_name is None:
        return seen

    def counted(*args, **kwargs):  # noqa: ANN202
        model = build_model(*args, **kwargs)
        model.get_submodule(module_name).register_forward_hook(lambda m, i, o: seen.append(len(i[0])))
        return model

    monkeypatch.setattr("tests.test_training.build_model", counted)
    return seen


@pytest.mark.parametrize("name", list(RECIPES))
def test_cached_prefix_trains_the_same_weights_bit_for_bit(name, digits, monkeypatch, caplog):
    spec = {k: v for k, v in RECIPES[name].items() if k != "first_frozen"}
    first = RECIPES[name]["first_frozen"]
    seen = _counting(monkeypatch, first)
    with caplog.at_level("INFO", logger="layeratlas.training"):
        cached, _, cached_result = _train(spec, digits)
    assert "computed once per image" in caplog.text and "runs in every step" not in caplog.text
    cached_images = sum(seen)
    seen.clear()
    monkeypatch.setattr(training, "frozen_prefix", lambda net, augment: "switched off by the test")
    full, _, full_result = _train(spec, digits)
    for (key, a), b in zip(cached.state_dict().items(), full.state_dict().values(), strict=True):
        assert torch.equal(a, b), key
    assert cached_result.history.drop("seconds").equals(full_result.history.drop("seconds"))
    assert cached_result.predictions.equals(full_result.predictions)
    drop = {"training_seconds"}
    assert {k: v for k, v in cached_result.metrics.items() if k not in drop} == {
        k: v for k, v in full_result.metrics.items() if k not in drop
    }
    if first is not None:
        # the frozen stem saw each image once per stage (plus one batch for the mode check), not once per
        # epoch and evaluation
        n, stages = len(digits.labels), 1 + bool(spec["train"].get("head_epochs"))
        batch = spec["train"].get("batch_size", 64)
        assert cached_images <= stages * (n + batch)
        assert sum(seen) > cached_images


class _Stochastic(nn.Module):
    """A frozen layer that acts differently in training (not a module the structural checks know)."""

    def __init__(self) -> None:
        super().__init__()
        self.act = nn.RReLU()  # random slopes in training, fixed in eval

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x)


def _net(*frozen: nn.Module) -> nn.Module:
    net = nn.Sequential(nn.Linear(16, 8), *frozen, nn.Linear(8, 3))
    for p in net[0].parameters():
        p.requires_grad = False
    return net


def test_prefix_is_not_cached_where_it_would_change_training():
    assert frozen_prefix(_net(), {"hflip": True}) == "the recipe augments images"
    assert "is random or trains" in frozen_prefix(_net(nn.Dropout(0.5)), {})
    from timm.layers import DropPath  # stochastic depth, as timm's blocks hold it

    assert "is random or trains" in frozen_prefix(_net(DropPath(0.2)), {})
    assert not isinstance(frozen_prefix(_net(DropPath(0.0)), {}), str)
    # the first layer trains: nothing before it to cache
    net = _net()
    net[0].weight.requires_grad = True
    assert "reads the input" in frozen_prefix(net, {})
    # a hook on a module whose forward the graph inlines would no longer be called
    hooked = _net()
    hooked.register_forward_hook(lambda m, i, o: None)
    assert frozen_prefix(hooked, {}) == "the network has hooks, which the traced graph would not call"
    # a frozen BatchNorm runs in eval mode while training: cacheable
    assert not isinstance(frozen_prefix(_net(nn.BatchNorm1d(8).requires_grad_(False)), {}), str)
    # a mode-dependent layer that passes the structural checks: the outputs of the two modes differ
    plan = frozen_prefix(_net(_Stochastic()), {})
    assert not isinstance(plan, str)
    images = torch.randn(40, 16)
    torch.manual_seed(0)
    before = torch.rand(3)
    torch.manual_seed(0)
    assert prefix_outputs(plan, [images], 16, torch.device("cpu")) == (
        "the prefix's output differs between training and eval mode"
    )
    assert torch.equal(torch.rand(3), before)  # the check left training's random stream where it was


def test_cached_prefix_output_matches_the_network():
    net = _net(nn.ReLU())
    plan = frozen_prefix(net, {})
    images = [torch.randn(37, 16), torch.randn(0, 16), torch.randn(5, 16)]
    cached = prefix_outputs(plan, images, 16, torch.device("cpu"))
    assert [c.shape for c in cached] == [(37, 8), (0, 8), (5, 8)]
    net.eval()
    with torch.no_grad():
        assert torch.equal(plan.suffix_eval(cached[0]), net(images[0]))
