"""The model zoo: architectures by name (torchvision, timm, scattering), weights (ImageNet through the
frameworks' own loaders and caches, offline errors, local files), heads, and the layer listing."""

from __future__ import annotations

import urllib.error

import numpy as np
import pytest
import torch

from layeratlas.cli import main
from layeratlas.models import build_model, get_architecture
from layeratlas.models.layers import FixedAdaptiveAvgPool2d, layer_table, static_adaptive_pools
from layeratlas.models.weights import WeightsUnavailableError, torchvision_weights_file
from layeratlas.models.zoo import load_checkpoint, save_checkpoint


@pytest.fixture
def offline_torch_hub(tmp_path, monkeypatch):
    """An empty torch.hub cache, and downloads that fail the way they do without network."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_torchvision_imagenet_offline_error_names_the_file(offline_torch_hub):
    import torchvision

    expected = offline_torch_hub / "resnet18-f37072fd.pth"
    assert torchvision_weights_file(torchvision.models.ResNet18_Weights.IMAGENET1K_V1) == expected
    with pytest.raises(WeightsUnavailableError) as info:
        build_model({"architecture": "resnet18", "weights": "imagenet"})
    message = str(info.value)
    assert str(expected) in message and "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    assert "weights:" in message


def test_torchvision_imagenet_loads_a_file_placed_in_the_cache(offline_torch_hub):
    # torchvision's own loader (torch.hub.load_state_dict_from_url) reads the file where the error said
    source = build_model({"architecture": "alexnet"}, num_classes=1000, seed=7)
    offline_torch_hub.mkdir(parents=True)
    torch.save(source.state_dict(), offline_torch_hub / "alexnet-owt-7be5be79.pth")
    spec = {"architecture": "alexnet", "weights": "imagenet", "train": {"dataset": "d", "new_head": True}}
    model = build_model(spec, num_classes=5, seed=0)
    assert torch.equal(model.features[0].weight, source.features[0].weight)
    assert model.classifier[6].out_features == 5


def test_timm_imagenet_offline_error_says_where(monkeypatch):
    import timm

    def no_network(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    real = timm.create_model
    monkeypatch.setattr(
        timm,
        "create_model",
        lambda name, pretrained=False, **kw: no_network() if pretrained else real(name, **kw),
    )
    with pytest.raises(WeightsUnavailableError, match=r"huggingface.co/timm/resnet10t.c3_in1k") as info:
        build_model({"architecture": "timm:resnet10t", "weights": "imagenet"})
    assert "models--timm--resnet10t.c3_in1k" in str(info.value)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_weights_from_a_local_file(tmp_path, suffix):
    source = build_model({"architecture": "small_cnn"}, num_classes=4, seed=3)
    path = tmp_path / f"cnn{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(source.state_dict(), str(path))
    else:
        torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    same = build_model({"architecture": "small_cnn", "weights": str(path)}, num_classes=10)
    assert same.fc3.out_features == 4  # the file's head: no new_head asked
    for a, b in zip(same.state_dict().values(), source.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    spec = {
        "architecture": "small_cnn",
        "weights": str(path),
        "layers": {"relu5": "none"},
        "train": {"dataset": "d", "new_head": True},
    }
    model = build_model(spec, num_classes=10, seed=0)
    assert model.fc3.out_features == 10 and torch.equal(model.conv1.weight, source.conv1.weight)
    save_checkpoint(model, spec, 10, tmp_path / "ckpt.pt")
    back = load_checkpoint(tmp_path / "ckpt.pt")
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(back(x), model(x), rtol=0, atol=0)


def test_local_file_that_does_not_fit_names_the_file(tmp_path):
    torch.save(build_model({"architecture": "small_cnn"}, 10).state_dict(), tmp_path / "cnn.pt")
    with pytest.raises(ValueError, match=r"cnn.pt: no classifier weight fc.weight"):
        build_model({"architecture": "resnet18", "weights": str(tmp_path / "cnn.pt")})
    with pytest.raises(FileNotFoundError, match="missing.pt does not exist"):
        build_model({"architecture": "small_cnn", "weights": str(tmp_path / "missing.pt")})


def test_timm_by_name_and_unknown_names():
    arch = get_architecture("timm:resnet10t")
    assert (arch.classifier, arch.input_size, arch.uses_timm) == ("fc", 176, True)
    model = build_model({"architecture": "timm:resnet10t", "input_size": 64}, num_classes=3)
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 3)
    with pytest.raises(ValueError, match=r"timm has no model 'resnet1' \(closest: resnet18"):
        get_architecture("timm:resnet1")
    with pytest.raises(ValueError, match="choose one of small_cnn, efficientnet_lite0, resnet18"):
        get_architecture("vgg")


@pytest.mark.parametrize("name", ["resnet18", "alexnet", "efficientnet_lite0", "timm:resnet10t"])
def test_concat_pool_head(name):
    spec = {
        "architecture": name,
        "input_size": 64,
        "train": {"dataset": "d", "new_head": True, "head": {"type": "concat_pool", "hidden": [16, 8]}},
    }
    model = build_model(spec, num_classes=6).eval()
    head = model.get_submodule(get_architecture(name).head or get_architecture(name).classifier)
    assert [type(m).__name__ for m in head.block1] == ["Linear", "BatchNorm1d", "ReLU", "Dropout"]
    assert head.block2.linear.in_features == 16 and head.fc.out_features == 6
    # the head sees [average, max] of the last feature map
    captured = {}
    first = head.block1.linear
    first.register_forward_hook(lambda m, i, o: captured.update(x=i[0]))  # returns None: output kept
    with torch.no_grad():
        assert model(torch.rand(2, 3, 64, 64)).shape == (2, 6)
    channels = first.in_features // 2
    assert captured["x"].shape == (2, 2 * channels)
    assert bool((captured["x"][:, channels:] >= captured["x"][:, :channels] - 1e-6).all())  # max >= mean


@pytest.mark.parametrize(
    ("size", "J", "L", "channels"),
    [(28, 2, 8, 1), (32, 2, 8, 1), (28, 1, 8, 1), (28, 3, 8, 1), (32, 3, 4, 3), (28, 2, 6, 3)],
)
def test_scattering_matches_kymatio(size, J, L, channels):  # noqa: N803 - kymatio's names
    """Our fixed-convolution scattering against kymatio's FFT implementation (order 2), at the default
    J=2, L=8 on one channel and at the other scales, orientations and channel counts options allow.

    Tolerance: absolute 1e-5 on coefficients of magnitude up to ~1 (images in [0, 1]); measured
    differences are below 1.1e-6 (float32 round-off of the two summation orders).
    """
    from kymatio.scattering2d.frontend.torch_frontend import ScatteringTorch2D

    from layeratlas.models.scattering import Scattering2D

    x = torch.rand(3, channels, size, size, generator=torch.Generator().manual_seed(size + J))
    with torch.no_grad():
        expected = ScatteringTorch2D(J=J, shape=(size, size), L=L)(x)  # (3, C, K, m, m)
        actual = Scattering2D(size, J=J, L=L, in_channels=channels)(x)
    k = 1 + L * J + L * L * J * (J - 1) // 2
    assert expected.shape[:3] == (3, channels, k)
    assert actual.shape == (3, channels * k, *expected.shape[-2:])
    torch.testing.assert_close(actual, expected.reshape(actual.shape), rtol=0, atol=1e-5)


def test_architecture_options_build_the_configured_networks():
    from layeratlas.models.zoo import model_architecture

    spec = {"architecture": "scattering", "options": {"J": 3, "L": 4, "channels": 3}, "layers": {}}
    arch = model_architecture(spec)
    assert arch.channels == 3 and arch.mean == (0.0,) * 3 and "J=3, L=4" in arch.description
    model = build_model(spec, 10)
    k = 1 + 4 * 3 + 16 * 3
    assert model.fc.in_features == 3 * k * 3 * 3  # 28 px, J=3: 3x3 maps per coefficient
    with torch.no_grad():
        assert model(torch.rand(2, 3, 28, 28)).shape == (2, 10)
    cnn = build_model({"architecture": "small_cnn", "options": {"widths": [4, 8, 12], "hidden": [30, 20]}}, 7)
    assert [cnn.conv1.out_channels, cnn.conv2.out_channels, cnn.conv3.out_channels] == [4, 8, 12]
    assert (cnn.fc1.in_features, cnn.fc1.out_features, cnn.fc2.out_features) == (12 * 7 * 7, 30, 20)
    assert cnn.fc3.out_features == 7
    # the schema's defaults are the registered networks
    default = build_model({"architecture": "small_cnn", "options": {"widths": [6, 16, 16]}}, 10)
    assert [p.shape for p in default.parameters()] == [
        p.shape for p in build_model({"architecture": "small_cnn"}, 10).parameters()
    ]
    with pytest.raises(ValueError, match="takes no options"):
        model_architecture({"architecture": "resnet18", "options": {"widths": [1, 2, 3]}})
    with pytest.raises(ValueError, match="lower options.J"):
        build_model({"architecture": "scattering", "input_size": 16, "options": {"J": 5}}, 10)


def test_architecture_options_in_the_config_and_a_checkpoint(tmp_path):
    from layeratlas.config import ConfigError, validate_config

    base = {"datasets": {"d": {"source": "sklearn_digits"}}}
    models = {
        "cnn": {"architecture": "small_cnn", "layers": {"relu5": "none"}, "options": {"hidden": [50, 40]}},
        "scat": {"architecture": "scattering", "layers": {"scattering": "none"}},
        "res": {"architecture": "resnet18", "layers": {"layer2": "avg"}},
    }
    checked = validate_config({**base, "models": models})["models"]
    assert checked["cnn"]["options"] == {"widths": [6, 16, 16], "hidden": [50, 40]}
    assert checked["scat"]["options"] == {"J": 2, "L": 8, "channels": 1}
    assert checked["res"]["options"] == {}
    bad = {
        "res": {**models["res"], "options": {"widths": [1, 2, 3]}},
        "scat": {**models["scat"], "options": {"channels": 2, "hidden": [3, 3]}},
    }
    with pytest.raises(ConfigError) as error:
        validate_config({**base, "models": bad})
    assert "models.res.options: unknown key(s) 'widths'; allowed keys: none" in str(error.value)
    assert "models.scat.options: unknown key(s) 'hidden'; allowed keys: J, L, channels" in str(error.value)
    assert "models.scat.options.channels: 2 is not allowed; choose one of 1, 3" in str(error.value)
    # a checkpoint rebuilds the configured network
    model = build_model(checked["cnn"], 10)
    save_checkpoint(model, checked["cnn"], 10, tmp_path / "c.pt")
    assert load_checkpoint(tmp_path / "c.pt").fc2.out_features == 40


def test_fixed_adaptive_pool_matches_pytorch():
    for size_in, size_out in (((13, 13), (6, 6)), ((1, 1), (6, 6)), ((7, 9), (6, 6)), ((12, 5), (3, 2))):
        x = torch.randn(2, 4, *size_in)
        expected = torch.nn.AdaptiveAvgPool2d(size_out)(x)
        torch.testing.assert_close(FixedAdaptiveAvgPool2d(size_in, size_out)(x), expected)
    model = build_model({"architecture": "alexnet"}, 10)
    fixed = static_adaptive_pools(model, 3, 96)
    assert (
        type(fixed.avgpool).__name__ == "FixedAdaptiveAvgPool2d" and type(model.avgpool).__name__ != "Fixed"
    )
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(fixed(x), model(x))


def test_layer_listing_of_small_cnn_against_known_shapes(capsys):
    model = build_model({"architecture": "small_cnn"}, 10)
    rows = {r["layer"]: r for r in layer_table(model, get_architecture("small_cnn"), 28)}
    assert rows["conv1"]["shape"] == (6, 28, 28) and rows["conv1"]["params"] == 6 * 1 * 9 + 6
    assert rows["pool2"]["bytes"] == 4 * 16 * 7 * 7 and rows["pool2"]["bytes_pooled"] == 4 * 16
    assert rows["relu5"]["bytes"] == rows["relu5"]["bytes_pooled"] == 400
    assert rows["fc1"]["params"] == 784 * 120 + 120 and rows["relu4"]["kind"] == "ReLU"
    assert main(["layers", "small_cnn"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.split()[:1] == ["fc1"])
    assert line.split()[1:] == ["Linear", "120", "94,200", "480", "480"]
    # with the architecture's options, as models.<name>.options gives them
    assert main(["layers", "small_cnn", "--option", "widths=[8,16,4]", "--option", "hidden=[30,20]"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.split()[:1] == ["fc1"])
    assert line.split()[1:] == ["Linear", "30", f"{196 * 30 + 30:,}", "120", "120"]
    assert main(["layers", "resnet18", "--option", "J=3"]) == 2
    assert "takes no options" in capsys.readouterr().err


def test_a_module_and_its_last_node_can_both_be_layers():
    from layeratlas.models.layers import truncated_graph

    arch = get_architecture("resnet18")
    model = build_model({"architecture": "resnet18"}, 10)
    graph = truncated_graph(model, arch, ["layer1.0", "layer1.0.relu_1", "layer2"])
    out = graph(torch.rand(1, 3, 32, 32))
    assert list(out) == ["layer1.0", "layer1.0.relu_1", "layer2"]
    assert torch.equal(out["layer1.0"], out["layer1.0.relu_1"])
    assert np.prod(out["layer2"].shape) == 128 * 4 * 4


def test_a_local_weights_file_is_an_input_of_the_rules_that_read_it(tmp_path):
    """Missing: the run stops before any job, naming the key. Present: training and the export of an
    untrained model list it as input, and a changed file makes them run again."""
    import yaml

    from layeratlas.config import validate_config
    from layeratlas.models.weights import weights_file_errors
    from tests.snakemake_runs import snakemake

    run = tmp_path / "run"
    run.mkdir()
    config = {
        "datasets": {"digits": {"source": "sklearn_digits", "max_per_class": 5}},
        "models": {
            "cnn": {
                "architecture": "small_cnn",
                "weights": "init/cnn.pt",
                "layers": {"relu5": "none"},
                "train": {"dataset": "digits", "epochs": 1},
            },
            "raw": {"architecture": "small_cnn", "weights": "init/cnn.pt", "layers": {"relu5": "none"}},
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    flags = ["--cores", "1", "--configfile", str(path)]
    errors = weights_file_errors(validate_config(config)["models"], run)  # what common.smk raises
    assert [e.split(" does not exist")[0] for e in errors] == [
        "models.cnn.weights: file 'init/cnn.pt'",
        "models.raw.weights: file 'init/cnn.pt'",
    ]

    def save_weights(seed: int) -> None:
        (run / "init").mkdir(exist_ok=True)
        torch.save(
            build_model({"architecture": "small_cnn"}, 10, seed=seed).state_dict(), run / "init/cnn.pt"
        )

    def jobs(dry_run: str) -> dict[str, list[str]]:
        """rule -> the input line of each of its jobs"""
        out: dict[str, list[str]] = {}
        for block in dry_run.split("rule ")[1:]:
            rule, _, rest = block.partition(":")
            out.setdefault(rule, []).append(
                rest.split("input:")[1].split("\n")[0] if "input:" in rest else ""
            )
        return out

    save_weights(0)
    targets = ["models/cnn/extractor.json", "models/raw/extractor.json"]
    planned = jobs(snakemake(run, *targets, "--dry-run", *flags).stdout)
    assert ["init/cnn.pt" in line for line in planned["train_model"]] == [True]
    # the trained model's export reads its checkpoint, the untrained one's the file
    assert sorted("init/cnn.pt" in line for line in planned["export_model"]) == [False, True]
    snakemake(run, "models/raw/extractor.json", *flags)  # the untrained export, for real
    save_weights(1)  # other weights in the same file
    rerun = snakemake(run, "models/raw/extractor.json", "--dry-run", *flags).stdout
    assert "export_model" in rerun and "Updated input files: init/cnn.pt" in rerun
