import copy

import pytest
import yaml

from layeratlas.cli import main
from layeratlas.config import ConfigError, load_config, validate_config
from tests.conftest import DEFAULT_CONFIG


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load(DEFAULT_CONFIG.read_text())


def test_default_config_is_valid_and_gets_defaults(raw):
    config = validate_config(raw)
    assert config["models"]["efficientnet_lite0"]["weights"] == "imagenet"
    assert config["models"]["efficientnet_lite0"].get("train") is None
    assert config["extraction"]["batch_size"] == 64
    assert config["datasets"]["digits"]["max_per_class"] is None  # filled from the schema default
    assert raw["datasets"]["digits"].get("max_per_class", "absent") == "absent"  # input left untouched


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda c: c["models"]["small_cnn"].update(architecture="resnet9000"),
            "models.small_cnn.architecture: 'resnet9000' is not allowed (did you mean 'resnet50'?); "
            "choose one of 'small_cnn'",
        ),
        (
            lambda c: c["models"]["small_cnn"]["layers"].update(relu5="median"),
            "models.small_cnn.layers.relu5: 'median' is not allowed; choose one of 'none', 'avg', 'max'",
        ),
        (
            lambda c: c.update(modles={}),
            "<top level>: unknown key(s) 'modles' (did you mean 'models'?); allowed keys: analyses,",
        ),
        (
            lambda c: c["models"]["small_cnn"]["train"].update(epochs=0),
            "models.small_cnn.train.epochs: 0 is less",
        ),
        (
            lambda c: c["models"]["small_cnn"]["train"].update(dataset="mnist"),
            "models.small_cnn.train.dataset: 'mnist' is not a configured dataset; choose one of 'digits'",
        ),
        (
            lambda c: c["datasets"]["digits"]["split"].update(test=0.5),
            "datasets.digits.split: fractions sum to 1.25",
        ),
        (
            lambda c: c["analyses"].update(embeddings=["tsne", "isomap"]),
            "analyses.embeddings.1: 'isomap' is not allowed; choose one of 'pca', 'tsne', 'umap'",
        ),
        (
            lambda c: c["models"]["small_cnn"].pop("layers"),
            "models.small_cnn: 'layers' is a required property",
        ),
    ],
)
def test_bad_config_names_the_key(raw, edit, expected):
    bad = copy.deepcopy(raw)
    edit(bad)
    with pytest.raises(ConfigError) as info:
        validate_config(bad)
    assert expected in str(info.value)


def test_every_error_is_reported_at_once(raw):
    bad = copy.deepcopy(raw)
    bad["models"]["small_cnn"]["architecture"] = "x"
    bad["models"]["efficientnet_lite0"]["weights"] = "y"
    message = str(pytest.raises(ConfigError, validate_config, bad).value)
    assert "models.small_cnn.architecture" in message and "models.efficientnet_lite0.weights" in message


def test_cli_validate(tmp_path, capsys):
    assert main(["validate", str(DEFAULT_CONFIG)]) == 0
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "datasets: {digits: {source: sklearn_digits}}\nmodels: {m: {architecture: vgg, layers: {a: none}}}\n"
    )
    assert main(["validate", str(broken)]) == 1
    assert "models.m.architecture: 'vgg' is not allowed" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="not valid YAML"):
        (tmp_path / "bad.yaml").write_text("models: [unclosed")
        load_config(tmp_path / "bad.yaml")


def test_unknown_layer_is_refused_with_the_closest_names(tmp_path, capsys):
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    config["models"]["efficientnet_lite0"]["layers"] = {"block.4": "avg", "global_pool": "none"}
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["validate", str(path)]) == 1
    message = capsys.readouterr().err
    assert "models.efficientnet_lite0.layers: 'block.4' is not a layer of efficientnet_lite0" in message
    assert "closest: blocks.4" in message and "global_pool" not in message.split("closest")[0]
