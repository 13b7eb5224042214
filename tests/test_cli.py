"""The ``layeratlas`` command line: one clear line and a non-zero exit for any bad input, never a
traceback; ``validate`` runs the checker the Snakefile runs and reports every problem at once."""

from __future__ import annotations

import copy

import pytest
import yaml

from layeratlas import __version__
from layeratlas.cli import main
from tests.conftest import DEFAULT_CONFIG, TINY_CONFIG


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["layers", "resnet181"], "unknown architecture 'resnet181' (did you mean 'resnet18'?)"),
        (["layers", "resnet-50"], "unknown architecture 'resnet-50' (did you mean 'resnet50'?)"),
        (["layers", "timm:not_a_model"], "timm has no model 'not_a_model'"),
        (["layers", "alexnet", "--input-size", "32"], "input size 32 is too small for alexnet"),
        (["layers", "scattering", "--option", "J=6"], "smaller than 2^J = 64"),
        (["layers", "small_cnn", "--option", "depth=3"], "depth"),
        (["validate", "does_not_exist.yaml"], "does_not_exist.yaml: no such file"),
    ],
)
def test_bad_cli_input_is_one_clear_line(capsys, argv, expected):
    code, out, err = run(capsys, *argv)
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and expected in err, err


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"layeratlas {__version__}"


def test_an_input_size_that_is_not_a_size_is_refused_by_argparse(capsys):
    with pytest.raises(SystemExit) as done:
        main(["layers", "small_cnn", "--input-size", "-3"])
    assert done.value.code == 2 and "-3 is outside 8..4096 pixels" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"- a\n- b\n", "<top level>: ['a', 'b'] is not allowed; a config is a mapping"),
        (b"42\n", "<top level>: 42 is not allowed"),
        (b"seed: 1\nmodels: [unclosed\n", "c.yaml:3:1: not valid YAML"),  # file:line:column
        (b"seed: \xff\xfe\n", "not UTF-8 text"),
    ],
)
def test_unreadable_configs_name_the_file(tmp_path, capsys, content, expected):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    code, _, err = run(capsys, "validate", str(path))
    assert code == 1 and expected in err and str(path) in err, err


def test_a_folder_is_not_a_config(tmp_path, capsys):
    code, _, err = run(capsys, "validate", str(tmp_path))
    assert code == 1 and f"{tmp_path}: is a folder, not a config file" in err


def test_a_repeated_key_is_refused_with_both_lines(tmp_path, capsys):
    text = TINY_CONFIG.read_text()
    model = next(iter(yaml.safe_load(text)["models"]))
    # the first model's block again, under the same name (YAML would silently keep the second)
    lines = text.splitlines()
    start = lines.index(f"  {model}:")
    end = next(i for i in range(start + 1, len(lines)) if lines[i] and not lines[i].startswith("    "))
    doubled = "\n".join(lines[:end] + lines[start:end] + lines[end:]) + "\n"
    path = tmp_path / "twice.yaml"
    path.write_text(doubled)
    code, _, err = run(capsys, "validate", str(path))
    assert code == 1
    assert f"models.{model}: key '{model}' is given twice (lines {start + 1} and {end + 1})" in err, err


def test_every_kind_of_problem_is_reported_at_once(tmp_path, capsys, monkeypatch):
    """A schema error, a NaN, a closed library block, a missing weights file and a missing image folder
    in one config: one line each, in one run."""
    monkeypatch.chdir(tmp_path)
    config = yaml.safe_load(TINY_CONFIG.read_text())
    model = next(iter(config["models"]))
    config["models"][model]["weights"] = "missing.pt"
    config["models"][model].setdefault("train", {"dataset": next(iter(config["datasets"]))})
    config["models"][model]["train"]["momentum"] = float("nan")
    config["analyses"]["tsne"] = {"perplexty": 5}
    config["datasets"]["folder"] = {"source": "image_folder", "path": "no/such/folder"}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    code, _, err = run(capsys, "validate", str(path))
    assert code == 1
    for expected in (
        f"models.{model}.train.momentum: nan is not allowed",
        "analyses.tsne: unknown key(s) 'perplexty' (did you mean 'perplexity'?)",
        f"models.{model}.weights: file 'missing.pt' does not exist",
        "datasets.folder.path: no/such/folder is not a folder",
    ):
        assert expected in err, err


def test_files_are_checked_with_a_valid_schema(tmp_path, capsys, monkeypatch):
    """With the schema clean, the weights file, the image folder and an unknown layer all at once."""
    monkeypatch.chdir(tmp_path)
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    config["models"]["small_cnn"]["weights"] = "missing.pt"
    config["models"]["small_cnn"]["layers"]["relu55"] = "none"
    config["datasets"]["folder"] = {"source": "image_folder", "path": "no/such/folder"}
    (tmp_path / "notweights.pt").write_text("not a checkpoint")
    config["models"]["efficientnet_lite0"]["weights"] = "notweights.pt"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    code, _, err = run(capsys, "validate", str(path))
    assert code == 1
    for expected in (
        "models.small_cnn.weights: file 'missing.pt' does not exist",
        "models.efficientnet_lite0.weights: file 'notweights.pt' is not a loadable state dict",
        "models.small_cnn.layers: 'relu55' is not a layer of small_cnn",
        "datasets.folder.path: no/such/folder is not a folder",
    ):
        assert expected in err, err


def test_offline_imagenet_weights_that_are_not_cached_are_refused_with_url_and_path(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("LAYERATLAS_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # an empty cache
    config = {
        "datasets": {"digits": {"source": "sklearn_digits"}},
        "models": {"r": {"architecture": "resnet50", "weights": "imagenet", "layers": {"avgpool": "none"}}},
    }
    path = tmp_path / "r50.yaml"
    path.write_text(yaml.safe_dump(config))
    code, _, err = run(capsys, "validate", str(path))
    assert code == 1
    assert "models.r.weights: 'imagenet' weights of resnet50 are not cached" in err
    assert "https://download.pytorch.org/models/resnet50" in err and str(tmp_path / "torch") in err


def test_the_default_config_is_valid(capsys):
    code, out, _ = run(capsys, "validate", str(DEFAULT_CONFIG))
    assert code == 0 and "valid (1 dataset(s), 3 model(s))" in out


def test_a_config_that_cannot_be_built_names_the_model(tmp_path, capsys):
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    config["models"] = {
        "s": {
            "architecture": "scattering",
            "options": {"J": 6},
            "layers": {"scattering": "none"},
        }
    }
    path = tmp_path / "deep.yaml"
    path.write_text(yaml.safe_dump(copy.deepcopy(config)))
    code, _, err = run(capsys, "validate", str(path))
    assert code == 1 and "models.s.options: scattering: input size 28 is smaller than 2^J = 64" in err, err


def test_dataset_files_are_checked_unless_the_config_is_for_elsewhere(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LAYERATLAS_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)  # an empty resources/
    config = {
        "datasets": {"m": {"source": "mnist", "max_per_class": 10}},
        "models": {"c": {"architecture": "small_cnn", "layers": {"relu5": "none"}}},
    }
    path = tmp_path / "mnist.yaml"
    path.write_text(yaml.safe_dump(config))
    code, _, err = run(capsys, "validate", str(path))
    assert code == 1 and "dataset files are not in place" in err and "train-images-idx3-ubyte.gz" in err
    code, out, _ = run(capsys, "validate", "--elsewhere", str(path))
    assert code == 0 and "valid (1 dataset(s), 1 model(s))" in out


@pytest.mark.parametrize(
    ("content", "where"),
    [
        (b"datasets:\n  d: {source: sklearn_digits\nmodels: [\n", ":3:7: not valid YAML"),
        (b"seed: 0\n# caf\xe9\n", ":2:6: not UTF-8"),
    ],
)
def test_snakemakes_own_door_cannot_word_it_so_validate_gives_line_and_column(
    tmp_path, capsys, content, where
):
    """Snakemake reads --configfile while parsing its own arguments, before the Snakefile (and so the
    checker) runs: its message is generic or a UnicodeDecodeError traceback. The README's table sends
    the user to `layeratlas validate F`, whose first line is the file, line and column."""
    from tests.conftest import ROOT
    from tests.snakemake_runs import snakemake

    file = tmp_path / "c.yaml"
    file.write_bytes(content)
    code, out, err = run(capsys, "validate", str(file))
    assert code == 1 and out == "" and err.splitlines()[0].startswith(f"{file}{where}"), err
    shown = snakemake(tmp_path / "run", "--dry-run", "--configfile", str(file), check=False)
    assert shown.returncode != 0 and f"{where}" not in shown.stdout + shown.stderr  # not ours to word
    readme = (ROOT / "README.md").read_text()
    assert "run `layeratlas validate F` for the line and column" in readme
