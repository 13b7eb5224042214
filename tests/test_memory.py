"""The memory pre-check: sizes from a config and from existing files, refusals with a reduction that fits."""

from __future__ import annotations

import numpy as np

from layeratlas.analysis.memory import (
    ANALYSIS_FACTOR,
    LayerSize,
    config_layer_sizes,
    dataset_rows,
    memory_errors,
)

GB = 10**9


def test_a_layer_too_wide_is_refused_with_its_size_and_a_reduction_that_fits():
    wide = LayerSize("cifar", "resnet50", "layer3", 60_000, 200_704)  # 48 GB of float32
    small = LayerSize("cifar", "resnet50", "avgpool", 60_000, 2048)
    errors = memory_errors([wide, small], ram=24 * 2**30)
    assert len(errors) == 2  # the layer, and the dataset-wide CKA holding both
    assert errors[0].startswith("models.resnet50.layers.layer3 on dataset cifar: 60,000 x 200,704")
    assert "48.2 GB" in errors[0] and "max_per_class" in errors[0]
    width = int(errors[0].split("at most ")[1].split(" values")[0].replace(",", ""))
    fitted = LayerSize("cifar", "resnet50", "layer3", 60_000, width)
    assert (
        fitted.analysis_bytes
        <= 0.8 * 24 * 2**30
        < LayerSize("c", "m", "l", 60_000, width + 200).analysis_bytes
    )
    assert memory_errors([small], ram=24 * 2**30) == []
    assert small.analysis_bytes == int(ANALYSIS_FACTOR * 60_000 * 2048 * 4) + 512 * 2**20


def test_sizes_from_the_config_and_from_existing_features(tmp_path):
    config = {
        "datasets": {
            "digits": {"source": "sklearn_digits"},
            "c": {"source": "cifar10", "max_per_class": 100},
        },
        "models": {"net": {"architecture": "small_cnn", "layers": {"pool1": "none", "relu5": "none"}}},
    }
    # CIFAR-10 keeps its own 10,000 test images: max_per_class caps its train images only
    assert dataset_rows("c", config["datasets"]["c"], tmp_path) == 11_000
    assert dataset_rows("folder", {"source": "image_folder"}, tmp_path) is None
    sizes = {(s.dataset, s.layer): (s.n_samples, s.width) for s in config_layer_sizes(config, tmp_path)}
    assert sizes[("digits", "pool1")] == (1797, 16 * 14 * 14)  # small_cnn's pool1 on 28 px, flattened
    assert sizes[("digits", "relu5")] == (1797, 100)
    # An extracted layer's .npy header wins over the estimate.
    folder = tmp_path / "results" / "features" / "digits" / "net"
    folder.mkdir(parents=True)
    np.save(folder / "relu5.npy", np.zeros((7, 3), np.float32))
    sizes = {(s.dataset, s.layer): (s.n_samples, s.width) for s in config_layer_sizes(config, tmp_path)}
    assert sizes[("digits", "relu5")] == (7, 3)


def test_both_doors_refuse_a_layer_that_does_not_fit_this_machine(monkeypatch, tmp_path):
    """check_config (layeratlas validate and the Snakefile) runs the memory check; --elsewhere does not."""
    import pytest
    import yaml

    from layeratlas.analysis import memory
    from layeratlas.checks import check_config
    from layeratlas.config import ConfigError
    from tests.conftest import TINY_CONFIG

    raw = yaml.safe_load(TINY_CONFIG.read_text())
    monkeypatch.setattr(memory, "machine_memory", lambda: 2**20)  # a 1 MiB machine
    monkeypatch.setenv("LAYERATLAS_OFFLINE", "1")
    with pytest.raises(ConfigError, match=r"models\.small_cnn\.layers\.relu5 on dataset digits: .* RAM"):
        check_config(raw, root=tmp_path)
    check_config(raw, root=tmp_path, availability=False)  # a config written for another machine


SMALL_RAM = 24 * 2**30
ALL_ON = {
    "split": "test",
    "embeddings": ["pca", "tsne", "umap"],
    "probes": {"enabled": True},
    "linear_adam": {"enabled": True},
    "variance": True,
    "cluster_quality": True,
    "neural_collapse": True,
    "cka": True,
}


def _off(key: str) -> dict:
    analyses = {**ALL_ON}
    if isinstance(analyses[key], dict):
        analyses[key] = {"enabled": False}
    else:
        analyses[key] = [] if isinstance(analyses[key], list) else False
    return analyses


def test_the_cka_refusal_goes_with_cka():
    """Six layers whose test-split analyses each fit, but not all at once: refused for CKA only while
    CKA is on (the probes, linear_adam and neural collapse, on more images, are off)."""
    splits = {"train": 40_000, "val": 10_000, "test": 10_000}
    layers = [LayerSize("c", "m", f"l{i}", 60_000, 100_000, splits) for i in range(6)]
    light = {"probes": {"enabled": False}, "linear_adam": {"enabled": False}, "neural_collapse": False}
    on = memory_errors(layers, ram=SMALL_RAM, analyses={**ALL_ON, **light})
    assert [e.split(":")[0] for e in on] == ["analyses.cka on dataset c"]
    assert memory_errors(layers, ram=SMALL_RAM, analyses={**_off("cka"), **light}) == []


def test_the_per_layer_refusal_goes_with_the_analyses_that_need_it():
    """A layer the probes cannot hold (all 60,000 images) fits the test-split analyses (10,000)."""
    splits = {"train": 40_000, "val": 10_000, "test": 10_000}
    wide = LayerSize("c", "m", "layer3", 60_000, 40_000, splits)
    errors = memory_errors([wide], ram=SMALL_RAM, analyses=ALL_ON)
    assert len(errors) == 1 and "analyses.probes" in errors[0] and "turn analyses.probes" in errors[0]
    assert memory_errors([wide], ram=SMALL_RAM, analyses={**_off("probes"), "neural_collapse": False}) == []
    # neural collapse fits the linear probe itself, so probes off alone is not enough
    assert memory_errors([wide], ram=SMALL_RAM, analyses=_off("probes")) != []
    nothing = {"embeddings": [], "probes": {"enabled": False}, "linear_adam": {"enabled": False}}
    nothing |= {"variance": False, "cluster_quality": False, "neural_collapse": False, "cka": False}
    assert (
        memory_errors([LayerSize("c", "m", "x", 10**6, 10**6, None)], ram=SMALL_RAM, analyses=nothing) == []
    )


SWITCHES = ["embeddings", "probes", "linear_adam", "variance", "cluster_quality", "neural_collapse", "cka"]


def test_no_study_config_is_refused_for_an_analysis_it_switched_off(tmp_path):
    """Every study config in config/, with each analysis switched off in turn: accepted by the checks
    `validate --elsewhere` runs, accepted by the memory check on a machine with enough memory, and on a
    small one never refused because of the analysis that is off (nor more often than with it on)."""
    import copy

    import pytest
    import yaml

    from layeratlas.config import validate_config
    from tests.conftest import ROOT

    files = sorted((ROOT / "config").glob("*.yaml"))
    assert len(files) >= 6
    refused = 0
    for file in files:
        config = validate_config(yaml.safe_load(file.read_text()))
        sizes = config_layer_sizes(config, tmp_path)
        assert sizes, file.name  # every study's datasets are counted before any job
        full = memory_errors(sizes, ram=2 * 2**30, analyses=config["analyses"])
        refused += bool(full)
        for key in SWITCHES:
            raw = yaml.safe_load(file.read_text())
            analyses = raw.setdefault("analyses", {})
            if key == "embeddings":
                analyses[key] = []
                analyses.setdefault("explorer", {})["enabled"] = False
                analyses.setdefault("thumbnails", {})["enabled"] = False
            elif key in ("probes", "linear_adam"):
                analyses[key] = {**(analyses.get(key) or {}), "enabled": False}
            else:
                analyses[key] = False
            try:
                off = validate_config(copy.deepcopy(raw))
            except Exception as error:  # noqa: BLE001
                pytest.fail(f"{file.name} with analyses.{key} off: {error}")
            assert memory_errors(sizes, ram=2**40, analyses=off["analyses"]) == []
            small = memory_errors(sizes, ram=2 * 2**30, analyses=off["analyses"])
            assert not any(f"analyses.{key} " in e or f"turn analyses.{key}" in e for e in small), small
            assert len(small) <= len(full)
    assert refused >= 2  # a 2 GiB machine refuses the CIFAR-10 studies with everything on
