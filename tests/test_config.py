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
        # the cases of issue 16: each names the key, the value and what is allowed
        (
            lambda c: c["datasets"]["digits"].update(corruption={"name": "fog", "severity": 6}),
            "datasets.digits.corruption.severity: 6 is greater than the maximum of 5; allowed: an integer "
            "from 1 to 5",
        ),
        (
            lambda c: c["models"]["small_cnn"]["layers"].update(pool2=None),
            "models.small_cnn.layers.pool2: None is not allowed; choose one of 'none', 'avg', 'max', "
            "a mapping",
        ),
        (
            lambda c: c["models"]["small_cnn"].update(sweep={"train.lr": [0.1], "train.epochs": [2]}),
            "models.small_cnn.sweep: has 2 key(s) ('train.lr', 'train.epochs'); give exactly one key",
        ),
        (
            lambda c: c["models"]["small_cnn"]["train"].update(optimiser="adam"),
            "models.small_cnn.train: unknown key(s) 'optimiser' (did you mean 'optimizer'?)",
        ),
        (
            lambda c: c["models"]["small_cnn"].update(snapshot_off={}),
            # the internal snapshot_of and sweep_group are neither suggested nor listed
            "models.small_cnn: unknown key(s) 'snapshot_off'; allowed keys: architecture, input_size, "
            "layers, options, sweep, train, weights",
        ),
        (
            lambda c: c["analyses"].update(tsne={"perplexity": 10, "n_iter": 500}),
            "analyses.tsne: unknown key(s) 'n_iter'; allowed keys: fit_samples, perplexity",
        ),
        (
            lambda c: c["models"]["small_cnn"]["train"].update(lr=float("inf")),
            "models.small_cnn.train.lr: inf is not allowed; NaN and infinity are refused",
        ),
        (
            lambda c: c["datasets"]["digits"]["split"].update(test=float("nan")),
            "datasets.digits.split.test: nan is not allowed",
        ),
        (lambda c: c.update(seed=2**40), "seed: 1099511627776 is greater than the maximum of 4294967295"),
        (
            lambda c: c["datasets"]["digits"].update(image_size=100000),
            "datasets.digits.image_size: 100000 is greater than the maximum of 4096",
        ),
        (
            lambda c: c["models"]["small_cnn"]["train"].update(snapshots=[0, 20]),
            "models.small_cnn.train.snapshots: epoch 20 is after the last epoch (15); allowed: 0 to 15",
        ),
        (
            lambda c: c["models"]["small_cnn"]["train"].update(head_epochs=15),
            "models.small_cnn.train.head_epochs: 15 is not below train.epochs (15)",
        ),
        (
            lambda c: c["models"]["small_cnn"].update(weights="imagenet"),
            "models.small_cnn.weights: 'imagenet' is not available for small_cnn",
        ),
        (
            lambda c: c["datasets"]["digits"].update(splits=["train", "val"]),
            "analyses.split: 'test' is not a split dataset 'digits' has (datasets.digits.splits keeps only "
            "train, val)",
        ),
        (
            lambda c: (
                c["datasets"]["digits"].update(max_per_class=10),
                c["models"]["small_cnn"]["layers"].update(pool2={"reduction": "pca", "dim": 400}),
            ),
            "models.small_cnn.layers.pool2.dim: 400 is more than the 100 images dataset 'digits' holds",
        ),
        (
            lambda c: c["models"]["small_cnn"].update(architecture="timm:not_a_model"),
            "models.small_cnn.architecture: architecture 'timm:not_a_model': timm has no model",
        ),
        (
            lambda c: c["datasets"].update({1: {"source": "sklearn_digits"}}),
            "datasets.1: the key 1 is not allowed; keys are names (text): write it in quotes, '1'",
        ),
        (
            lambda c: c.setdefault("analyses", {}).update(embeddings=["pca"], explorer={"embedding": "umap"}),
            "analyses.explorer.embedding: 'umap' is not computed; analyses.embeddings computes only pca",
        ),
        (
            lambda c: c["models"]["small_cnn"].update(sweep={"train.lr": [0.1, -2]}),
            "models.small_cnn.sweep: train.lr: -2 makes model 'small_cnn-lrm2' invalid",
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


# --- values that cannot work for the dataset's size are refused before any job (issue 23, item 2) ---

SMALL = {"source": "sklearn_digits", "max_per_class": 30}  # 300 images: 180 train, 40 val, 80 test


def _small(analyses: dict) -> dict:
    return {
        "datasets": {"d": dict(SMALL)},
        "models": {"m": {"architecture": "small_cnn", "layers": {"relu5": "none"}}},
        "analyses": analyses,
    }


@pytest.mark.parametrize(
    ("analyses", "message"),
    [
        (
            {"tsne": {"perplexity": 100000}},
            "analyses.tsne.perplexity: 100000 is more than the 80 test images of dataset 'd': at most "
            "(m - 1) / 3 of the m points (26.33); allowed: a number > 0 and <= 26.33",
        ),
        (
            {"split": "all", "tsne": {"perplexity": 50, "fit_samples": 100}},
            "analyses.tsne.perplexity: 50 is more than the 100 of the 300 images of dataset 'd' it is "
            "fitted on",
        ),
        (
            {"umap": {"n_neighbors": 80}},
            "analyses.umap.n_neighbors: 80 is more than the 80 test images of dataset 'd': at most m - 1 of "
            "the m points (79); allowed: 1 to 79",
        ),
        (
            {"probes": {"k": [1, 100000]}},
            "analyses.probes.k.1: 100000 is more than the 180 train images of dataset 'd': k neighbours "
            "among them (180); allowed: 1 to 180",
        ),
        (
            {"thumbnails": {"max_points": 3}},
            "analyses.thumbnails.max_points: 3 is fewer than the 10 classes of dataset 'd': each class shows "
            "at least one image; allowed: 10 or more",
        ),
        (
            {"explorer": {"max_points": 9}},
            "analyses.explorer.max_points: 9 is fewer than the 10 classes",
        ),
    ],
)
def test_values_beyond_the_datasets_size_are_refused_naming_the_limit(analyses, message):
    with pytest.raises(ConfigError) as error:
        validate_config(_small(analyses))
    assert any(m.startswith(message) for m in error.value.messages), error.value.messages


def test_defaults_beyond_a_small_datasets_size_are_clipped_and_said():
    """The defaults (perplexity 30, n_neighbors 15, k up to 25) on a 40-image dataset: accepted, and the
    notes `layeratlas validate` prints say what each becomes."""
    from layeratlas.config import size_limit_notes

    raw = _small({})
    raw["datasets"]["d"]["max_per_class"] = 4  # 40 images: 20 train, 10 val, 10 test
    checked = validate_config(raw)
    notes = size_limit_notes(checked, raw)
    assert any(n.startswith("analyses.tsne.perplexity: the default 30 becomes 3") for n in notes), notes
    assert any(n.startswith("analyses.probes.k.6: the default 25 becomes 20") for n in notes), notes
    whole = _small({})
    del whole["datasets"]["d"]["max_per_class"]  # all 1,797 digits: nothing is clipped
    assert size_limit_notes(validate_config(whole), whole) == []


def test_a_duplicate_sweep_value_is_named_not_the_model():
    config = _small({})
    config["models"]["m"] |= {"train": {"dataset": "d"}, "sweep": {"train.lr": [0.1, 0.01, 0.1]}}
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    assert error.value.messages == [
        "models.m.sweep.train.lr: the value 0.1 is given twice ('m-lr0p1'); give each value once"
    ]


@pytest.mark.parametrize("where", ["datasets", "models"])
def test_a_bad_name_says_which_characters_are_allowed(where):
    config = _small({})
    config[where]["my data"] = config[where].pop("d" if where == "datasets" else "m")
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    message = next(m for m in error.value.messages if m.startswith(f"{where}: 'my data'"))
    assert "anything" not in message and "letters, digits, _ and -" in message, message


def test_a_duplicate_seed_is_named_under_train_seeds():
    config = _small({})
    config["models"]["m"] |= {"train": {"dataset": "d", "seeds": [0, 1, 0]}}
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    assert error.value.messages == [
        "models.m.train.seeds: [0, 1, 0] has non-unique elements: 0 is given twice; give each value once"
    ]
