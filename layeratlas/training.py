"""Train or fine-tune a classifier on a dataset's train split, validating every epoch.

The model is trained behind the same ``Preprocess`` module that the exported graph contains, so
training and extraction see identical inputs.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl
import torch
from torch import nn
from tqdm.auto import tqdm

from layeratlas.datasets import ImageDataset

log = logging.getLogger(__name__)


def pick_device() -> torch.device:
    """CUDA when torch sees a GPU (Snakemake's gpu resource only counts; CUDA_VISIBLE_DEVICES selects)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def freeze_except(model: nn.Module, trainable: Sequence[str] | None, always: Sequence[str] = ()) -> list[str]:
    """Freeze every parameter outside the modules named in ``trainable`` (plus ``always``).

    Returns the names of the trainable parameters. ``trainable=None`` leaves everything trainable.
    """
    names = dict(model.named_modules())
    if trainable is not None:
        missing = [m for m in [*trainable, *always] if m not in names]
        if missing:
            valid = [n for n in names if n and n.count(".") < 2]
            raise ValueError(
                f"train.trainable: no module named {missing}; top-level modules: {', '.join(valid)}"
            )
        keep = [*trainable, *always]
        for pname, param in model.named_parameters():
            param.requires_grad = any(pname == k or pname.startswith(k + ".") for k in keep)
    return [n for n, p in model.named_parameters() if p.requires_grad]


def _frozen_batchnorm_eval(model: nn.Module) -> None:
    # A frozen BatchNorm must not drift its running statistics during fine-tuning.
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not any(
            p.requires_grad for p in module.parameters()
        ):
            module.eval()


def make_optimizer(params: list[nn.Parameter], recipe: Mapping[str, Any]) -> torch.optim.Optimizer:
    name = recipe["optimizer"]
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=recipe["lr"], momentum=recipe["momentum"], weight_decay=recipe["weight_decay"]
        )
    if name == "adam":
        return torch.optim.Adam(params, lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    if name == "adamw":
        return torch.optim.AdamW(params, lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    raise ValueError(f"train.optimizer: unknown {name!r}; choose one of sgd, adam, adamw")


def _batches(n: int, batch_size: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return list(order.split(batch_size))


@torch.no_grad()
def evaluate(
    net: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int, device: torch.device
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``net`` (preprocessing included) on uint8 images."""
    net.eval()
    loss_sum, correct = 0.0, 0
    for idx in _batches(len(labels), batch_size, None):
        x, y = images[idx].to(device), labels[idx].to(device)
        logits = net(x)
        loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
    n = max(len(labels), 1)
    return loss_sum / n, correct / n


def train_classifier(
    model: nn.Module,
    preprocess: nn.Module,
    dataset: ImageDataset,
    recipe: Mapping[str, Any],
    classifier: str,
    seed: int = 0,
    device: torch.device | None = None,
    progress: bool = True,
) -> tuple[pl.DataFrame, dict[str, float]]:
    """Train ``model`` in place on the train split; return the per-epoch history and test metrics."""
    device = device or pick_device()
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    trainable = freeze_except(model, recipe.get("trainable"), always=[classifier])
    log.info("training %d parameter tensors on %s", len(trainable), device)
    net = nn.Sequential(preprocess, model).to(device)
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, recipe)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=recipe["milestones"], gamma=recipe["gamma"]
    )

    def split(name: str) -> tuple[torch.Tensor, torch.Tensor]:
        mask = dataset.split == name
        return torch.from_numpy(np.asarray(dataset.images[mask])), torch.from_numpy(dataset.labels[mask])

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = split("train"), split("val"), split("test")
    if len(y_train) == 0:
        raise ValueError(f"dataset {dataset.name!r} has no training samples")
    rows = []
    bs = recipe["batch_size"]
    for epoch in range(1, recipe["epochs"] + 1):
        start = time.perf_counter()
        net.train()
        _frozen_batchnorm_eval(net)
        loss_sum, correct, seen = 0.0, 0, 0
        batches = _batches(len(y_train), bs, generator)
        for step, idx in enumerate(
            tqdm(batches, desc=f"epoch {epoch}", disable=not progress, mininterval=5), 1
        ):
            x, y = x_train[idx].to(device), y_train[idx].to(device)
            logits = net(x)
            loss = nn.functional.cross_entropy(logits, y)
            if not math.isfinite(loss.item()):
                raise FloatingPointError(f"training loss became {loss.item()} at epoch {epoch}, step {step}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        val_loss, val_acc = evaluate(net, x_val, y_val, bs, device) if len(y_val) else (float("nan"),) * 2
        rows.append(
            {
                "epoch": epoch,
                "lr": lr,
                "train_loss": loss_sum / seen,
                "train_accuracy": correct / seen,
                "val_loss": val_loss,
                "val_accuracy": val_acc,
                "seconds": time.perf_counter() - start,
            }
        )
        log.info(
            "epoch %d: train loss %.4f acc %.4f | val loss %.4f acc %.4f",
            epoch,
            rows[-1]["train_loss"],
            rows[-1]["train_accuracy"],
            val_loss,
            val_acc,
        )
    test_loss, test_acc = evaluate(net, x_test, y_test, bs, device) if len(y_test) else (float("nan"),) * 2
    net.to("cpu").eval()
    return pl.DataFrame(rows), {"test_loss": test_loss, "test_accuracy": test_acc}
