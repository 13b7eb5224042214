"""The ready study configs under config/: one per seed report, each naming its report at the top,
valid by `layeratlas validate`, and naming layers its models really have."""

from __future__ import annotations

import pytest
import yaml

from layeratlas.cli import main
from layeratlas.config import load_config
from tests.conftest import ROOT

STUDIES = {
    "000_346669e5bad9877b.txt": "cifar10-resnet50-pretrained-vs-finetuned.yaml",
    "001_c11786a57c70aa76.txt": "mnist-resnet18-scattering-tsne.yaml",
    "002_b54e758fa6ffdb63.txt": "cifar10-c-resnet50-gaussian-blur.yaml",
    "003_69e152dc21cd9dce.txt": "fashion-mnist-small-cnn-alexnet-umap.yaml",
    "004_67024d5e308d7cc4.txt": "cifar10-resnet18-scratch-vs-transfer.yaml",
}


@pytest.mark.parametrize(("report", "name"), STUDIES.items())
def test_study_config_names_its_report_and_validates(report, name, capsys):
    path = ROOT / "config" / name
    first_line = path.read_text().splitlines()[0]
    assert first_line.startswith("# Study of seed report") and report in first_line
    assert main(["validate", "--elsewhere", str(path)]) == 0  # their data need not be on this machine
    assert "valid (" in capsys.readouterr().out
    raw = yaml.safe_load(path.read_text())
    assert {spec["source"] for spec in raw["datasets"].values()} <= {
        "mnist",
        "fashion_mnist",
        "cifar10",
        "cifar10_c",
    }


def test_study_layers_exist_in_their_models():
    from layeratlas.checks import layer_errors

    for name in STUDIES.values():
        assert not layer_errors(load_config(ROOT / "config" / name)), name
