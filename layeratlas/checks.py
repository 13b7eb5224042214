"""Checks of a validated config against the models themselves (what a schema cannot know): every
chosen layer exists in its model. Run before any job, so a typo in a layer name fails in seconds,
not after hours of training."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any


def layer_errors(config: Mapping[str, Any]) -> list[str]:
    """One message per unknown layer, naming the key, the value and the closest valid layer names.

    Each distinct (architecture, input size) is built once with random weights (nothing is downloaded).
    """
    from layeratlas.models import build_model, get_architecture
    from layeratlas.models.layers import layer_names

    known: dict[tuple, list[str]] = {}
    errors = []
    for model, spec in config["models"].items():
        key = (spec["architecture"], spec.get("input_size"))
        if key not in known:
            net = build_model({**spec, "weights": "none", "train": None}, num_classes=10)
            known[key] = layer_names(net, get_architecture(spec["architecture"]))
        valid = known[key]
        for layer in spec["layers"]:
            if layer not in valid:
                close = difflib.get_close_matches(layer, valid, n=5, cutoff=0.5)
                hint = f"closest: {', '.join(close)}" if close else "none is close"
                errors.append(
                    f"models.{model}.layers: {layer!r} is not a layer of {spec['architecture']} ({hint}; "
                    f"`layeratlas layers {spec['architecture']}` lists them all)"
                )
        errors += reduction_errors(model, spec, [layer for layer in spec["layers"] if layer in valid])
    return errors


def reduction_errors(model: str, spec: Mapping[str, Any], layers: list[str]) -> list[str]:
    """One message per layer whose reduction (a mapping) does not fit the layer's output shape, e.g.
    k x k pooling of a vector or channel indices beyond the channel count. The string reductions fit
    every layer, so the network is only run (once, one random image) when a mapping is used."""
    from layeratlas.reductions import reduction_errors as errors_for

    mapped = [layer for layer in layers if not isinstance(spec["layers"][layer], str)]
    if not mapped:
        return []
    import torch

    from layeratlas.models import build_model, get_architecture
    from layeratlas.models.layers import layer_shapes, truncated_graph
    from layeratlas.models.preprocess import Preprocess
    from layeratlas.models.zoo import input_size

    arch, size = get_architecture(spec["architecture"]), input_size(spec)
    with torch.random.fork_rng():
        net = build_model({**spec, "weights": "none", "train": None}, num_classes=10)
    image = Preprocess(size, arch.channels, arch.mean, arch.std)(
        torch.zeros(1, size, size, arch.channels, dtype=torch.uint8)
    )
    shapes = layer_shapes(truncated_graph(net, arch, mapped), image)
    return [
        e
        for layer in mapped
        for e in errors_for(shapes[layer], spec["layers"][layer], f"models.{model}.layers.{layer}")
    ]


_MODULES: dict[str, list[str]] = {}  # (architecture, input size, weights, head) -> module names


def _module_names(spec: Mapping[str, Any]) -> list[str]:
    """The module names of the network as training builds it (the recipe's head included), in order."""
    import torch

    from layeratlas.models.zoo import _create

    with torch.random.fork_rng():  # building must not move the caller's random state
        model, _ = _create(spec, num_classes=10, pretrained=False, base_classes=10)
    return [name for name, _ in model.named_modules() if name]


def _unknown_module(where: str, value: str, arch: str, modules: list[str], shown: int = 40) -> str:
    """``where: 'x' is not a module of arch; valid module names, closest first: ...``."""
    close = difflib.get_close_matches(value, modules, n=5, cutoff=0.5)
    rest = [m for m in modules if m.count(".") < 2 and m not in close]
    names = [*close, *rest]
    more = f", ... ({len(names) - shown} more)" if len(names) > shown else ""
    return (
        f"{where}: {value!r} is not a module of {arch}; valid module names, closest first: "
        f"{', '.join(names[:shown])}{more}"
    )


def recipe_errors(config: Mapping[str, Any]) -> list[str]:
    """One message per module a training recipe names (``train.trainable``, ``train.freeze``,
    ``train.lr_groups``) that the model, with the head the recipe puts on it, does not have; and for
    ``freeze: k`` with more children than the model has. Each names the key path, the value and the
    valid module names, closest first. Nothing is downloaded (random weights)."""
    errors = []
    for model, spec in config["models"].items():
        train = spec.get("train")
        if not train:
            continue
        named = {
            "trainable": list(train.get("trainable") or []),
            "freeze": [] if isinstance(train.get("freeze"), int) else list(train.get("freeze") or []),
            "lr_groups": list(train.get("lr_groups") or {}),
        }
        if not any(named.values()) and not isinstance(train.get("freeze"), int):
            continue
        key = repr(
            (spec["architecture"], spec.get("input_size"), spec.get("weights"), train.get("head"))
            + (train.get("new_head"),)
        )
        if key not in _MODULES:
            _MODULES[key] = _module_names(spec)
        modules, arch = _MODULES[key], spec["architecture"]
        where = f"models.{model}.train"
        for field, values in named.items():
            for value in values:
                if value not in modules:
                    path = f"{where}.{field}.{value}" if field == "lr_groups" else f"{where}.{field}"
                    errors.append(_unknown_module(path, value, arch, modules))
        freeze = train.get("freeze")
        if isinstance(freeze, int) and not isinstance(freeze, bool):
            children = [m for m in modules if "." not in m]
            if freeze > len(children):
                errors.append(
                    f"{where}.freeze: {freeze} is more children than {arch} has ({len(children)}: "
                    f"{', '.join(children)}); choose 0..{len(children)} or a list of module names"
                )
    return errors


def config_errors(config: Mapping[str, Any]) -> list[str]:
    """Everything the models themselves refuse in a validated config: unknown layers, then recipes
    that name modules the model lacks. Run by ``layeratlas validate`` and by the Snakefile before any job."""
    return [*layer_errors(config), *recipe_errors(config)]
