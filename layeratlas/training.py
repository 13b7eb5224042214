"""Train or fine-tune a classifier on a dataset's train split, validating every epoch.

The model is trained behind the same ``Preprocess`` module that the exported graph contains, so
training and extraction see identical inputs. A recipe (``models.<name>.train`` in the config, with the
schema's defaults filled in) chooses what is frozen, the head, the optimizer and per-module learning
rates, the schedule, label smoothing, augmentation, early stopping, two-stage training (head first)
and mixed precision on GPU.
"""

from __future__ import annotations

import copy
import logging
import math
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import torch
from torch import nn
from tqdm.auto import tqdm

from layeratlas.data.datasets import ImageDataset

log = logging.getLogger(__name__)

RECIPE_DEFAULTS: dict[str, Any] = {
    "epochs": 5,
    "batch_size": 64,
    "optimizer": "sgd",
    "lr": 0.01,
    "momentum": 0.9,
    "weight_decay": 0.0,
    "schedule": "multistep",
    "milestones": [],
    "gamma": 0.5,
    "label_smoothing": 0.0,
    "lr_groups": {},
    "trainable": None,
    "freeze": [],
    "head_epochs": 0,
    "early_stopping": None,
    "augment": {},
    "mixed_precision": True,
}


def with_defaults(recipe: Mapping[str, Any]) -> dict[str, Any]:
    """The recipe with the schema's defaults for keys it leaves out (for callers that skip validation)."""
    return {**RECIPE_DEFAULTS, **recipe}


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep freed memory for reuse instead of handing it back to the kernel.

    A step of EfficientNet at 112 px allocates and frees activations larger than glibc's largest dynamic
    mmap threshold (32 MiB; 32 x 96 x 56 x 56 floats are 38 MiB): each was a fresh mmap whose pages
    faulted in again, about 6 of the fine-tuning job's 47 CPU-seconds spent in the kernel. Allocation
    does not change arithmetic: the weights stay the same. The same as the environment's
    ``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_``. False where the C library is not glibc.
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # malloc.h
    return bool(mallopt(m_mmap_threshold, 1 << 30)) and bool(mallopt(m_trim_threshold, 2**31 - 1))


def pick_device() -> torch.device:
    """CUDA when torch sees a GPU (Snakemake's gpu resource only counts; CUDA_VISIBLE_DEVICES selects)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _owned_by(pname: str, modules: Sequence[str]) -> bool:
    return any(pname == m or pname.startswith(m + ".") for m in modules)


def _check_modules(model: nn.Module, names: Sequence[str], key: str) -> None:
    modules = dict(model.named_modules())
    missing = [m for m in names if m not in modules]
    if missing:
        valid = [n for n in modules if n and n.count(".") < 2]
        raise ValueError(f"train.{key}: no module named {missing}; modules: {', '.join(valid)}")


def freeze_except(model: nn.Module, trainable: Sequence[str] | None, always: Sequence[str] = ()) -> list[str]:
    """Freeze every parameter outside the modules named in ``trainable`` (plus ``always``).

    Returns the names of the trainable parameters. ``trainable=None`` leaves everything trainable.
    """
    if trainable is not None:
        _check_modules(model, [*trainable, *always], "trainable")
        keep = [*trainable, *always]
        for pname, param in model.named_parameters():
            param.requires_grad = _owned_by(pname, keep)
    return [n for n, p in model.named_parameters() if p.requires_grad]


def apply_freezing(model: nn.Module, recipe: Mapping[str, Any], head: Sequence[str]) -> list[str]:
    """Set ``requires_grad`` from the recipe: ``trainable`` (whitelist), then ``freeze`` (the first k
    children, or named modules). The ``head`` modules always train. Returns trainable parameter names."""
    for param in model.parameters():
        param.requires_grad = True
    freeze_except(model, recipe.get("trainable"), always=head)
    freeze = recipe.get("freeze") or []
    if isinstance(freeze, int):
        children = [name for name, _ in model.named_children()]
        if freeze > len(children):
            raise ValueError(f"train.freeze: {freeze} children asked, the model has {len(children)}")
        frozen = children[:freeze]
    else:
        _check_modules(model, freeze, "freeze")
        frozen = list(freeze)
    for pname, param in model.named_parameters():
        if _owned_by(pname, frozen) and not _owned_by(pname, head):
            param.requires_grad = False
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    if not names:
        raise ValueError("train: the recipe freezes every parameter; nothing would be trained")
    return names


def _frozen_batchnorm_eval(model: nn.Module) -> None:
    # A frozen BatchNorm must not drift its running statistics during fine-tuning.
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not any(
            p.requires_grad for p in module.parameters()
        ):
            module.eval()


def param_groups(model: nn.Module, recipe: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Optimizer parameter groups of the trainable parameters: one per ``lr_groups`` module (its lr),
    then the rest at ``lr``. Groups are named (``name``) and empty ones are left out. A parameter in two
    listed modules (``layer4`` and ``layer4.1``) goes to the most specific one."""
    lr_groups: Mapping[str, float] = recipe.get("lr_groups") or {}
    _check_modules(model, list(lr_groups), "lr_groups")
    by_depth = sorted(lr_groups, key=lambda m: m.count(".") + 1 if m else 0, reverse=True)
    members: dict[str, list[nn.Parameter]] = {m: [] for m in lr_groups}
    rest: list[nn.Parameter] = []
    for pname, param in model.named_parameters():
        if not param.requires_grad:
            continue
        owner = next((m for m in by_depth if _owned_by(pname, [m])), None)
        (members[owner] if owner is not None else rest).append(param)
    groups = [{"name": "default", "params": rest, "lr": recipe["lr"]}] if rest else []
    for module, params in members.items():
        if params:
            groups.append({"name": module, "params": params, "lr": float(lr_groups[module])})
        else:
            log.warning("train.lr_groups: module %s has no trainable parameters; ignored", module)
    return groups


def make_optimizer(params: list[Any], recipe: Mapping[str, Any]) -> torch.optim.Optimizer:
    """``params``: parameters or parameter groups (dicts with their own ``lr``)."""
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


def make_scheduler(
    optimizer: torch.optim.Optimizer, recipe: Mapping[str, Any], epochs: int, steps_per_epoch: int
) -> tuple[torch.optim.lr_scheduler.LRScheduler, bool]:
    """The recipe's schedule over ``epochs`` and whether it steps after every batch (else every epoch)."""
    name = recipe["schedule"]
    if name == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(
            optimizer, milestones=recipe["milestones"], gamma=recipe["gamma"]
        ), False
    total = max(epochs * steps_per_epoch, 1)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total), True
    if name == "onecycle":
        peaks = [g["lr"] for g in optimizer.param_groups]
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=peaks, total_steps=total), True
    raise ValueError(f"train.schedule: unknown {name!r}; choose one of multistep, cosine, onecycle")


def augments(augment: Mapping[str, Any]) -> bool:
    """Whether the recipe's ``augment`` changes any image."""
    return bool(augment.get("crop_padding") or augment.get("hflip") or augment.get("rotation"))


def augment_batch(
    images: torch.Tensor, augment: Mapping[str, Any], generator: torch.Generator
) -> torch.Tensor:
    """Random crop (zero padding ``crop_padding``), horizontal flip and rotation (+-``rotation`` degrees)
    of uint8 NHWC images, each image its own draw, as one affine resampling. Returns uint8 NHWC."""
    if not augments(augment):
        return images
    pad = int(augment.get("crop_padding") or 0)
    flip = bool(augment.get("hflip"))
    degrees = float(augment.get("rotation") or 0)
    n, h, w, _ = images.shape
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(degrees)
    sign = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if flip else torch.ones(n)
    # a crop of the padded image = a whole-pixel shift of at most ``pad``, filled with zeros
    shift_x = torch.randint(-pad, pad + 1, (n,), generator=generator).float() * 2 / w
    shift_y = torch.randint(-pad, pad + 1, (n,), generator=generator).float() * 2 / h
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [torch.stack([cos * sign, -sin, shift_x], 1), torch.stack([sin * sign, cos, shift_y], 1)], 1
    ).to(images.device)
    x = images.permute(0, 3, 1, 2).float()
    grid = nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    mode = "bilinear" if degrees else "nearest"  # shifts and flips move whole pixels: keep them exact
    out = nn.functional.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def _batches(n: int, batch_size: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return list(order.split(batch_size))


@torch.no_grad()
def predict(
    net: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int, device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """Per-image cross-entropy and predicted class of ``net`` (preprocessing included) on uint8 images."""
    net.eval()
    losses, predicted = [], []
    for idx in _batches(len(labels), batch_size, None):
        x, y = images[idx].to(device), labels[idx].to(device)
        logits = net(x).float()
        losses.append(nn.functional.cross_entropy(logits, y, reduction="none").cpu())
        predicted.append(logits.argmax(1).cpu())
    if not losses:
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    return torch.cat(losses).numpy(), torch.cat(predicted).numpy()


def evaluate(
    net: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int, device: torch.device
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``net`` (preprocessing included) on uint8 images."""
    if len(labels) == 0:
        return float("nan"), float("nan")
    losses, predicted = predict(net, images, labels, batch_size, device)
    return float(losses.mean()), float((predicted == labels.numpy()).mean())


def wilson_includes(correct: int, n: int, p: float, confidence: float = 0.95) -> bool:
    """Whether the Wilson score interval of ``correct`` successes in ``n`` trials includes ``p``.

    The Wilson interval is the set of proportions that the score test does not reject,
    ``(correct / n - p)**2 <= z**2 p (1 - p) / n``: deciding needs no interval, and no scipy.stats import
    in the training job (the interval itself: ``layeratlas.analysis.stats.wilson_interval``).
    """
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    return (correct / n - p) ** 2 <= z * z * p * (1 - p) / n


def chance_warning(
    final_train_loss: float, test_correct: int, n_test: int, n_classes: int, chance: float | None = None
) -> str | None:
    """Why a trained network looks like it learned nothing, or None.

    At chance when its last train loss is within 2% of ln(n_classes) (a uniform prediction's cross
    entropy) or the 95% Wilson interval of its test accuracy includes ``chance`` (default 1 / n_classes).
    """
    chance = 1.0 / n_classes if chance is None else chance
    reasons = []
    uniform = math.log(n_classes) if n_classes > 1 else 0.0
    if n_classes > 1 and math.isfinite(final_train_loss) and final_train_loss >= 0.98 * uniform:
        reasons.append(
            f"its last train loss {final_train_loss:.3f} is that of a uniform guess "
            f"(ln {n_classes} = {uniform:.3f})"
        )
    if n_test and wilson_includes(test_correct, n_test, chance):
        from layeratlas.analysis.stats import wilson_interval  # scipy.stats: only for the message

        low, high = wilson_interval(test_correct, n_test)
        reasons.append(
            f"its test accuracy {test_correct / n_test:.1%} (95% interval {low:.1%}-{high:.1%}, "
            f"{n_test} images) includes chance ({chance:.1%})"
        )
    if not reasons:
        return None
    return (
        "the network ended training at chance: "
        + "; ".join(reasons)
        + (
            ". Its layers' findings say little about what it learned "
            "(try more epochs, another lr, or check the labels)."
        )
    )


# --- the frozen prefix, computed once ---------------------------------------------------------------------
# Fine-tuning the last stages of a pretrained network: everything before the first trainable module gives
# every image the same output in every epoch (frozen weights, frozen BatchNorm in eval mode, no
# augmentation, nothing random). Its output is computed once per image and the trainable suffix trains on
# it: the same operations on the same values as the full network, without recomputing the prefix. Bit for
# bit where the prefix's kernels give an image the same result in a batch of any size (the default
# recipe); elsewhere the two differ in round-off (tests/test_training_prefix.py, benchmarks/README.md).

PREFIX_CACHE_MAX_BYTES = 2 * 1024**3  # a larger cache trains through the whole network, as before


class _Tracer(torch.fx.Tracer):
    """torch.fx's tracer with timm's leaf modules and functions (dynamic "same" padding), as
    ``timm.models.create_feature_extractor`` traces a timm model."""

    def __init__(self) -> None:
        leaves, functions = (), ()
        if "timm" in sys.modules:  # a timm model was built; other models hold no timm modules
            from timm.layers import get_notrace_functions, get_notrace_modules

            leaves, functions = tuple(get_notrace_modules()), tuple(get_notrace_functions())
        super().__init__(autowrap_functions=functions)
        self.leaves = leaves

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, self.leaves) or super().is_leaf_module(m, module_qualified_name)


def _holds_trainable(net: nn.Module, node: torch.fx.Node) -> bool:
    if node.op == "call_module":
        return any(p.requires_grad for p in net.get_submodule(node.target).parameters())
    if node.op == "get_attr":
        value = net.get_submodule(node.target.rpartition(".")[0]) if "." in node.target else net
        attr = getattr(value, node.target.rpartition(".")[2])
        return isinstance(attr, nn.Parameter | nn.Module) and any(
            p.requires_grad for p in ([attr] if isinstance(attr, nn.Parameter) else attr.parameters())
        )
    return False


_STOCHASTIC = ("dropout", "drop_path", "droppath", "dropblock", "drop_block", "rand", "bernoulli", "normal_")


def _random_in(net: nn.Module, nodes: Sequence[torch.fx.Node]) -> str | None:
    """A node of ``nodes`` that may draw random numbers or act differently in training, or None."""
    for node in nodes:
        if node.op == "call_module":
            for name, module in net.get_submodule(node.target).named_modules(prefix=str(node.target)):
                kind = type(module).__name__.lower()
                if isinstance(module, nn.modules.dropout._DropoutNd) and module.p > 0:
                    return name
                if any(s in kind for s in _STOCHASTIC) and float(getattr(module, "drop_prob", 1.0)) > 0:
                    return name
                if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.training:
                    return name
        elif node.op in ("call_function", "call_method"):
            target = getattr(node.target, "__name__", str(node.target)).lower()
            if any(s in target for s in _STOCHASTIC):
                return node.name
    return None


@dataclass
class FrozenPrefix:
    """``net`` cut before its first trainable module: ``prefix`` (uint8 images -> the one tensor that
    crosses the cut) and ``suffix`` (that tensor -> logits, sharing ``net``'s parameters), the suffix
    traced in training and in eval mode (a forward may read ``self.training``)."""

    prefix: nn.Module
    suffix_train: nn.Module
    suffix_eval: nn.Module


def _split_graph(net: nn.Module, graph: torch.fx.Graph) -> tuple[torch.fx.Graph, torch.fx.Graph] | str:
    """The prefix graph (input -> the one value that crosses the cut) and the suffix graph (that value ->
    output), cut before the first node that holds a trainable parameter; or why it cannot be cut."""
    nodes = list(graph.nodes)
    first = next((i for i, n in enumerate(nodes) if _holds_trainable(net, n)), None)
    if first is None:
        return "no module holds a trainable parameter"
    before = nodes[:first]
    read = {used for node in nodes[first:] for used in node.all_input_nodes}
    crossing = [n for n in before if n in read and n.op != "get_attr"]  # constants are copied over
    if len(crossing) != 1 or crossing[0].op == "placeholder":
        names = ", ".join(n.name for n in crossing)
        return f"the first trainable module reads the input or several prefix values ({names})"
    random = _random_in(net, before)
    if random is not None:
        return f"{random}, before the first trainable module, is random or trains"
    cut = crossing[0]
    prefix = torch.fx.Graph()
    env: dict[torch.fx.Node, torch.fx.Node] = {}
    for node in before:
        env[node] = prefix.node_copy(node, env.__getitem__)
    prefix.output(env[cut])
    suffix = torch.fx.Graph()
    env = {cut: suffix.placeholder("prefix_output")}
    for node in nodes[first:]:
        for used in node.all_input_nodes:
            if used not in env:  # a constant (get_attr) of the prefix
                env[used] = suffix.node_copy(used, env.__getitem__)
        env[node] = suffix.node_copy(node, env.__getitem__)
    return prefix, suffix


def _hooks_skipped(net: nn.Module, tracer: _Tracer) -> str | None:
    """A module with hooks whose forward a traced graph inlines (so never calls them), or None."""
    for name, module in net.named_modules():
        hooks = module._forward_hooks or module._forward_pre_hooks or module._backward_hooks
        if hooks and not tracer.is_leaf_module(module, name):
            return f"module {name!r}" if name else "the network"
    return None


def _train_mode(net: nn.Module, mode: bool) -> None:
    net.train(mode)
    if mode:
        _frozen_batchnorm_eval(net)


def frozen_prefix(net: nn.Module, augment: Mapping[str, Any]) -> FrozenPrefix | str:
    """Split ``net`` (parameters frozen or not as it trains) where its frozen prefix ends; or say why its
    prefix must run in every step: augmentation, nothing frozen, a prefix that is random or trains (or is
    traced otherwise in eval mode), a graph that does not cut at one tensor, or a network torch.fx cannot
    trace. Leaves ``net`` in eval mode."""
    if augments(augment):
        return "the recipe augments images"
    hooked = _hooks_skipped(net, _Tracer())  # before tracing: tracing calls them
    if hooked is not None:
        return f"{hooked} has hooks, which the traced graph would not call"
    split = {}
    for mode in (True, False):  # a forward may read self.training: one graph per mode, as it runs
        _train_mode(net, mode)
        try:
            graph = _Tracer().trace(net)
        except Exception as err:  # noqa: BLE001 - any tracing failure means: train the whole network
            net.eval()
            return f"torch.fx cannot trace the network ({type(err).__name__}: {err})"
        split[mode] = _split_graph(net, graph)
    net.eval()
    if isinstance(split[True], str):
        return split[True]
    prefix, suffix_train = split[True]
    if isinstance(split[False], str) or str(prefix) != str(split[False][0]):
        return "the prefix's graph differs between training and eval mode"
    prefix_module = torch.fx.GraphModule(net, prefix)
    prefix_module.graph.eliminate_dead_code()  # what only the suffix reads stays there
    prefix_module.recompile()
    return FrozenPrefix(
        prefix_module,
        torch.fx.GraphModule(net, suffix_train),
        torch.fx.GraphModule(net, split[False][1]),
    )


@torch.no_grad()
def prefix_outputs(
    plan: FrozenPrefix, images: Sequence[torch.Tensor], batch_size: int, device: torch.device
) -> list[torch.Tensor] | str:
    """The prefix's output for every image of each tensor in ``images`` (in eval mode, batch by batch as
    training reads them); or why not: a cache over PREFIX_CACHE_MAX_BYTES, or a prefix whose output
    differs between training and eval mode (a module the checks above do not know)."""
    if not any(len(x) for x in images):
        return "no images"
    plan.prefix.eval()
    first = next(x for x in images if len(x))[:batch_size].to(device)
    reference = plan.prefix(first)  # the first batch training reads, as _batches(..., None) cuts it
    size = reference[0].numel() * reference.element_size() * sum(len(x) for x in images)
    if size > PREFIX_CACHE_MAX_BYTES:
        return f"its output for every image would take {size / 1024**3:.1f} GiB"
    with torch.random.fork_rng(devices=[]):  # a random module must not move training's random stream
        _train_mode(plan.prefix, True)
        in_training = plan.prefix(first)
        plan.prefix.eval()
    if not torch.equal(in_training, reference):
        return "the prefix's output differs between training and eval mode"
    outputs, done = [], False
    for x in images:
        batches = _batches(len(x), batch_size, None)
        if len(x) and not done:  # the first batch is computed already
            parts, batches, done = [reference], batches[1:], True
        else:
            parts = []
        parts += [plan.prefix(x[idx].to(device)) for idx in batches]
        outputs.append(torch.cat(parts) if parts else reference.new_empty((0, *reference.shape[1:])))
    return outputs


def prefix_pays(epochs: int, sizes: Sequence[int], batch_size: int) -> bool:
    """Whether computing the prefix once per image (train, val, test: ``sizes``), plus one batch for the
    mode check, runs it on fewer images than ``epochs`` of training and validation and one test pass."""
    n_train, n_val, n_test = sizes
    return sum(sizes) + min(batch_size, n_train) < epochs * (n_train + n_val) + n_test


@dataclass
class TrainingResult:
    history: pl.DataFrame  # one row per epoch
    metrics: dict[str, Any]  # test loss/accuracy, best epoch, stop reason
    predictions: pl.DataFrame  # one row per test image: sample_id, label, predicted, loss


def _stages(recipe: Mapping[str, Any]) -> list[tuple[str, int]]:
    epochs, head_epochs = recipe["epochs"], min(recipe["head_epochs"], recipe["epochs"])
    stages = [("head", head_epochs)] if head_epochs else []
    if epochs - head_epochs:
        stages.append(("all", epochs - head_epochs))
    return stages


def train_classifier(
    model: nn.Module,
    preprocess: nn.Module,
    dataset: ImageDataset,
    recipe: Mapping[str, Any],
    head: str | Sequence[str],
    seed: int = 0,
    device: torch.device | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[int, nn.Module], None] | None = None,
) -> TrainingResult:
    """Train ``model`` in place on the train split; return the history, test metrics and predictions.

    ``head``: the module name(s) of the classifier head, trained in every stage. ``on_epoch_end(epoch,
    model)`` is called before training (epoch 0) and after every epoch (snapshots).
    """
    recipe = with_defaults(recipe)
    heads = [head] if isinstance(head, str) else list(head)
    device = device or pick_device()
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    amp = bool(recipe["mixed_precision"]) and device.type == "cuda"
    net = nn.Sequential(preprocess, model).to(device)

    def split(name: str) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        mask = dataset.split == name
        images = torch.from_numpy(np.ascontiguousarray(dataset.images[mask]))
        return images, torch.from_numpy(np.asarray(dataset.labels[mask])), np.flatnonzero(mask)

    (x_train, y_train, _), (x_val, y_val, _), (x_test, y_test, test_ids) = (
        split("train"),
        split("val"),
        split("test"),
    )
    if len(y_train) == 0:
        raise ValueError(f"dataset {dataset.name!r} has no training samples")
    bs = recipe["batch_size"]
    steps = math.ceil(len(y_train) / bs)
    patience = recipe["early_stopping"]
    best = {"loss": math.inf, "epoch": 0, "state": None}
    rows, epoch, stop_reason = [], 0, "completed"
    eval_net, inputs = net, {"train": x_train, "val": x_val, "test": x_test}
    if on_epoch_end is not None:
        on_epoch_end(0, model)
    for stage, stage_epochs in _stages(recipe):
        if stage == "head":
            trainable = freeze_except(model, [], always=heads)
        else:
            trainable = apply_freezing(model, recipe, heads)
        log.info(
            "stage %s: %d epochs, %d parameter tensors on %s", stage, stage_epochs, len(trainable), device
        )
        train_net, eval_net, inputs = net, net, {"train": x_train, "val": x_val, "test": x_test}
        # the frozen prefix of this stage (a head stage freezes more) computed once, where that holds
        if amp:
            plan = "mixed precision"
        elif not prefix_pays(stage_epochs, [len(y_train), len(y_val), len(y_test)], bs):
            plan = "too few epochs to pay for computing it once per image"
        else:
            plan = frozen_prefix(net, recipe["augment"])
        if not isinstance(plan, str):
            cached = prefix_outputs(plan, list(inputs.values()), bs, device)
            if isinstance(cached, str):
                plan = cached
            else:
                train_net, eval_net = plan.suffix_train, plan.suffix_eval
                inputs = dict(zip(inputs, cached, strict=True))
        log.info(
            "stage %s: %s",
            stage,
            f"the frozen prefix runs in every step ({plan})"
            if isinstance(plan, str)
            else f"the frozen prefix's output computed once per image, {tuple(inputs['train'].shape[1:])}",
        )
        groups = param_groups(model, recipe if stage == "all" else {**recipe, "lr_groups": {}})
        optimizer = make_optimizer(groups, recipe)
        scheduler, per_step = make_scheduler(optimizer, recipe, stage_epochs, steps)
        scaler = torch.amp.GradScaler("cuda", enabled=amp)
        for _ in range(stage_epochs):
            epoch += 1
            start = time.perf_counter()
            _train_mode(train_net, True)
            lr = optimizer.param_groups[0]["lr"]
            loss_sum, correct, seen = 0.0, 0, 0
            batches = _batches(len(y_train), bs, generator)
            for step, idx in enumerate(
                tqdm(batches, desc=f"epoch {epoch}", disable=not progress, mininterval=5), 1
            ):
                x = augment_batch(inputs["train"][idx], recipe["augment"], generator).to(device)
                y = y_train[idx].to(device)
                with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                    logits = train_net(x)
                    loss = nn.functional.cross_entropy(
                        logits.float(), y, label_smoothing=recipe["label_smoothing"]
                    )
                if not math.isfinite(loss.item()):
                    raise FloatingPointError(
                        f"training loss became {loss.item()} at epoch {epoch}, step {step}"
                    )
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                if per_step:
                    scheduler.step()
                loss_sum += loss.item() * len(y)
                correct += (logits.argmax(1) == y).sum().item()
                seen += len(y)
            if not per_step:
                scheduler.step()
            val_loss, val_acc = evaluate(eval_net, inputs["val"], y_val, bs, device)
            rows.append(
                {
                    "epoch": epoch,
                    "stage": stage,
                    "lr": lr,
                    "train_loss": loss_sum / seen,
                    "train_accuracy": correct / seen,
                    "val_loss": val_loss,
                    "val_accuracy": val_acc,
                    "seconds": time.perf_counter() - start,
                }
            )
            log.info(
                "epoch %d (%s): train loss %.4f acc %.4f | val loss %.4f acc %.4f",
                epoch,
                stage,
                rows[-1]["train_loss"],
                rows[-1]["train_accuracy"],
                val_loss,
                val_acc,
            )
            if on_epoch_end is not None:
                on_epoch_end(epoch, model)
            if patience is not None and math.isfinite(val_loss):
                if val_loss < best["loss"]:
                    best = {"loss": val_loss, "epoch": epoch, "state": copy.deepcopy(model.state_dict())}
                elif epoch - best["epoch"] >= patience:
                    stop_reason = f"early stop: no val loss improvement for {patience} epochs"
                    break
        if stop_reason != "completed":
            break
    if best["state"] is not None:
        model.load_state_dict(best["state"])
        log.info("keeping the weights of epoch %d (lowest val loss %.4f)", best["epoch"], best["loss"])
    losses, predicted = predict(eval_net, inputs["test"], y_test, bs, device)
    y_test_np = y_test.numpy()
    net.to("cpu").eval()
    metrics = {
        "test_loss": float(losses.mean()) if len(losses) else float("nan"),
        "test_accuracy": float((predicted == y_test_np).mean()) if len(losses) else float("nan"),
        "epochs_run": epoch,
        "best_epoch": best["epoch"] or epoch,
        "stopped": stop_reason,
        "mixed_precision": amp,
        "training_seconds": float(sum(r["seconds"] for r in rows)),
    }
    predictions = pl.DataFrame(
        {
            "sample_id": test_ids.astype(np.int64),
            "label": y_test_np.astype(np.int64),
            "predicted": predicted.astype(np.int64),
            "loss": losses.astype(np.float32),
        }
    )
    return TrainingResult(pl.DataFrame(rows), metrics, predictions)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """counts[true, predicted]."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(labels, np.int64), np.asarray(predicted, np.int64)), 1)
    return counts
