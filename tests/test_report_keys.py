"""The report's keys (report.pairs, report.atlas_embedding, analyses.explorer.embedding) are resolved once in
layeratlas.config; bad ones are refused by the one checker, through both doors, naming the key and the
valid choices, instead of a bare ValueError while Snakemake parses the rule files."""

from __future__ import annotations

import copy

import pytest
import yaml

from layeratlas.cli import main
from layeratlas.config import (
    ConfigError,
    atlas_embedding,
    explorer_embedding,
    model_pairs,
    report_key_errors,
    validate_config,
)
from tests.conftest import TINY_CONFIG
from tests.snakemake_runs import snakemake

RAW = yaml.safe_load(TINY_CONFIG.read_text())
MODELS = {
    "cnn": {"architecture": "small_cnn", "weights": "none", "train": {"epochs": 2}},
    "base": {"architecture": "efficientnet_lite0", "weights": "imagenet"},
    "tuned": {"architecture": "efficientnet_lite0", "weights": "imagenet", "train": {"epochs": 2}},
}


def _config(pairs=(), embeddings=("pca", "tsne"), atlas="tsne", explorer=None, models=MODELS) -> dict:
    return {
        "models": copy.deepcopy(models),
        "report": {"pairs": [list(p) for p in pairs], "atlas_embedding": atlas},
        "analyses": {
            "embeddings": list(embeddings),
            "explorer": {"enabled": True, "embedding": explorer, "max_points": 5000},
        },
    }


def test_pretrained_and_finetuned_are_paired_and_report_pairs_are_added_once():
    assert model_pairs(_config()) == [("base", "tuned")]  # cnn is trained from scratch: no pair
    config = _config(pairs=[("cnn", "tuned"), ("base", "tuned")])
    assert model_pairs(config) == [("base", "tuned"), ("cnn", "tuned")]


def test_a_training_snapshot_is_never_a_fine_tuning_base():
    models = {
        **MODELS,
        "tuned-epoch0": {"architecture": "efficientnet_lite0", "weights": "imagenet", "snapshot_of": "tuned"},
    }
    del models["base"]
    assert model_pairs(_config(models=models)) == []


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("cnn", "tunned")], "report.pairs.0: 'tunned' is not a model; did you mean 'tuned'? allowed: "),
        ([("base", "tuned"), ("nope", "cnn")], "report.pairs.1: 'nope' is not a model; allowed: base, "),
        ([("cnn", "cnn")], "report.pairs.0: [cnn, cnn] pairs a model with itself; name two different"),
    ],
)
def test_a_bad_report_pair_is_refused_naming_the_key_and_the_models(pairs, expected):
    errors = list(report_key_errors(_config(pairs=pairs)))
    assert len(errors) == 1 and errors[0].startswith(expected), errors
    with pytest.raises(ConfigError, match=r"report\.pairs\.\d"):
        model_pairs(_config(pairs=pairs))


@pytest.mark.parametrize(
    ("embeddings", "atlas", "expected"),
    [
        (["pca", "tsne", "umap"], "umap", "umap"),
        (["pca"], "tsne", "pca"),  # not computed: the first computed of t-SNE, UMAP, PCA
        (["pca", "umap"], "tsne", "umap"),
        ([], "tsne", None),
    ],
)
def test_the_atlas_draws_a_computed_embedding(embeddings, atlas, expected):
    assert atlas_embedding(_config(embeddings=embeddings, atlas=atlas)) == expected


@pytest.mark.parametrize(
    ("options", "embeddings", "expected"),
    [
        ({"enabled": True, "embedding": None}, ["pca", "tsne", "umap"], "tsne"),
        ({"enabled": True, "embedding": None}, ["pca", "umap"], "umap"),
        ({"enabled": True, "embedding": "pca"}, ["pca", "tsne"], "pca"),
        ({"enabled": False, "embedding": None}, ["pca"], None),
        ({"enabled": True, "embedding": None}, [], None),
    ],
)
def test_explorer_embedding_follows_the_computed_ones(options, embeddings, expected):
    config = _config(embeddings=embeddings)
    config["analyses"]["explorer"] = {**options, "max_points": 5000}
    assert explorer_embedding(config) == expected


def test_a_chosen_explorer_embedding_that_is_not_computed_is_refused_naming_the_key():
    config = _config(embeddings=["pca"], explorer="umap")
    with pytest.raises(ConfigError, match=r"analyses\.explorer\.embedding: 'umap' is not computed; .*pca"):
        explorer_embedding(config)


def test_both_doors_refuse_bad_report_keys_in_one_line_each(tmp_path, capsys):
    raw = copy.deepcopy(RAW)
    raw.setdefault("report", {})["pairs"] = [["small_cnn", "nope"], ["small_cnn", "small_cnn"]]
    raw["analyses"]["embeddings"] = ["pca"]
    raw["analyses"]["explorer"] = {"enabled": True, "embedding": "umap"}
    with pytest.raises(ConfigError) as refused:
        validate_config(raw)
    assert len(refused.value.messages) == 3, refused.value.messages
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["validate", str(path)]) == 1
    lines = [line.strip() for line in capsys.readouterr().err.splitlines()[1:]]
    expected = ("report.pairs.0: 'nope' is not a model", "report.pairs.1: [small_cnn, small_cnn]")
    assert all(any(line.startswith(e) for line in lines) for e in expected), lines
    assert any(line.startswith("analyses.explorer.embedding: 'umap'") for line in lines), lines
    result = snakemake(tmp_path / "run", "--dry-run", "--configfile", str(path), check=False)
    shown = result.stdout + result.stderr
    assert result.returncode != 0 and all(line in shown for line in lines), shown
    assert "Traceback" not in shown and "ValueError" not in shown
