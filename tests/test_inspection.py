"""Inspection functions on small networks whose answers are known: filter grids, activation maps against a
hand-written convolution, top patches against a brute-force search, receptive fields against the
arithmetic and against the input gradient, dead units, the layer table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from layeratlas.inspection import filters
from layeratlas.inspection.activations import layer_maps, select_images
from layeratlas.inspection.dead_units import channel_maxima, dead_unit_table
from layeratlas.inspection.graph import forward_nodes, is_activation, trace
from layeratlas.inspection.layer_table import layer_shape_table, shapes
from layeratlas.inspection.patches import TopUnits, crop, strongest_units, top_table, update_top
from layeratlas.inspection.receptive_field import receptive_fields, sequential_field
from layeratlas.models.small_cnn import SmallCNN
from layeratlas.plots import inspection as inspection_plots


def _conv_relu_pool(weight: np.ndarray, bias: np.ndarray, padding: int = 1) -> nn.Sequential:
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2], padding=padding)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(weight))
        conv.bias.copy_(torch.from_numpy(bias))
    return nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(2)).eval()


def _numpy_conv(image: np.ndarray, weight: np.ndarray, bias: np.ndarray, padding: int) -> np.ndarray:
    """Cross-correlation by loops: (C, H, W) image, (F, C, k, k) weight -> (F, H', W')."""
    x = np.pad(image, ((0, 0), (padding, padding), (padding, padding)))
    f, _, k, _ = weight.shape
    h, w = x.shape[1] - k + 1, x.shape[2] - k + 1
    out = np.zeros((f, h, w))
    for o in range(f):
        for i in range(h):
            for j in range(w):
                out[o, i, j] = (x[:, i : i + k, j : j + k] * weight[o]).sum() + bias[o]
    return out


def _max_pool2(maps: np.ndarray) -> np.ndarray:
    f, h, w = maps.shape
    return maps[:, : h // 2 * 2, : w // 2 * 2].reshape(f, h // 2, 2, w // 2, 2).max(axis=(2, 4))


# --- filters ---------------------------------------------------------------------------------------


def test_filter_grids_have_the_models_filter_count_and_shapes():
    model = SmallCNN(num_classes=10).eval()
    convs = filters.conv_layers(trace(model, uses_timm=False))
    assert [name for name, _ in convs] == ["conv1", "conv2", "conv3"]
    picked = filters.pick_filter_layers(convs, deeper=1)
    assert [name for name, _ in picked] == ["conv1", "conv2"]
    first = filters.first_layer_tiles(model.conv1.weight.detach().numpy(), max_filters=64)
    assert first.shape == (6, 3, 3)  # all 6 gray 3x3 filters
    deeper = filters.per_channel_tiles(model.conv2.weight.detach().numpy(), max_filters=4, max_inputs=16)
    assert deeper.shape == (4, 6, 3, 3)  # first 4 filters x all 6 input channels


def test_rgb_first_layer_tiles_are_each_filter_scaled_symmetrically_around_grey():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 64, 11, stride=4, padding=2)  # AlexNet's first layer: 64 x 3 x 11 x 11
    weight = conv.weight.detach().numpy()
    tiles = filters.first_layer_tiles(weight, max_filters=64)
    assert tiles.shape == (64, 11, 11, 3)
    assert tiles.min() >= 0.0 and tiles.max() <= 1.0
    # zero weight -> 0.5; each filter's largest |weight| reaches 0 or 1
    np.testing.assert_allclose(np.abs(tiles - 0.5).max(axis=(1, 2, 3)), 0.5)
    peak = np.abs(weight).max(axis=(1, 2, 3))[:, None, None, None]
    np.testing.assert_allclose(tiles - 0.5, weight.transpose(0, 2, 3, 1) / (2 * peak))
    # the brightest tile pixel is the largest weight of that filter (channels last)
    for f in (0, 17, 63):
        assert np.unravel_index(tiles[f].argmax(), tiles[f].shape) == np.unravel_index(
            weight[f].transpose(1, 2, 0).argmax(), tiles[f].shape
        )
    with pytest.raises(ValueError, match="1 or 3 input channels"):
        filters.first_layer_tiles(np.zeros((4, 5, 3, 3)), 4)


# --- activation maps --------------------------------------------------------------------------------


def test_activation_maps_of_a_known_image_equal_a_direct_convolution():
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(3, 2, 3, 3)).astype(np.float32)
    bias = np.array([0.5, -0.5, 0.0], dtype=np.float32)
    image = rng.normal(size=(2, 8, 8)).astype(np.float32)
    traced = trace(_conv_relu_pool(weight, bias), uses_timm=False)
    conv = _numpy_conv(image, weight, bias, padding=1)
    maps = layer_maps(traced, torch.from_numpy(image[None]), "2")  # the max-pool after the ReLU
    assert maps.relu == "1"
    np.testing.assert_allclose(maps.post[0], _max_pool2(np.maximum(conv, 0)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(maps.pre[0], _max_pool2(conv), rtol=1e-5, atol=1e-5)  # before the ReLU
    assert (maps.pre < 0).any() and (maps.post >= 0).all()
    conv_only = layer_maps(traced, torch.from_numpy(image[None]), "0")
    assert conv_only.pre is None  # no ReLU produces a convolution's output
    np.testing.assert_allclose(conv_only.post[0], conv, rtol=1e-5, atol=1e-5)


def test_pre_relu_maps_of_timm_norm_act_layers_keep_the_norm():
    timm_layers = pytest.importorskip("timm.layers")
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), timm_layers.BatchNormAct2d(4, act_layer=nn.ReLU6))
    with torch.no_grad():
        model[1].running_mean.uniform_(-1, 1)
    model.eval()
    traced = trace(model, uses_timm=True)
    x = torch.randn(2, 1, 6, 6)
    maps = layer_maps(traced, x, "1")
    with torch.no_grad():
        normed = nn.functional.batch_norm(
            model[0](x), model[1].running_mean, model[1].running_var, model[1].weight, model[1].bias
        ).numpy()
    np.testing.assert_allclose(maps.pre, normed, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(maps.post, np.clip(normed, 0, 6), rtol=1e-5, atol=1e-6)


def test_select_images_first_of_each_class_and_by_sample_id():
    ids = np.array([40, 3, 17, 8, 25])
    labels = np.array([1, 0, 1, 0, 2])
    assert ids[select_images(ids, labels, "first_of_each_class", "x")].tolist() == [3, 17, 25]
    assert select_images(ids, labels, [25, 40], "x").tolist() == [4, 0]
    with pytest.raises(ValueError, match=r"sample id\(s\) \[99\] are not among the 5 images of digits"):
        select_images(ids, labels, [99], "digits")


def test_first_of_each_class_stops_at_max_classes():
    """Issue 24: at 100 classes one image per class drew 900 activation figures (65 MB of report.html);
    the default draws the first 10 classes' and a list of sample ids is never cut."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(100), 3)
    ids = rng.permutation(300)
    chosen = select_images(ids, labels, "first_of_each_class", "x", max_classes=10)
    assert sorted(labels[chosen].tolist()) == list(range(10))
    assert len(select_images(ids, labels, "first_of_each_class", "x", max_classes=None)) == 100
    assert len(select_images(ids, labels, ids[:20].tolist(), "x", max_classes=10)) == 20
    from layeratlas.config import load_config

    config = load_config(Path(__file__).parents[1] / "config" / "config.yaml")
    assert config["analyses"]["inspection"]["max_classes"] == 10


# --- top patches and receptive fields -----------------------------------------------------------------


def _valid_net() -> nn.Sequential:
    """Convolutions without padding: every unit's receptive field lies inside the image."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, dilation=2), nn.ReLU()
    ).eval()


def test_top_patch_of_each_channel_has_the_datasets_highest_activation():
    traced = trace(_valid_net(), uses_timm=False)
    images = torch.rand(37, 1, 20, 20)
    node = traced.resolve("4")
    full = forward_nodes(traced, images, [node])[node].numpy()  # (37, 6, 4, 4)
    top = TopUnits.empty(6, 3)
    for start in range(0, 37, 10):  # batches of 10, 10, 10, 7
        top = update_top(top, forward_nodes(traced, images[start : start + 10], [node])[node].numpy(), start)
    per_image, _, _ = strongest_units(full)
    for c in range(6):
        assert top.score[c, 0] == pytest.approx(full[:, c].max())
        assert full[top.image[c, 0], c, top.y[c, 0], top.x[c, 0]] == pytest.approx(top.score[c, 0])
        expected = np.argsort(-per_image[:, c], kind="stable")[:3]
        assert top.image[c].tolist() == expected.tolist()
        assert (np.diff(top.score[c]) <= 0).all()


def test_the_top_patch_alone_gives_the_top_activation():
    """Cropping to the receptive field keeps exactly what the unit sees: the crop run through the network
    gives a 1x1 map whose value is the top activation."""
    net = _valid_net()
    traced = trace(net, uses_timm=False)
    images = torch.rand(12, 1, 20, 20)
    node = traced.resolve("4")
    field = receptive_fields(traced, *shapes(traced, images[:1]))[node]
    assert field.size == (12.0, 12.0) and field.jump == (2.0, 2.0)  # 3, 4 (pool), 4 + (2*2)*2 (dilated conv)
    top = update_top(TopUnits.empty(6, 2), forward_nodes(traced, images, [node])[node].numpy(), 0)
    table = top_table(top, field, np.arange(100, 112), (20, 20))
    assert table.height == 12 and set(table["sample_id"]) <= set(range(100, 112))
    for c in range(6):
        box = field.box(int(top.y[c, 0]), int(top.x[c, 0]), (20, 20))
        patch = crop(images[top.image[c, 0]].permute(1, 2, 0).numpy(), box, fill=0)
        assert patch.shape[:2] == (12, 12)
        with torch.no_grad():
            alone = net(torch.from_numpy(patch).permute(2, 0, 1)[None])
        assert alone.shape[-2:] == (1, 1)
        assert float(alone[0, c, 0, 0]) == pytest.approx(top.score[c, 0], rel=1e-5)


def test_receptive_field_of_alexnet_features_is_the_arithmetic():
    """AlexNet: conv 11/4 pad 2, pool 3/2, conv 5 pad 2, pool 3/2, three conv 3 pad 1, pool 3/2."""
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.alexnet(weights=None).eval()
    traced = trace(model, uses_timm=False)
    table = layer_shape_table(traced, torch.zeros(1, 3, 224, 224))
    rows = {r["layer"]: r for r in table.iter_rows(named=True)}
    expected = {  # r' = r + (k - 1) j, j' = j s
        "features.0": ("11x11", "4x4", "3x224x224", "64x55x55"),
        "features.2": ("19x19", "8x8", "64x55x55", "64x27x27"),
        "features.3": ("51x51", "8x8", "64x27x27", "192x27x27"),
        "features.5": ("67x67", "16x16", "192x27x27", "192x13x13"),
        "features.10": ("163x163", "16x16", "256x13x13", "256x13x13"),
        "features.12": ("195x195", "32x32", "256x13x13", "256x6x6"),
    }
    for layer, (rf, stride, shape_in, shape_out) in expected.items():
        row = rows[layer]
        assert (row["receptive_field"], row["stride"], row["input_shape"], row["output_shape"]) == (
            rf,
            stride,
            shape_in,
            shape_out,
        ), layer
    assert rows["classifier.1"]["receptive_field"] == "whole image"
    assert rows["features.0"]["params"] == 64 * 3 * 11 * 11 + 64
    same = sequential_field([((11, 11), (4, 4), (2, 2), (1, 1)), ((3, 3), (2, 2), (0, 0), (1, 1))])
    assert same.size == (19.0, 19.0) and same.start == (3.0 + 4.0, 3.0 + 4.0)


@pytest.mark.parametrize("use_same", [False, True])
def test_receptive_field_box_is_the_input_gradient_support(use_same):
    """With positive weights and average pooling, an output unit's input gradient is non-zero exactly on
    its receptive field (clipped to the image), also for TensorFlow-style "same" padding."""
    if use_same:
        timm_layers = pytest.importorskip("timm.layers")
        first = timm_layers.Conv2dSame(1, 1, 3, stride=2)
    else:
        first = nn.Conv2d(1, 1, 3, stride=2, padding=1)
    net = nn.Sequential(first, nn.AvgPool2d(2), nn.Conv2d(1, 1, 3, padding=2, dilation=2)).eval()
    for p in net.parameters():
        nn.init.constant_(p, 0.5)
    traced = trace(net, uses_timm=use_same)
    x = torch.zeros(1, 1, 23, 23, requires_grad=True)
    out = net(x)
    field = receptive_fields(traced, *shapes(traced, x.detach()))[traced.resolve("2")]
    for y, xx in ((0, 0), (2, 3), (out.shape[2] - 1, out.shape[3] - 1)):
        (grad,) = torch.autograd.grad(out[0, 0, y, xx], x, retain_graph=True)
        support = np.argwhere(grad[0, 0].numpy() != 0)
        top, left, bottom, right = field.box(y, xx, (23, 23))
        assert support[:, 0].min() == max(top, 0) and support[:, 0].max() == min(bottom, 23) - 1
        assert support[:, 1].min() == max(left, 0) and support[:, 1].max() == min(right, 23) - 1


def test_crop_pads_outside_the_image():
    image = np.arange(16, dtype=np.uint8).reshape(4, 4, 1)
    patch = crop(image, (-1, 2, 2, 5), fill=255)
    assert patch.shape == (3, 3, 1)
    assert patch[0].ravel().tolist() == [255, 255, 255] and patch[1, :, 0].tolist() == [2, 3, 255]


# --- dead units and the layer table ---------------------------------------------------------------


def test_dead_units_are_channels_that_never_exceed_zero():
    weight = np.ones((3, 1, 3, 3), dtype=np.float32)
    bias = np.array([0.0, -1e4, 1.0], dtype=np.float32)  # channel 1 can never fire on [0, 1] images
    traced = trace(_conv_relu_pool(weight, bias), uses_timm=False)
    nodes = [n for n in traced.compute_nodes() if is_activation(traced, n)]
    assert [traced.names[n] for n in nodes] == ["1"]
    out = forward_nodes(traced, torch.rand(5, 1, 8, 8), nodes)[nodes[0]].numpy()
    maxima = channel_maxima(out)
    table = dead_unit_table({"1": maxima}, {"1": "ReLU"})
    assert table.row(0, named=True) == {
        "layer": "1",
        "kind": "ReLU",
        "channels": 3,
        "dead": 1,
        "dead_fraction": pytest.approx(1 / 3),
    }


def test_layer_table_of_the_small_cnn_follows_the_printout():
    traced = trace(SmallCNN(num_classes=10).eval(), uses_timm=False)
    table = layer_shape_table(traced, torch.zeros(1, 1, 28, 28))
    assert table["layer"].to_list() == [
        "conv1", "relu1", "conv2", "relu2", "pool1", "conv3", "relu3", "pool2", "flatten",
        "fc1", "relu4", "fc2", "relu5", "fc3",
    ]  # fmt: skip
    rows = {r["layer"]: r for r in table.iter_rows(named=True)}
    assert (rows["conv1"]["input_shape"], rows["conv1"]["output_shape"]) == ("1x28x28", "6x28x28")
    assert (rows["pool2"]["input_shape"], rows["pool2"]["output_shape"]) == ("16x14x14", "16x7x7")
    assert rows["pool2"]["receptive_field"] == "12x12"  # 3, 5, 6 (pool), 10, 12 (pool)
    assert rows["fc1"]["output_shape"] == "120" and rows["fc1"]["params"] == 784 * 120 + 120


# --- figures ------------------------------------------------------------------------------------------


def test_mosaic_lays_tiles_row_by_row_with_gaps():
    tiles = np.arange(6, dtype=float)[:, None, None] * np.ones((6, 2, 3))
    image = inspection_plots.mosaic(tiles, cols=4)
    assert image.shape == (2 * 2 + 1, 4 * 3 + 3)
    assert image[0, 4] == 1.0 and image[3, 0] == 4.0 and np.isnan(image[2, 0]) and np.isnan(image[4, 9])


def test_figures_draw(tmp_path):
    from layeratlas.plots import save_figure

    rng = np.random.default_rng(0)
    figures = {
        "rgb": inspection_plots.filter_grid(rng.random((64, 11, 11, 3)), "t"),
        "per_channel": inspection_plots.filter_grid(rng.random((16, 6, 3, 3)), "t", "n", per_channel=True),
        "maps": inspection_plots.activation_figure(
            rng.integers(0, 255, (28, 28, 1), dtype=np.uint8), rng.random((16, 7, 7)),
            rng.normal(size=(16, 7, 7)), 64, "t", "relu3",
        ),
        "vector": inspection_plots.activation_figure(
            rng.integers(0, 255, (28, 28, 3), dtype=np.uint8), rng.random(100), None, 64, "t", None
        ),
        "patches": inspection_plots.patches_figure(
            [[rng.integers(0, 255, (6, 6, 1), dtype=np.uint8)] * 3] * 2, rng.random((2, 3)), "t", "n"
        ),
        "dead": inspection_plots.dead_units_figure(
            dead_unit_table({"relu1": np.array([0.0, 1.0]), "relu2": np.array([-1.0, 0.0, 0.0])}), "t"
        ),
    }  # fmt: skip
    for name, fig in figures.items():
        save_figure(fig, tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 1000, name


def test_inspection_config_defaults_and_errors(tiny_config):
    from layeratlas.config import ConfigError, validate_config

    raw = {
        "datasets": tiny_config["datasets"],
        "models": {"m": {"architecture": "small_cnn", "layers": {"pool1": "none"}}},
    }
    options = validate_config(raw)["analyses"]["inspection"]
    assert (
        options["enabled"] is False
        and options["images"] == "first_of_each_class"
        and options["channels"] == 64
    )
    raw["analyses"] = {"inspection": {"enabled": True, "images": "first", "top_k": 0}}
    with pytest.raises(ConfigError) as error:
        validate_config(raw)
    assert "analyses.inspection.images: 'first' is not allowed; choose one of 'first_of_each_class'" in str(
        error.value
    )
    assert "analyses.inspection.top_k" in str(error.value)


def _gradient_support(net: nn.Module, x: torch.Tensor, out: torch.Tensor, c: int, y: int, xx: int):
    """(top, left, bottom, right), exclusive, of the input pixels one output unit's gradient reaches."""
    (grad,) = torch.autograd.grad(out[0, c, y, xx], x, retain_graph=True)
    support = np.argwhere(grad[0].abs().sum(0).numpy() != 0)
    return (*support.min(axis=0), *(support.max(axis=0) + 1))


@pytest.mark.parametrize("side", [320, 112, 224])
def test_receptive_field_through_adaptive_pooling_is_the_input_gradient_support(side):
    """AlexNet's avgpool (adaptive, to 6x6) at three input sizes: a 9x9 grid pooled to 6x6 in uneven
    windows (320 px), a 2x2 grid copied up to 6x6 (112 px) and the even 6x6 (224 px). The boxes equal
    where one unit's input gradient is non-zero. Positive weights and biases keep every ReLU open, and
    the max pools become average pools of the same windows (a max sends its gradient to one pixel)."""
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.alexnet(weights=None).eval()
    for i, m in enumerate(model.features):
        if isinstance(m, nn.MaxPool2d):
            model.features[i] = nn.AvgPool2d(m.kernel_size, m.stride, m.padding)
        elif isinstance(m, nn.Conv2d):
            nn.init.constant_(m.weight, 1.0 / (m.in_channels * m.kernel_size[0] * m.kernel_size[1]))
            nn.init.constant_(m.bias, 0.1)
    head = nn.Sequential(model.features, model.avgpool).eval()
    traced = trace(model, uses_timm=False)
    x = (torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0)) + 0.1).requires_grad_()
    out = head(x)
    assert out.shape[-2:] == (6, 6)
    field = receptive_fields(traced, *shapes(traced, x.detach()))[traced.resolve("avgpool")]
    assert not field.whole
    for y, xx in ((0, 0), (3, 3), (2, 5), (5, 5)):
        top, left, bottom, right = field.box(y, xx, (side, side))
        clipped = (max(top, 0), max(left, 0), min(bottom, side), min(right, side))
        assert clipped == _gradient_support(head, x, out, 0, y, xx), (side, y, xx)
    if side == 320:  # unit (3, 3) sees rows and columns 62..288 (the old arithmetic said 30..256)
        assert field.box(3, 3, (side, side))[:2] == (62, 62) and field.box(3, 3, (side, side))[2] == 289


def test_colour_scattering_network_is_inspected_end_to_end(tmp_path, tiny_config):
    """The README's colour scattering model: filters, layer table, activation maps, top patches and dead
    units all build the network with its options (3 channels), as its features were made."""
    import polars as pl

    from layeratlas.config import validate_config
    from layeratlas.data.datasets import ImageDataset, save_dataset
    from layeratlas.stages import inspect

    spec = {
        "architecture": "scattering",
        "input_size": 32,
        "options": {"J": 2, "channels": 3},
        "layers": {"scattering": "avg"},
    }
    raw = {"datasets": tiny_config["datasets"], "models": {"scat_rgb": spec}}
    config = validate_config(raw | {"analyses": {"inspection": {"enabled": True, "max_images": 8}}})
    spec, options = config["models"]["scat_rgb"], config["analyses"]["inspection"]
    rng = np.random.default_rng(0)
    labels = np.arange(12) % 3
    save_dataset(
        ImageDataset("rgb", rng.integers(0, 256, (12, 20, 20, 3), dtype=np.uint8), labels, ("a", "b", "c"),
                     np.array(["test"] * 12)),
        tmp_path / "data",
    )  # fmt: skip
    inspect.network_figures("scat_rgb", spec, None, 0, options, tmp_path / "filters", tmp_path / "t.tsv")
    assert pl.read_csv(tmp_path / "t.tsv", separator="\t").height > 0
    inspect.layer_figures(
        "rgb", "scat_rgb", "scattering", spec, None, tmp_path / "data", "test", 0, options, 1,
        tmp_path / "maps", tmp_path / "patches.tsv", tmp_path / "patches.png",
    )  # fmt: skip
    assert len(list((tmp_path / "maps").glob("*.png"))) == 3 and (tmp_path / "patches.png").stat().st_size
    inspect.dead_units(
        "rgb", "scat_rgb", spec, None, tmp_path / "data", "test", 0, options, 1,
        tmp_path / "dead.tsv", tmp_path / "dead.png",
    )  # fmt: skip
    assert (tmp_path / "dead.png").is_file()
    # the workflow's job per (dataset, model): the same files from one load of the network
    one = tmp_path / "one"
    inspect.model_inspection(
        "rgb", "scat_rgb", spec, None, tmp_path / "data", "test", 0, options, 1,
        {"scattering": (one / "maps", one / "patches.tsv", one / "patches.png")},
        one / "dead.tsv", one / "dead.png", network=(one / "filters", one / "t.tsv"),
    )  # fmt: skip
    assert sorted(p.name for p in (one / "maps").glob("*.png")) == sorted(
        p.name for p in (tmp_path / "maps").glob("*.png")
    )
    assert sorted(p.name for p in (one / "filters").glob("*.png")) == sorted(
        p.name for p in (tmp_path / "filters").glob("*.png")
    )  # a scattering network has no Conv2d: one note figure
    for table in ("patches.tsv", "dead.tsv", "t.tsv"):
        assert (one / table).read_text() == (tmp_path / table).read_text()
    assert (one / "patches.png").stat().st_size and (one / "dead.png").is_file()


@pytest.mark.parametrize("side", [13, 4, 20])
def test_fields_after_uneven_adaptive_pooling_follow_the_gradient(side):
    """A convolution after adaptive pooling (13 -> 5 uneven, 4 -> 5 overlapping copies, 20 -> 5 even):
    its units' boxes, kept per unit, are where their input gradient is non-zero."""
    net = nn.Sequential(
        nn.Conv2d(1, 1, 3, padding=1), nn.AdaptiveAvgPool2d(5), nn.Conv2d(1, 1, 3, padding=1)
    ).eval()
    for p in net.parameters():
        nn.init.constant_(p, 0.5)
    traced = trace(net, uses_timm=False)
    x = torch.ones(1, 1, side, side, requires_grad=True)
    out = net(x)
    field = receptive_fields(traced, *shapes(traced, x.detach()))[traced.resolve("2")]
    for y, xx in ((0, 0), (2, 3), (4, 4), (1, 4)):
        top, left, bottom, right = field.box(y, xx, (side, side))
        clipped = (max(top, 0), max(left, 0), min(bottom, side), min(right, side))
        assert clipped == _gradient_support(net, x, out, 0, y, xx), (side, y, xx)
