"""A training recipe that freezes, trains or sets a learning rate for modules the model lacks is refused
before any job, by ``layeratlas validate`` and by the Snakefile, naming the key path, the value and the
valid module names (closest first); and every module name the checks accept is one training accepts."""

from __future__ import annotations

import copy

import pytest
import yaml

from layeratlas.checks import config_errors, recipe_errors
from layeratlas.cli import main
from layeratlas.config import validate_config
from tests.conftest import TINY_CONFIG
from tests.snakemake_runs import snakemake

RAW = yaml.safe_load(TINY_CONFIG.read_text())


def _config(**train: object) -> dict:
    """The tiny config with its fine-tuned EfficientNet's recipe changed."""
    raw = copy.deepcopy(RAW)
    raw["models"]["efficientnet_lite0_finetuned"]["train"].update(train)
    return validate_config(raw)


def test_the_test_configs_recipes_are_accepted(tiny_config):
    assert recipe_errors(tiny_config) == []


@pytest.mark.parametrize(
    ("train", "expected"),
    [
        (
            {"freeze": ["blocks.0", "block.1"]},
            "models.efficientnet_lite0_finetuned.train.freeze: 'block.1' is not a module of "
            "efficientnet_lite0; valid module names, closest first: blocks.1, ",
        ),
        (
            {"trainable": ["conv_heads"]},
            "models.efficientnet_lite0_finetuned.train.trainable: 'conv_heads' is not a module of "
            "efficientnet_lite0; valid module names, closest first: conv_head, ",
        ),
        (
            {"lr_groups": {"clasifier.fc": 0.1}},
            "models.efficientnet_lite0_finetuned.train.lr_groups.clasifier.fc: 'clasifier.fc' is not a "
            "module of efficientnet_lite0; valid module names, closest first: classifier.fc, ",
        ),
        (
            {"freeze": 40},
            "models.efficientnet_lite0_finetuned.train.freeze: 40 is more children than efficientnet_lite0 "
            "has (7: conv_stem, bn1, blocks, conv_head, bn2, global_pool, classifier); choose 0..7",
        ),
    ],
)
def test_recipe_naming_a_missing_module_is_refused(train, expected):
    errors = recipe_errors(_config(**train))
    assert len(errors) == 1 and errors[0].startswith(expected), errors
    assert errors[0].count("blocks.6") <= 1  # each valid name listed once


def test_the_recipes_head_counts(tiny_config):
    # the concat-pool head has modules classifier.block1 and classifier.fc; a linear head has none inside
    assert recipe_errors(_config(lr_groups={"classifier.block1": 1e-4})) == []
    linear = _config(head={"type": "linear"}, lr_groups={"classifier.block1": 1e-4})
    assert "'classifier.block1' is not a module" in recipe_errors(linear)[0]


def test_names_the_checks_accept_are_names_training_accepts():
    """The checks build the model the way training does: every module they list, training can freeze."""
    from layeratlas.checks import _module_names
    from layeratlas.models import build_model
    from layeratlas.training import apply_freezing, param_groups, with_defaults

    spec = _config()["models"]["efficientnet_lite0_finetuned"]
    names = _module_names(spec)
    model = build_model(spec, num_classes=10)
    assert names == [n for n, _ in model.named_modules() if n]
    apply_freezing(model, {"freeze": ["blocks.0", "classifier.block1"]}, ["classifier"])
    param_groups(model, with_defaults({"lr_groups": {"conv_head": 1e-4, "classifier.fc": 1e-3}}))


def test_validate_cli_lists_every_bad_module_at_once(tmp_path, capsys):
    raw = copy.deepcopy(RAW)
    raw["models"]["small_cnn"]["train"]["freeze"] = ["conv9"]
    raw["models"]["efficientnet_lite0_finetuned"]["train"]["trainable"] = ["conv_heads"]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["validate", str(path)]) == 1
    message = capsys.readouterr().err
    assert "models.small_cnn.train.freeze: 'conv9' is not a module of small_cnn" in message
    assert "closest first: conv3, conv2, conv1, " in message
    assert "models.efficientnet_lite0_finetuned.train.trainable: 'conv_heads'" in message
    assert len(config_errors(validate_config(raw))) == 2


def test_snakemake_refuses_a_bad_recipe_before_any_job(tmp_path):
    raw = copy.deepcopy(RAW)
    raw["models"]["small_cnn"]["train"]["lr_groups"] = {"fc9": 0.1}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    result = snakemake(tmp_path / "run", "--dry-run", "--configfile", str(path), check=False)
    assert result.returncode != 0
    assert (
        "models.small_cnn.train.lr_groups.fc9: 'fc9' is not a module of small_cnn"
        in result.stdout + result.stderr
    )
    assert not (tmp_path / "run" / "results").exists()


def test_every_study_configs_recipes_are_accepted():
    from layeratlas.config import load_config
    from tests.conftest import ROOT

    for path in sorted((ROOT / "config").glob("*.yaml")):
        assert recipe_errors(load_config(path)) == [], path.name


def test_small_cnn_module_list_of_the_property_test_is_whole():
    from layeratlas.checks import _module_names
    from tests.test_config_properties import SMALL_CNN_MODULES

    assert _module_names({"architecture": "small_cnn", "train": None}) == SMALL_CNN_MODULES
