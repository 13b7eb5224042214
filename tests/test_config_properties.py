"""Property-based tests of the config loader: random wrong values anywhere in a valid config are refused
with a ConfigError whose message names the key, never with another exception."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from layeratlas.config import ConfigError, key_path, load_schema, validate_config
from tests.conftest import DEFAULT_CONFIG, TINY_CONFIG

CONFIGS = [validate_config(yaml.safe_load(p.read_text())) for p in (DEFAULT_CONFIG, TINY_CONFIG)]
PLAIN = jsonschema.Draft202012Validator(load_schema())


def _leaves(node: Any, path: tuple = ()) -> list[tuple]:
    """Paths of every value in a config (objects and their members, lists and their items)."""
    paths = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            paths += _leaves(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            paths += _leaves(value, (*path, i))
    return paths


def _set(config: dict, path: tuple, value: Any) -> None:
    node = config
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


WRONG_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(min_size=1, max_size=6), st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), value=WRONG_VALUES, which=st.sampled_from(range(len(CONFIGS))))
def test_a_wrong_value_is_refused_with_its_key(data, value, which):
    config = copy.deepcopy(CONFIGS[which])
    path = data.draw(st.sampled_from(_leaves(config)))
    _set(config, path, value)
    errors = list(PLAIN.iter_errors(config))
    assume(errors)  # only values the schema forbids
    try:
        validate_config(config)
    except ConfigError as error:
        message = str(error)
    else:
        raise AssertionError(f"{key_path(path)} = {value!r} was accepted")
    # the message names the key itself, or the object that holds it (for a wrong key or a missing one)
    assert any(key_path(path[:n]) in message for n in range(len(path), 0, -1)), message


@settings(max_examples=100, deadline=None)
@given(data=st.data(), key=st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=3, max_size=10))
def test_an_unknown_key_is_refused_with_its_place(data, key):
    config = copy.deepcopy(CONFIGS[0])
    objects = [p for p in _leaves(config) if isinstance(_get(config, p), dict)] + [()]
    path = data.draw(st.sampled_from(objects))
    target = _get(config, path)
    assume(key not in target)
    target[key] = 1
    assume(list(PLAIN.iter_errors(config)))  # mappings of names (datasets, models, layers) accept new names
    try:
        validate_config(config)
    except ConfigError as error:
        assert repr(key) in str(error) or key in str(error)
    else:
        raise AssertionError(f"unknown key {key!r} under {key_path(path)} was accepted")


def _get(config: dict, path: tuple) -> Any:
    node = config
    for part in path:
        node = node[part]
    return node


SMALL_CNN_MODULES = ["conv1", "relu1", "conv2", "relu2", "pool1", "conv3", "relu3", "pool2", "flatten"]
SMALL_CNN_MODULES += ["fc1", "relu4", "fc2", "relu5", "fc3"]  # every module of small_cnn, in order


@settings(max_examples=40, deadline=None)
@given(
    field=st.sampled_from(["freeze", "trainable", "lr_groups"]),
    name=st.one_of(st.sampled_from(SMALL_CNN_MODULES), st.text(min_size=1, max_size=12)),
)
def test_a_recipe_module_name_is_accepted_only_if_the_model_has_it(field, name):
    """Any module name in a recipe is either a module of the model or refused naming key and value."""
    from layeratlas.checks import recipe_errors

    config = copy.deepcopy(CONFIGS[1])  # the tiny config: small_cnn trains from scratch
    config["models"] = {"small_cnn": config["models"]["small_cnn"]}
    train = config["models"]["small_cnn"]["train"]
    train[field] = {name: 0.1} if field == "lr_groups" else [name]
    errors = recipe_errors(config)
    if name in SMALL_CNN_MODULES:  # the list is whole (checked in tests/test_checks.py)
        assert errors == []
    else:
        where = f"models.small_cnn.train.{field}" + (f".{name}" if field == "lr_groups" else "")
        assert errors == [errors[0]] and errors[0].startswith(
            f"{where}: {name!r} is not a module of small_cnn"
        )
        assert "valid module names, closest first: " in errors[0]
