"""Config validation: the JSON Schema in workflow/schemas/ is the single source of what a config may
say; this module applies it (filling defaults) and adds the checks a schema cannot express."""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from layeratlas.data.datasets import dataset_errors, expand_datasets

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A config that cannot be run; the message names every bad key and what is allowed."""


def _with_defaults(validator_class: type) -> type:
    """Extend a jsonschema validator so that validating also fills in ``default`` values."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):  # noqa: ANN001
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


@functools.lru_cache(maxsize=4)
def _schema_text(path: str) -> str:
    return Path(path).read_text()


def load_schema(path: str | os.PathLike = SCHEMA_PATH) -> dict[str, Any]:
    return yaml.safe_load(_schema_text(str(path)))


def key_path(parts: Any) -> str:
    """``['models', 'cnn', 'layers']`` -> ``models.cnn.layers`` (the way a user reads a YAML key)."""
    return ".".join(str(p) for p in parts) or "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    where = key_path(error.absolute_path)
    if error.validator == "enum":
        allowed = ", ".join(repr(v) for v in error.validator_value)
        return f"{where}: {error.instance!r} is not allowed; choose one of {allowed}"
    if error.validator == "anyOf" and any("enum" in sub for sub in error.validator_value):
        # "a name from a list, or something of a described form" (e.g. models.*.architecture)
        choices = [repr(v) for sub in error.validator_value for v in sub.get("enum", [])]
        choices += [sub["description"] for sub in error.validator_value if "description" in sub]
        return f"{where}: {error.instance!r} is not allowed; choose one of {', '.join(choices)}"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return (
            f"{where}: unknown key(s) {', '.join(map(repr, extra))}; "
            f"allowed keys: {', '.join(allowed) or 'none'}"
        )
    return f"{where}: {error.message}"


def _semantic_errors(config: Mapping[str, Any]) -> Iterator[str]:
    datasets = config.get("datasets", {})  # their own checks: layeratlas.data.datasets.dataset_errors
    from layeratlas.robustness.config import robustness_errors
    from layeratlas.robustness.finetune import training_datasets

    for name, spec in config.get("models", {}).items():
        train = spec.get("train")
        try:
            if train:  # a name, or a list of them (pooled; a corruption list = every dataset it expands to)
                training_datasets(train["dataset"], datasets)
        except KeyError as missing:
            yield (
                f"models.{name}.train.dataset: {missing.args[0]!r} is not a configured dataset; "
                f"choose one of {', '.join(map(repr, datasets))}"
            )
    yield from robustness_errors(config)


def _expand_model_sweeps(checked: dict, schema_path: str | os.PathLike) -> list[str]:
    """One model per swept value and per training snapshot (layeratlas.models.sweeps), each checked
    against the models schema."""
    from layeratlas.models.sweeps import expand_snapshots, expand_sweeps

    try:
        checked["models"] = expand_snapshots(expand_sweeps(checked["models"]))
    except ValueError as error:
        return [str(error)]
    models_schema = load_schema(schema_path)["properties"]["models"]
    return ["models." + _describe(e) for e in _Validator(models_schema).iter_errors(checked["models"])]


def validate_config(config: Mapping[str, Any], schema_path: str | os.PathLike = SCHEMA_PATH) -> dict:
    """Return a validated copy of ``config`` with defaults filled in, or raise ConfigError."""
    checked = copy.deepcopy(dict(config))
    errors = sorted(_Validator(load_schema(schema_path)).iter_errors(checked), key=lambda e: e.path)
    messages = [_describe(e) for e in errors]
    if not messages:  # dataset checks, then lists of corruptions become one dataset per pair
        messages = dataset_errors(checked["datasets"])
    if not messages:
        checked["datasets"] = expand_datasets(checked["datasets"])
        messages = _expand_model_sweeps(checked, schema_path)
    if not messages:
        messages = list(_semantic_errors(checked))
    if messages:
        raise ConfigError("invalid config:\n  " + "\n  ".join(messages))
    return checked


def load_config(path: str | os.PathLike) -> dict:
    """Read a YAML config file and validate it."""
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return validate_config(raw)
