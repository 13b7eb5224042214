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
    assert dataset_rows("c", config["datasets"]["c"], tmp_path) == 2000
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
