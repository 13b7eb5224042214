"""Config validation: the JSON Schema in workflow/schemas/ is the single source of what a config may
say; this module applies it (filling defaults) and adds the checks a schema cannot express."""

from __future__ import annotations

import copy
import difflib
import functools
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from layeratlas.data.datasets import dataset_errors, expand_datasets

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A config that cannot be run; the message names every bad key and what is allowed.

    ``messages`` holds one line per problem (``key.path: value ... allowed ...``)."""

    def __init__(self, messages: str | list[str]) -> None:
        self.messages = [messages] if isinstance(messages, str) else list(messages)
        super().__init__("invalid config:\n  " + "\n  ".join(self.messages))


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
    """The schema, parsed once per process (a fresh copy: callers may change theirs)."""
    return copy.deepcopy(_parsed_schema(str(path)))


@functools.lru_cache(maxsize=4)
def _parsed_schema(path: str) -> dict[str, Any]:
    return yaml.load(_schema_text(path), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def key_path(parts: Any) -> str:
    """``['models', 'cnn', 'layers']`` -> ``models.cnn.layers`` (the way a user reads a YAML key)."""
    return ".".join(str(p) for p in parts) or "<top level>"


# --- reading YAML: file, line and column in every error; a repeated key is refused, not kept last ---


def _duplicate_keys(node: yaml.Node, path: tuple = ()) -> Iterator[str]:
    """``key path: 'k' is given twice (lines a and b)`` for every mapping that repeats a key."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            line = key_node.start_mark.line + 1
            if key is not None and key in seen:
                yield (
                    f"{key_path((*path, key))}: key {key!r} is given twice (lines {seen[key]} and {line}); "
                    "YAML would keep only the last one silently, so remove or rename one"
                )
            elif key is not None:
                seen[key] = line
            yield from _duplicate_keys(value_node, (*path, key))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*path, i))


def read_yaml(path: str | os.PathLike) -> tuple[Any, list[str]]:
    """The YAML document in ``path`` and the problems that make it unusable (each naming the file, and
    the line and column for syntax errors); the document is None when it could not be read."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None, [f"{path}: no such file"]
    except IsADirectoryError:
        return None, [f"{path}: is a folder, not a config file"]
    except UnicodeDecodeError as exc:
        before = exc.object[: exc.start]
        line, column = before.count(b"\n") + 1, exc.start - (before.rfind(b"\n") + 1) + 1
        byte = exc.object[exc.start : exc.start + 1]
        return None, [
            f"{path}:{line}:{column}: not UTF-8 text (byte {byte!r}); save the file as UTF-8 "
            "(e.g. `iconv -f latin1 -t utf-8`)"
        ]
    except OSError as exc:
        return None, [f"{path}: cannot be read ({exc.strerror or exc})"]
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        return None, [f"{where}: not valid YAML: {what}"]
    except yaml.YAMLError as exc:
        return None, [f"{path}: not valid YAML: {exc}"]
    duplicates = list(_duplicate_keys(node)) if node is not None else []
    return data, [f"{path}: {d}" for d in duplicates]


# --- numbers: the schema's bounds let NaN through (every comparison with NaN is false) ---

MAX_INT = 2**63 - 1  # beyond this no library takes an integer (C long)


def number_errors(node: Any, path: tuple = ()) -> Iterator[str]:
    """One message per NaN, infinity or integer too large for any library, anywhere in ``node``, and
    per key that is not text (``1:`` or ``true:`` in YAML: every key of a config is a name)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if not isinstance(key, str):
                yield (
                    f"{key_path((*path, key))}: the key {key!r} is not allowed; keys are names (text): "
                    f"write it in quotes, '{key}'"
                )
                continue
            yield from number_errors(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from number_errors(value, (*path, i))
    elif isinstance(node, float) and not math.isfinite(node):
        yield f"{key_path(path)}: {node!r} is not allowed; NaN and infinity are refused, give a finite number"
    elif isinstance(node, int) and not isinstance(node, bool) and abs(node) > MAX_INT:
        yield f"{key_path(path)}: {node} is not allowed; integers must be below 2**63"


# --- schema errors as one line each: key path, bad value, what is allowed, closest names ---


def _json_type(value: Any) -> str:
    for kind, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string")):
        if isinstance(value, kind):
            return name
    return {type(None): "null", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def _types(schema: Mapping[str, Any]) -> set[str] | None:
    """The JSON types a (sub)schema accepts; None = any."""
    if "type" in schema:
        kind = schema["type"]
        return set(kind if isinstance(kind, list) else [kind])
    if "enum" in schema:
        return {_json_type(v) for v in schema["enum"]}
    if "const" in schema:
        return {_json_type(schema["const"])}
    return None


def _fits(value: Any, types: set[str] | None) -> bool:
    kind = _json_type(value)
    return types is None or kind in types or (kind == "integer" and "number" in types)


def _bounds(schema: Mapping[str, Any], noun: str) -> str:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    gt = ">" if "exclusiveMinimum" in schema else ">="
    lt = "<" if "exclusiveMaximum" in schema else "<="
    if low is not None and high is not None:
        if gt == ">=" and lt == "<=":
            return f"{noun} from {low} to {high}"
        return f"{noun} {gt} {low} and {lt} {high}"
    if low is not None:
        return f"{noun} {gt} {low}"
    if high is not None:
        return f"{noun} {lt} {high}"
    return noun


def allowed_text(schema: Mapping[str, Any]) -> str:
    """What a (sub)schema accepts, in words: ``an integer from 1 to 5, or a list of them``."""
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    if "const" in schema:
        return repr(schema["const"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return ", or ".join(allowed_text(sub) for sub in schema[key])
    words = []
    for kind in sorted(_types(schema) or []):
        if kind in ("integer", "number"):
            words.append(_bounds(schema, "an integer" if kind == "integer" else "a number"))
        elif kind == "array":
            items = schema.get("items")
            words.append(f"a list, each item {allowed_text(items)}" if items else "a list")
        elif kind == "string":
            described = "pattern" in schema and "description" in schema
            words.append(schema["description"] if described else "a string")
        else:
            words.append({"object": "a mapping", "boolean": "true or false", "null": "null"}[kind])
    if not words and "description" in schema:
        return schema["description"]
    return " or ".join(words) or "anything"


def _internal(schema: Any) -> bool:
    return isinstance(schema, dict) and bool(schema.get("readOnly"))


def _unknown_keys(where: str, error: jsonschema.ValidationError) -> str:
    """Unknown keys with the closest allowed one; keys the workflow sets itself (readOnly) are not offered."""
    properties = error.schema.get("properties", {})
    allowed = sorted(k for k, sub in properties.items() if not _internal(sub))
    extra = sorted(set(error.instance) - set(properties), key=str)
    parts = []
    for key in extra:
        close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
        parts.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return f"{where}: unknown key(s) {', '.join(parts)}; allowed keys: {', '.join(allowed) or 'none'}"


VALUE_CUTOFF = 0.7  # difflib similarity for "did you mean" on values (isomap is not umap)


def _describe(error: jsonschema.ValidationError) -> str:
    where = key_path(error.absolute_path)
    if error.validator == "enum":
        allowed = ", ".join(repr(v) for v in error.validator_value)
        close = difflib.get_close_matches(
            str(error.instance), [str(v) for v in error.validator_value], n=1, cutoff=VALUE_CUTOFF
        )
        hint = f" (did you mean {close[0]!r}?)" if close and isinstance(error.instance, str) else ""
        return f"{where}: {error.instance!r} is not allowed{hint}; choose one of {allowed}"
    if error.validator in ("anyOf", "oneOf"):
        branches = error.validator_value
        fitting = [i for i, sub in enumerate(branches) if _fits(error.instance, _types(sub))]
        inner = [e for e in error.context or [] if len(fitting) == 1 and e.schema_path[0] == fitting[0]]
        if inner:  # only one form takes this kind of value: say what is wrong inside it
            return _describe(min(inner, key=lambda e: len(e.absolute_path)))
        choices = [repr(v) for sub in branches for v in sub.get("enum", [])]
        if choices:  # "a name from a list, or something of a described form" (e.g. models.*.architecture)
            choices += [sub["description"] for sub in branches if "description" in sub and "enum" not in sub]
            names = [v for sub in branches for v in sub.get("enum", []) if isinstance(v, str)]
            close = difflib.get_close_matches(str(error.instance), names, n=1, cutoff=VALUE_CUTOFF)
            hint = f" (did you mean {close[0]!r}?)" if close and isinstance(error.instance, str) else ""
            return f"{where}: {error.instance!r} is not allowed{hint}; choose one of {', '.join(choices)}"
        return f"{where}: {error.instance!r} is not allowed; allowed: {allowed_text(error.schema)}"
    if error.validator == "additionalProperties":
        return _unknown_keys(where, error)
    if error.validator in ("maxProperties", "minProperties"):
        keys = ", ".join(map(repr, error.instance))
        limit = error.validator_value
        if error.validator == "maxProperties":
            need = "exactly one key" if limit == 1 else f"at most {limit} keys"
        else:
            need = f"at least {limit} key(s)"
        return f"{where}: has {len(error.instance)} key(s) ({keys or 'none'}); give {need}"
    if error.validator == "uniqueItems" and isinstance(error.instance, list):  # name the value, not the list
        seen: list = []
        twice = next((v for v in error.instance if v in seen or seen.append(v)), None)
        return (
            f"{where}: {error.instance!r} has non-unique elements: {twice!r} is given twice; "
            "give each value once"
        )
    if error.validator == "pattern" and "description" in error.schema:  # the words, not the regex
        return f"{where}: {error.instance!r} is not allowed; allowed: {error.schema['description']}"
    if error.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "type", "pattern"):
        return f"{where}: {error.message}; allowed: {allowed_text(error.schema)}"
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
    yield from cross_key_errors(config)


# --- rules between keys (each names the key that has to change and the values it may take) ---


def _model_where(name: str, spec: Mapping[str, Any]) -> str:
    """``models.<name>``; a sweep member is named by its sweep and value (the key the user wrote)."""
    group = spec.get("sweep_group")
    if group:
        return f"models.{group['name']} (sweep member {group['parameter']}={group['value']!r})"
    return f"models.{name}"


def _split_missing(name: str, spec: Mapping[str, Any], split: str) -> str | None:
    """Why dataset ``name`` has no images in ``split`` (None when it has)."""
    from layeratlas.data.datasets import OWN_TEST_SPLIT

    kept = spec.get("splits") or ["train", "val", "test"]
    if split not in kept:
        return f"datasets.{name}.splits keeps only {', '.join(kept)}"
    own_test = spec["source"] in OWN_TEST_SPLIT and spec.get("own_test_split", True)
    if (split != "test" or not own_test) and not (spec.get("split") or {}).get(split, 1) > 0:
        return f"datasets.{name}.split.{split} is 0"
    return None


def cross_key_errors(config: Mapping[str, Any]) -> Iterator[str]:
    """Combinations each key allows alone but not together: snapshots and head_epochs against epochs,
    the analysed split against every dataset's splits, PCA dims against the number of images, ImageNet
    weights against the architecture, timm model names, and the report's keys (report_key_errors)."""
    from layeratlas.models.zoo import get_architecture

    datasets = config.get("datasets", {})
    split = config.get("analyses", {}).get("split", "all")
    if split != "all":
        for name, spec in datasets.items():
            if why := _split_missing(name, spec, split):
                kept = [s for s in ("train", "val", "test") if not _split_missing(name, spec, s)]
                yield (
                    f"analyses.split: {split!r} is not a split dataset {name!r} has ({why}); "
                    f"choose 'all' or a split every dataset has ({', '.join(kept) or 'none'} for {name!r})"
                )
    yield from report_key_errors(config)
    from layeratlas.data.datasets import dataset_size

    images = {name: dataset_size(spec) for name, spec in datasets.items()}
    known = {name: n for name, n in images.items() if n is not None}
    for name, spec in config.get("models", {}).items():
        if spec.get("snapshot_of"):
            continue  # its training run's model is checked
        where = _model_where(name, spec)
        try:
            arch = get_architecture(spec["architecture"])
        except ValueError as error:
            yield f"{where}.architecture: {error}"
            continue
        if spec.get("weights") == "imagenet" and arch.imagenet_weights is None:
            yield (
                f"{where}.weights: 'imagenet' is not available for {arch.name} (no published ImageNet "
                "weights); choose none or the path of a weights file"
            )
        train = spec.get("train") or {}
        epochs = train.get("epochs")
        for epoch in train.get("snapshots") or []:
            if epochs is not None and epoch > epochs:
                yield (
                    f"{where}.train.snapshots: epoch {epoch} is after the last epoch ({epochs}); "
                    f"allowed: 0 to {epochs} (train.epochs)"
                )
        head = train.get("head_epochs") or 0
        if epochs is not None and head and head >= epochs:
            yield (
                f"{where}.train.head_epochs: {head} is not below train.epochs ({epochs}), so nothing "
                f"would be fine-tuned after the head; allowed: 0 to {epochs - 1}"
            )
        for layer, value in (spec.get("layers") or {}).items():
            if not isinstance(value, dict) or value.get("reduction") != "pca":
                continue
            dim, fit = value.get("dim"), value.get("fit_samples")
            if fit is not None and dim is not None and fit < dim:
                yield (
                    f"{where}.layers.{layer}.fit_samples: {fit} is fewer than dim ({dim}); PCA needs at "
                    f"least dim images to fit; allowed: {dim} or more, or null"
                )
            for dataset, n in known.items():
                if dim is not None and n < dim:
                    yield (
                        f"{where}.layers.{layer}.dim: {dim} is more than the {n} images dataset {dataset!r} "
                        f"holds; PCA needs at least dim images to fit; allowed: 1 to {n}"
                    )


# --- values that cannot work for the dataset's size (the images per split before any job) ---


def _written(raw: Any, *path: str) -> bool:
    """Whether the user's own config sets ``path`` (a default that does not fit is clipped, not refused)."""
    node = raw
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _fmt(x: float) -> str:
    return f"{x:,.2f}".rstrip("0").rstrip(".")


def size_limits(config: Mapping[str, Any]) -> Iterator[tuple[tuple[str, ...], Any, float, str]]:
    """(key path, value, limit, why) of each size-dependent value above what a dataset allows: t-SNE's
    perplexity ((m - 1) / 3 of the m points it is fitted on), UMAP's n_neighbors (m - 1), kNN's k (the
    train images), and the thumbnail and explorer caps (the classes: each class shows at least one
    image). Sizes from layeratlas.data.datasets.split_sizes; datasets whose size is unknown are skipped."""
    from layeratlas.data.datasets import source_class_counts, split_sizes

    analyses = config.get("analyses", {})
    split = analyses.get("split", "all")
    embeddings = analyses.get("embeddings", [])
    for name, spec in config.get("datasets", {}).items():
        sizes = split_sizes(spec)
        if sizes is None:
            continue
        n = sum(sizes.values()) if split == "all" else sizes[split]
        images = f"the {n:,} {'' if split == 'all' else split + ' '}images of dataset {name!r}"
        for method, key, limit_of in (
            ("tsne", "perplexity", lambda m: (m - 1) / 3),
            ("umap", "n_neighbors", lambda m: m - 1),
        ):
            options = analyses.get(method, {})
            if method not in embeddings or key not in options:
                continue
            fit = options.get("fit_samples")
            m = n if fit is None else min(n, fit)
            on = images if m == n else f"the {m:,} of {images} it is fitted on ({method}.fit_samples)"
            rule = "(m - 1) / 3" if method == "tsne" else "m - 1"
            if options[key] > limit_of(m):
                yield (
                    ("analyses", method, key),
                    options[key],
                    limit_of(m),
                    f"{on}: at most {rule} of the m points",
                )
        probes = analyses.get("probes", {})
        if probes.get("enabled", True) and "knn" in probes.get("classifiers", []):
            for i, k in enumerate(probes.get("k", [])):
                if k > sizes["train"]:
                    train = f"the {sizes['train']:,} train images of dataset {name!r}"
                    yield (
                        ("analyses", "probes", "k", i),
                        k,
                        sizes["train"],
                        f"{train}: k neighbours among them",
                    )
        counts = source_class_counts(spec) or {}
        classes = len(next(iter(counts.values()), []))
        for block, on in (("thumbnails", bool(embeddings)), ("explorer", bool(embeddings))):
            options = analyses.get(block, {})
            cap = options.get("max_points")
            if on and options.get("enabled", True) and cap is not None and classes and cap < classes:
                yield (
                    (("analyses", block, "max_points")),
                    cap,
                    -classes,  # a lower bound
                    f"the {classes} classes of dataset {name!r}: each class shows at least one image",
                )


def size_limit_errors(config: Mapping[str, Any], raw: Any) -> list[str]:
    """One message per size-dependent value the user wrote (``raw``) that cannot work for a dataset, naming
    the key, the value and the limit; the same value beyond a limit as a default is clipped by the
    analysis, and ``size_limit_notes`` says so."""
    errors = []
    for path, value, limit, why in size_limits(config):
        if not _written(raw, *[p for p in path if isinstance(p, str)]):
            continue
        where = key_path(path)
        if limit < 0:
            errors.append(f"{where}: {value} is fewer than {why}; allowed: {-limit:g} or more")
        else:
            whole = isinstance(value, int) and float(limit).is_integer()
            allowed = f"1 to {int(limit):,}" if whole else f"a number > 0 and <= {_fmt(limit)}"
            errors.append(f"{where}: {value} is more than {why} ({_fmt(limit)}); allowed: {allowed}")
    return list(dict.fromkeys(errors))


def size_limit_notes(config: Mapping[str, Any], raw: Any) -> list[str]:
    """The defaults that a dataset's size clips (what ``layeratlas validate`` says after "valid")."""
    notes = []
    for path, value, limit, why in size_limits(config):
        if _written(raw, *[p for p in path if isinstance(p, str)]):
            continue
        bound = f"at least {-limit:g}" if limit < 0 else f"{_fmt(limit)}"
        notes.append(f"{key_path(path)}: the default {value} becomes {bound} for {why}")
    return list(dict.fromkeys(notes))


def _expand_model_sweeps(checked: dict, schema_path: str | os.PathLike) -> list[str]:
    """One model per swept value and per training snapshot (layeratlas.models.sweeps), each checked
    against the models schema."""
    from layeratlas.models.sweeps import expand_snapshots, expand_sweeps

    try:
        checked["models"] = expand_snapshots(expand_sweeps(checked["models"]))
    except ValueError as error:
        return [str(error)]
    models_schema = load_schema(schema_path)["properties"]["models"]
    messages = []
    for error in _Validator(models_schema).iter_errors(checked["models"]):
        text = "models." + _describe(error)
        member = checked["models"].get(error.absolute_path[0]) if error.absolute_path else None
        group = member.get("sweep_group") if isinstance(member, dict) else None
        if group:  # say which sweep made the model (its name is not in the user's file)
            text = (
                f"models.{group['name']}.sweep: {group['parameter']}: {group['value']!r} makes model "
                f"{error.absolute_path[0]!r} invalid: {text}"
            )
        messages.append(text)
    return messages + list(number_errors(checked["models"], ("models",)))


def config_problems(
    config: Any, schema_path: str | os.PathLike = SCHEMA_PATH
) -> tuple[dict | None, list[str]]:
    """A validated copy of ``config`` with defaults filled in (None when it could not be made), and every
    problem found: the schema's and NaN/infinity first (all of them), then, when those are clean, the
    datasets' own rules, sweep and snapshot expansion, and the rules between keys."""
    if not isinstance(config, Mapping):
        shown = repr(config)
        shown = shown if len(shown) < 60 else shown[:57] + "..."
        return None, [
            f"<top level>: {shown} is not allowed; a config is a mapping with datasets, models and "
            "optional seed, extraction, analyses, robustness"
        ]
    checked = copy.deepcopy(dict(config))
    found = _Validator(load_schema(schema_path)).iter_errors(checked)
    errors = sorted(found, key=lambda e: tuple(map(str, e.absolute_path)))
    numbers = list(number_errors(checked))
    bad_numbers = {m.split(": ", 1)[0] for m in numbers}  # one message per key: not also a type error
    messages = numbers + [_describe(e) for e in errors if key_path(e.absolute_path) not in bad_numbers]
    if not messages:  # dataset checks, then lists of corruptions become one dataset per pair
        messages = dataset_errors(checked["datasets"])
    if not messages:
        checked["datasets"] = expand_datasets(checked["datasets"])
        messages = _expand_model_sweeps(checked, schema_path)
    if not messages:
        messages = list(_semantic_errors(checked))
    if not messages:
        messages = size_limit_errors(checked, config)
    return checked, list(dict.fromkeys(messages))  # a message said twice (sweep members) once


def validate_config(config: Mapping[str, Any], schema_path: str | os.PathLike = SCHEMA_PATH) -> dict:
    """Return a validated copy of ``config`` with defaults filled in, or raise ConfigError naming every
    problem (``layeratlas.checks.check_config`` adds the checks against models and files)."""
    checked, messages = config_problems(config, schema_path)
    if messages:
        raise ConfigError(messages)
    return checked


def load_config(path: str | os.PathLike) -> dict:
    """Read a YAML config file (a repeated key is an error) and validate it."""
    raw, problems = read_yaml(path)
    if problems:
        raise ConfigError(problems)
    return validate_config(raw if raw is not None else {})


# --- the report's keys, resolved once ------------------------------------------------------------------
# report.pairs, report.atlas_embedding and analyses.explorer.embedding are read by the rules (report.smk,
# explorer.smk) and by the pages; they all call these functions, and check_config refuses what they cannot
# resolve (report_key_errors) before any rule file is parsed.

EMBEDDING_PREFERENCE = ("tsne", "umap", "pca")  # the map shown when none is chosen: the first computed


def trained_from(spec: Mapping[str, Any]) -> str | None:
    """Where a trained model's weights start: ``"scratch"``, the weights' name, or None when untrained."""
    if not spec.get("train"):
        return None
    weights = str(spec.get("weights", "none"))
    return "scratch" if weights == "none" else weights


def _automatic_pairs(models: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str]]:
    """Every trained model that starts from pretrained weights, paired with the untrained model of the same
    architecture and weights. Training snapshots (``<name>-epoch<k>``) are neither side of a pair: a
    snapshot is a stage of its training run, not weights as they are."""
    pairs = []
    for tuned, spec in models.items():
        if trained_from(spec) in (None, "scratch") or spec.get("snapshot_of"):
            continue
        for base, other in models.items():
            if (
                base != tuned
                and not other.get("train")
                and not other.get("snapshot_of")
                and other["architecture"] == spec["architecture"]
                and str(other.get("weights", "none")) == str(spec.get("weights", "none"))
            ):
                pairs.append((base, tuned))
                break
    return pairs


def report_key_errors(config: Mapping[str, Any]) -> Iterator[str]:
    """report.pairs naming unknown models or a model with itself; analyses.explorer.embedding naming an
    embedding that is not computed."""
    models = config.get("models") or {}
    for i, pair in enumerate((config.get("report") or {}).get("pairs") or []):
        where = key_path(("report", "pairs", i))
        for name in pair:
            if name not in models:
                close = difflib.get_close_matches(str(name), list(models), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                yield f"{where}: {name!r} is not a model; {hint}allowed: {', '.join(sorted(models))}"
        if len(pair) == 2 and pair[0] == pair[1]:
            yield f"{where}: [{pair[0]}, {pair[1]}] pairs a model with itself; name two different models"
    analyses = config.get("analyses") or {}
    explorer = analyses.get("explorer")
    if isinstance(explorer, Mapping) and explorer.get("enabled", True):
        chosen, computed = explorer.get("embedding"), list(analyses.get("embeddings") or [])
        if chosen is not None and computed and chosen not in computed:
            yield (
                f"analyses.explorer.embedding: {chosen!r} is not computed; analyses.embeddings computes only "
                f"{', '.join(computed)}: choose one of those, add {chosen!r} to analyses.embeddings, "
                "or set analyses.explorer.enabled: false"
            )


def model_pairs(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(reference, other) model pairs to compare: the automatic pretrained -> fine-tuned pairs, then those
    of ``report.pairs`` (without repeats). Expects a config that passed check_config."""
    if errors := [e for e in report_key_errors(config) if e.startswith("report.pairs")]:
        raise ConfigError(errors)
    pairs = _automatic_pairs(config["models"])
    for a, b in (config.get("report") or {}).get("pairs") or []:
        if (a, b) not in pairs:
            pairs.append((a, b))
    return pairs


def atlas_embedding(config: Mapping[str, Any]) -> str | None:
    """The 2-D map the atlas and the comparisons draw: report.atlas_embedding when analyses.embeddings
    computes it, else the first computed of t-SNE, UMAP, PCA; None when no embedding is computed."""
    computed = list(config["analyses"]["embeddings"])
    chosen = (config.get("report") or {}).get("atlas_embedding")
    if chosen in computed:
        return chosen
    return next((e for e in EMBEDDING_PREFERENCE if e in computed), None)


def explorer_embedding(config: Mapping[str, Any]) -> str | None:
    """The embedding the explorer opens with, or None when there is no explorer to build (explorer off,
    or no embedding computed). ``analyses.explorer.embedding`` null picks the first computed of t-SNE,
    UMAP, PCA; a named one must be computed (else ConfigError naming the key)."""
    analyses = config["analyses"]
    options, computed = analyses["explorer"], list(analyses["embeddings"])
    if not options["enabled"] or not computed:
        return None
    if errors := [e for e in report_key_errors(config) if e.startswith("analyses.explorer")]:
        raise ConfigError(errors)
    return options.get("embedding") or next(e for e in EMBEDDING_PREFERENCE if e in computed)
