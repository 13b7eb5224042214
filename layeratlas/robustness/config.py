"""The ``robustness:`` block of a validated config, resolved: which datasets are corrupted copies of the
clean one (with their corruption and severity), which models and layers are evaluated, which networks have
a head of their own, and which (original, fine-tuned) pairs get the 2 x 2 figure."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CorruptedDataset:
    dataset: str  # the dataset name (after expansion): <name>-<corruption>-<severity> or a single one
    corruption: str
    severity: int


def _matches(requested: str, name: str, spec: Mapping[str, Any]) -> bool:
    corruption = spec.get("corruption")
    if not corruption:
        return False
    return name == requested or name == f"{requested}-{corruption['name']}-{corruption['severity']}"


def corrupted_datasets(config: Mapping[str, Any]) -> list[CorruptedDataset]:
    """The corrupted datasets the block names, in config order (an entry with a list of corruptions or
    severities stands for every dataset it expanded to). ``config`` is validated (datasets expanded)."""
    block = config.get("robustness") or {}
    out: dict[str, CorruptedDataset] = {}
    for requested in block.get("corrupted", []):
        for name, spec in config["datasets"].items():
            if _matches(requested, name, spec):
                c = spec["corruption"]
                out[name] = CorruptedDataset(name, str(c["name"]), int(c["severity"]))
    return list(out.values())


def corruptions(config: Mapping[str, Any]) -> list[str]:
    """The corruption names evaluated, in config order (one accuracy-versus-severity figure each)."""
    return list(dict.fromkeys(c.corruption for c in corrupted_datasets(config)))


def robustness_models(config: Mapping[str, Any]) -> list[str]:
    block = config.get("robustness") or {}
    names = block.get("models")
    return list(config["models"]) if names is None else list(names)


def robustness_layers(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """{model: [layer, ...]} evaluated: ``robustness.layers[model]``, else every layer the model extracts."""
    chosen = (config.get("robustness") or {}).get("layers") or {}
    return {
        m: list(chosen[m]) if m in chosen else list(config["models"][m]["layers"])
        for m in robustness_models(config)
    }


def head_models(config: Mapping[str, Any]) -> list[str]:
    """Evaluated models that the workflow trains (their own classifier head is evaluated too)."""
    return [
        m
        for m in robustness_models(config)
        if config["models"][m].get("train") and not config["models"][m].get("snapshot_of")
    ]


def robustness_errors(config: Mapping[str, Any]) -> Iterator[str]:
    """What the schema cannot say about ``robustness``: each message names the key and the choices."""
    block = config.get("robustness")
    if not block:
        return
    datasets, models = config["datasets"], config["models"]
    if block["clean"] not in datasets:
        yield (
            f"robustness.clean: {block['clean']!r} is not a configured dataset; "
            f"choose one of {', '.join(map(repr, datasets))}"
        )
    elif datasets[block["clean"]].get("corruption"):
        yield f"robustness.clean: dataset {block['clean']!r} is itself corrupted; name the clean one"
    corrupted_names = [n for n, s in datasets.items() if s.get("corruption")]
    for requested in block["corrupted"]:
        if not any(_matches(requested, n, s) for n, s in datasets.items()):
            yield (
                f"robustness.corrupted: {requested!r} names no corrupted dataset; choose datasets with a "
                f"corruption: {', '.join(map(repr, corrupted_names)) or 'none is configured'}"
            )
    for name in block.get("models") or []:
        if name not in models:
            yield (
                f"robustness.models: {name!r} is not a configured model; "
                f"choose one of {', '.join(map(repr, models))}"
            )
    for name, layers in (block.get("layers") or {}).items():
        if name not in models:
            yield f"robustness.layers: {name!r} is not a configured model; choose one of {', '.join(models)}"
            continue
        for layer in layers:
            if layer not in models[name]["layers"]:
                yield (
                    f"robustness.layers.{name}: {layer!r} is not a layer that model {name!r} extracts; "
                    f"choose one of {', '.join(models[name]['layers'])}"
                )
    resolved = [c.dataset for c in corrupted_datasets(config)]
    for i, pair in enumerate(block.get("compare") or []):
        where = f"robustness.compare.{i}"
        for key in ("original", "finetuned"):
            if pair[key] not in models:
                yield (
                    f"{where}.{key}: {pair[key]!r} is not a configured model; "
                    f"choose one of {', '.join(models)}"
                )
            elif pair["layer"] not in models[pair[key]]["layers"]:
                yield (
                    f"{where}.layer: {pair['layer']!r} is not a layer that model {pair[key]!r} extracts; "
                    f"choose one of {', '.join(models[pair[key]]['layers'])}"
                )
        if pair["dataset"] not in resolved:
            yield (
                f"{where}.dataset: {pair['dataset']!r} is not one of the corrupted datasets of "
                f"robustness.corrupted; choose one of {', '.join(resolved)}"
            )


def compare_pairs(config: Mapping[str, Any]) -> list[dict[str, str]]:
    return [dict(p) for p in (config.get("robustness") or {}).get("compare") or []]
