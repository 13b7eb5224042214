"""Every exported graph of the test config (and of the default config) against eager PyTorch, at every
output, on raw uint8 inputs of several batch sizes, image sizes and channel counts.

Tolerances: TorchScript runs PyTorch's own kernels, so it must match to float32 round-off
(rtol 1e-5, atol 1e-6 scaled by the output's magnitude). onnxruntime fuses and reorders operations
(conv+BN folding, different GEMM/conv kernels), so ONNX outputs must match to rtol 1e-3 and an
absolute tolerance of 1e-4 times the output's largest magnitude.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
import yaml

from layeratlas.config import validate_config
from layeratlas.export import build_extractor, example_images, export_onnx, export_torchscript
from layeratlas.models import build_model, get_architecture
from tests.conftest import DEFAULT_CONFIG, TINY_CONFIG

INPUTS = [(1, 8, 1), (3, 8, 1), (2, 32, 3), (5, 20, 3), (2, 90, 1)]  # (batch, side, channels); 90: downscaled


# Every architecture of the zoo (and a timm model by name) at its default layers. Input sizes are kept
# small so the CPU run stays short; the graph (and so parity) does not depend on them. The scattering
# network is built for one size (28), as kymatio's Scattering2D is.
ZOO_SIZES = {
    "resnet18": 64,
    "resnet50": 64,
    "alexnet": 64,
    "scattering": 28,
    "timm:resnet10t": 64,
    "small_cnn": 28,
    "efficientnet_lite0": 64,
}


def _models():
    for path in (TINY_CONFIG, DEFAULT_CONFIG):
        config = validate_config(yaml.safe_load(path.read_text()))
        for name, spec in config["models"].items():
            yield pytest.param(spec, id=f"{path.stem}-{name}")
    for name, size in ZOO_SIZES.items():
        layers = dict(get_architecture(name).default_layers)
        yield pytest.param({"architecture": name, "input_size": size, "layers": layers}, id=f"zoo-{name}")
    # the two heads a recipe can add, with their layers extracted
    yield pytest.param(
        {
            "architecture": "resnet18",
            "input_size": 64,
            "layers": {"layer4": "max", "avgpool": "none", "fc.block1.relu": "none", "fc": "none"},
            "train": {"dataset": "d", "head": {"type": "concat_pool", "hidden": [32], "dropout": 0.5}},
        },
        id="zoo-resnet18-concat_pool_head",
    )
    # architectures' own options: a colour scattering network at other J and L, a wider small CNN
    yield pytest.param(
        {
            "architecture": "scattering",
            "input_size": 32,
            "options": {"J": 3, "L": 4, "channels": 3},
            "layers": {"scattering": "none", "fc": "none"},
        },
        id="zoo-scattering-colour-J3-L4",
    )
    yield pytest.param(
        {
            "architecture": "small_cnn",
            "options": {"widths": [8, 12, 20], "hidden": [64, 32]},
            "layers": {"pool2": "avg", "relu5": "none"},
        },
        id="zoo-small_cnn-widths",
    )


@pytest.fixture(scope="module", params=list(_models()))
def exported(request, tmp_path_factory):
    spec = request.param
    # Random init (and a new head where the config trains one) stands in for trained weights: parity is
    # a property of the graph, and random weights exercise it as hard as trained ones.
    model = build_model(spec, num_classes=10, seed=0)
    extractor = build_extractor(model, spec)
    out = tmp_path_factory.mktemp("export")
    example = example_images(2, 16, 3)
    export_torchscript(extractor, example, out / "extractor.torchscript.pt")
    export_onnx(extractor, example, out / "extractor.onnx")
    return extractor, out, model


def _inputs():
    for i, (batch, side, channels) in enumerate(INPUTS):
        yield (batch, side, channels), example_images(batch, side, channels, seed=i)


def _assert_close(
    actual: np.ndarray, expected: np.ndarray, rtol: float, atol_scale: float, what: str
) -> None:
    assert actual.shape == expected.shape, what
    scale = float(np.abs(expected).max()) or 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol_scale * scale, err_msg=what)


def test_torchscript_matches_eager(exported):
    extractor, out, _ = exported
    scripted = torch.jit.load(str(out / "extractor.torchscript.pt"))
    for shape, images in _inputs():
        with torch.no_grad():
            expected, actual = extractor(images), scripted(images)
        assert len(actual) == len(extractor.layers)
        for layer, a, e in zip(extractor.layers, actual, expected, strict=True):
            _assert_close(a.numpy(), e.numpy(), 1e-5, 1e-6, f"TorchScript {layer} on input {shape}")


def test_onnx_matches_eager(exported):
    extractor, out, _ = exported
    session = ort.InferenceSession(str(out / "extractor.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == extractor.layers
    for shape, images in _inputs():
        with torch.no_grad():
            expected = extractor(images)
        actual = session.run(None, {"images": images.numpy()})
        for layer, a, e in zip(extractor.layers, actual, expected, strict=True):
            _assert_close(a, e.numpy(), 1e-3, 1e-4, f"ONNX {layer} on input {shape}")


def test_outputs_are_the_requested_layers(exported):
    """The truncated graph's outputs equal the full model's activations at those modules (forward hooks)."""
    extractor, _, model = exported
    captured = {}
    hooks = [
        model.get_submodule(layer).register_forward_hook(
            lambda m, i, o, layer=layer: captured.__setitem__(layer, o)
        )
        for layer in extractor.layers
    ]
    images = example_images(2, 16, 3)
    try:
        with torch.no_grad():
            model(extractor.preprocess(images))
            outs = extractor(images)
    finally:
        for h in hooks:
            h.remove()
    for layer, out in zip(extractor.layers, outs, strict=True):
        torch.testing.assert_close(out, captured[layer], rtol=1e-6, atol=1e-6, msg=f"layer {layer}")


# --- every layer `layeratlas layers` lists, for every architecture of the zoo -------------------------------
#
# One graph per architecture with every layer as an output (random weights, small inputs), so the whole zoo
# costs a few export calls. Batches: one image, and a batch cut the way extraction cuts a dataset (batches of
# 4 over 6 images: a short last batch of 2), gray and colour, at sizes other than the model's input size.

ALL_LAYER_SIZES = {
    **ZOO_SIZES,
    "resnet18": 32,
    "resnet50": 32,
    "efficientnet_lite0": 32,
    "timm:resnet10t": 32,
}


def test_all_layer_cases_cover_the_zoo():
    from layeratlas.models import ARCHITECTURES

    assert set(ARCHITECTURES) <= set(ALL_LAYER_SIZES)


@pytest.fixture(scope="module", params=list(ALL_LAYER_SIZES), ids=lambda a: f"all-layers-{a}")
def every_layer(request, tmp_path_factory):
    from layeratlas.models.layers import layer_table

    arch, size = request.param, ALL_LAYER_SIZES[request.param]
    model = build_model({"architecture": arch, "input_size": size}, num_classes=10, seed=0)
    table = layer_table(model, get_architecture(arch), size)  # what `layeratlas layers` prints
    spec = {"architecture": arch, "input_size": size, "layers": {row["layer"]: "none" for row in table}}
    extractor = build_extractor(model, spec)
    out = tmp_path_factory.mktemp("every-layer")
    example = example_images(2, 16, 3)
    export_torchscript(extractor, example, out / "extractor.torchscript.pt")
    export_onnx(extractor, example, out / "extractor.onnx")
    return extractor, out, table, size


def _batches(extractor, channels: int, side: int):  # noqa: ANN001, ANN202
    """(what, images, eager outputs) for one image and for 6 images cut into batches of 4 and 2."""
    one = example_images(1, side, channels, seed=side)
    six = example_images(6, side, channels, seed=side + 1)
    with torch.no_grad():
        yield f"batch 1, {side}px x{channels}", one, extractor(one)
        expected = extractor(six)
    for lo in (0, 4):
        part = tuple(e[lo : lo + 4] for e in expected)
        yield f"batch {len(part[0])} of 6 (rows {lo}..), {side}px x{channels}", six[lo : lo + 4], part


def test_every_layer_matches_eager_at_batch_1_and_a_short_last_batch(every_layer):
    extractor, out, table, size = every_layer
    assert extractor.layers == [row["layer"] for row in table]
    session = ort.InferenceSession(str(out / "extractor.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == extractor.layers
    scripted = torch.jit.load(str(out / "extractor.torchscript.pt"))
    with torch.no_grad():
        at_size = extractor(example_images(1, size, 3))
    for row, tensor in zip(table, at_size, strict=True):  # the shapes `layeratlas layers` promises
        assert tuple(tensor.shape[1:]) == tuple(row["shape"]), row["layer"]
    for channels, side in ((3, size + 5), (1, max(8, size - 7))):
        for what, images, expected in _batches(extractor, channels, side):
            actual = session.run(None, {"images": images.numpy()})
            with torch.no_grad():
                traced = scripted(images)
            for layer, a, t, e in zip(extractor.layers, actual, traced, expected, strict=True):
                _assert_close(a, e.numpy(), 1e-3, 1e-4, f"ONNX {layer} on {what}")
                _assert_close(t.numpy(), e.numpy(), 1e-5, 1e-6, f"TorchScript {layer} on {what}")


# --- input layout and antialiased downscaling ---------------------------------------------------------

SMALL = {"architecture": "small_cnn", "layers": {"pool2": "avg", "relu5": "none"}}


@pytest.fixture(scope="module")
def small_exported(tmp_path_factory):
    extractor = build_extractor(build_model(SMALL, num_classes=10, seed=0), SMALL)
    out = tmp_path_factory.mktemp("small")
    export_torchscript(extractor, example_images(2, 16, 3), out / "extractor.torchscript.pt")
    export_onnx(extractor, example_images(2, 16, 3), out / "extractor.onnx")
    return extractor, out


def test_downscaling_is_antialiased_like_torchvision_resize(small_exported):
    """A 512 px image of 1 px stripes shrunk to 28 px is a flat grey (as torchvision's Resize with
    antialias gives), not the aliased 2 x 2 samples; the exported graphs run the same resize."""
    extractor, out = small_exported
    stripes = np.zeros((1, 512, 512, 1), dtype=np.uint8)
    stripes[:, :, ::2] = 255
    pre = extractor.preprocess
    with torch.no_grad():
        seen = (pre(torch.from_numpy(stripes)) * pre.scale + pre.offset).numpy()  # back to 0..255
        x = torch.from_numpy(stripes).permute(0, 3, 1, 2).float()
        reference = torch.nn.functional.interpolate(
            x, size=(28, 28), mode="bilinear", align_corners=False, antialias=True
        ).numpy()
    np.testing.assert_allclose(seen, reference, atol=1e-2)
    assert seen.min() > 120 and seen.max() < 135  # the mean 127.5, give or take the filter's edge
    rng = np.random.default_rng(0)
    for shape in ((2, 300, 77, 1), (1, 29, 28, 3), (1, 9, 9, 3)):  # down, one-pixel down, up
        images = torch.from_numpy(rng.integers(0, 256, shape, dtype=np.uint8))
        with torch.no_grad():
            seen = pre(images) * pre.scale + pre.offset
            x = images.permute(0, 3, 1, 2).float().mean(dim=1, keepdim=True)
            reference = torch.nn.functional.interpolate(
                x, size=(28, 28), mode="bilinear", align_corners=False, antialias=True
            )
        np.testing.assert_allclose(seen.numpy(), reference.numpy(), atol=1e-2, err_msg=str(shape))
    scripted = torch.jit.load(str(out / "extractor.torchscript.pt"))
    session = ort.InferenceSession(str(out / "extractor.onnx"), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = extractor(torch.from_numpy(stripes))
        traced = scripted(torch.from_numpy(stripes))
    onnx_out = session.run(None, {"images": stripes})
    for layer, e, t, o in zip(extractor.layers, expected, traced, onnx_out, strict=True):
        _assert_close(t.numpy(), e.numpy(), 1e-5, 1e-6, f"TorchScript {layer} on 512 px stripes")
        _assert_close(o, e.numpy(), 1e-3, 1e-4, f"ONNX {layer} on 512 px stripes")


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (torch.rand(2, 28, 28, 1), "dtype"),  # floats in [0, 1]
        (torch.zeros(2, 28, 28, 4, dtype=torch.uint8), "4 channels"),
        (torch.zeros(2, 28, 28, 2, dtype=torch.uint8), "2 channels"),
        (torch.zeros(2, 1, 28, 28, dtype=torch.uint8), "28 channels"),  # NCHW
        (torch.zeros(28, 28, 1, dtype=torch.uint8), "rank 3"),
    ],
)
def test_torchscript_refuses_inputs_it_would_misread(small_exported, bad, expected):
    _, out = small_exported
    scripted = torch.jit.load(str(out / "extractor.torchscript.pt"))
    with pytest.raises(Exception, match=rf"uint8 images of layout NHWC.*1 or 3 channels.*{expected}"):
        scripted(bad)
