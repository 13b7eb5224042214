"""What keeps the inspection jobs cheap (issue 22), by counts and by equal outputs, never by time: the
searched images go through the network once for every layer and the dead units; a layer's activation
figures share one constrained layout, and one figure redrawn with each image's data, pixel for pixel what
a fresh figure draws; a figure laid out beforehand is saved with one draw; the layer table's shapes come
from fake tensors and equal a real pass's (in the merged job, from the real pass it makes anyway)."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from layeratlas import plots
from layeratlas.inspection.graph import trace
from layeratlas.inspection.layer_table import fake_shapes, layer_shape_table, shapes
from layeratlas.models.small_cnn import SmallCNN
from layeratlas.plots import inspection as inspection_plots


def _pixels(path) -> np.ndarray:  # noqa: ANN001
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _maps(seed: int, signed: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pre = rng.normal(size=(16, 7, 7)) * (seed + 1)  # scales differ: the colour bar is per channel anyway
    pre = pre if signed else np.abs(pre)  # all maps at least 0: a colour scale from 0
    post = np.maximum(pre, 0)
    return rng.integers(0, 256, (28, 28, 1), dtype=np.uint8), post, pre


def test_a_shared_layout_draws_each_figure_as_its_own_layout_does(tmp_path, signed=True):
    layout = inspection_plots.SharedLayout()
    titles = ["m / pool1: sample 3 (class 0)", "m / pool1: sample 1234 (class 9)", "m / pool1: sample 7"]
    for i, title in enumerate(titles):
        image, post, pre = _maps(i, signed)
        args = (image, post, pre, 16, title, "relu2")
        plots.save_figure(inspection_plots.activation_figure(*args), tmp_path / f"own{i}.png")
        plots.save_figure(
            layout.apply(inspection_plots.activation_figure(*args)), tmp_path / f"shared{i}.png"
        )
        assert np.array_equal(_pixels(tmp_path / f"own{i}.png"), _pixels(tmp_path / f"shared{i}.png")), i
    assert layout.reused == len(titles) - 1  # laid out once


def test_a_figure_whose_layout_texts_differ_is_laid_out_again(tmp_path):
    layout = inspection_plots.SharedLayout()
    image, post, pre = _maps(0, signed=False)
    layout.apply(inspection_plots.activation_figure(image, post, pre, 16, "short title", "relu2"))
    # signed maps: another colour scale, other tick labels on the colour bar
    image, post, pre = _maps(1, signed=True)
    layout.apply(inspection_plots.activation_figure(image, post, pre, 16, "short title", "relu2"))
    # a title of two lines takes more height
    long = "m / pool1: " + "a long title " * 30
    fig = layout.apply(inspection_plots.activation_figure(image, post, pre, 16, long, "relu2"))
    assert layout.reused == 0
    plots.save_figure(fig, tmp_path / "long.png")
    own = inspection_plots.activation_figure(image, post, pre, 16, long, "relu2")
    plots.save_figure(own, tmp_path / "own.png")
    assert np.array_equal(_pixels(tmp_path / "long.png"), _pixels(tmp_path / "own.png"))


def test_a_layers_activation_figures_redraw_one_figure_with_a_fresh_figures_pixels(tmp_path, monkeypatch):
    """ActivationFigures redraws a figure with new data where only data differ (issue 22: building and
    laying out each image's figure cost about half of writing it), builds one where the colour scale or
    the title's line count differ, and saves each with one draw; every PNG is a fresh figure's."""
    from matplotlib.figure import Figure

    figures = inspection_plots.ActivationFigures(16, "relu2")
    long = "m / pool1: " + "a long title " * 30
    series = [
        (0, False, "m / pool1: sample 3 (class 0)"),
        (1, False, "m / pool1: sample 1234 (class 9)"),  # the first figure, redrawn
        (2, True, "m / pool1: sample 7 (class 1)"),  # signed maps: another colour scale, its own figure
        (3, False, "m / pool1: sample 8 (class 2)"),  # the first figure again
        (4, False, long),  # a title of more lines takes more height: its own figure
    ]
    draws = []
    real = Figure.draw
    monkeypatch.setattr(Figure, "draw", lambda self, renderer: draws.append(1) or real(self, renderer))
    drawn = []
    for i, (seed, signed, title) in enumerate(series):
        image, post, pre = _maps(seed, signed)
        fig = figures.figure(image, post, pre, title)
        drawn.append(fig)
        draws.clear()
        plots.save_figure(fig, tmp_path / f"reused{i}.png")
        assert len(draws) == 1, i  # a layout engine left on (even "none") makes saving draw twice
        own = inspection_plots.activation_figure(image, post, pre, 16, title, "relu2")
        plots.save_figure(own, tmp_path / f"own{i}.png")
        assert np.array_equal(_pixels(tmp_path / f"reused{i}.png"), _pixels(tmp_path / f"own{i}.png")), i
    assert figures.created == 3
    assert drawn[1] is drawn[0] and drawn[3] is drawn[0] and drawn[2] is not drawn[0]
    # a vector layer's bars: a figure per image (limits and titles follow the data), its own layout's pixels
    vectors = inspection_plots.ActivationFigures(16, "relu5")
    for i in range(2):
        image, post, pre = _maps(i, signed=True)
        args = (image, post[:, 0, 0] * (i + 1), pre[:, 0, 0], f"m / relu5: sample {i}")
        plots.save_figure(vectors.figure(*args), tmp_path / f"bars{i}.png")
        plots.save_figure(
            inspection_plots.activation_figure(*args[:3], 16, args[3], "relu5"), tmp_path / "own.png"
        )
        assert np.array_equal(_pixels(tmp_path / f"bars{i}.png"), _pixels(tmp_path / "own.png")), i
    assert vectors.created == 2


def test_fake_shapes_equal_a_real_pass():
    traced = trace(SmallCNN(num_classes=10).eval(), uses_timm=False)
    x = torch.rand(1, 1, 28, 28)
    assert fake_shapes(traced, x) == shapes(traced, x)


def _doubled_by_numpy(x: torch.Tensor) -> torch.Tensor:
    """An operation fake tensors cannot run: it reads values."""
    return torch.from_numpy(x.numpy() * 2)


torch.fx.wrap("_doubled_by_numpy")  # one node of the graph, not traced into


class _Numpy(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _doubled_by_numpy(x)


def test_fake_shapes_fall_back_to_a_real_pass():
    from torch._subclasses.fake_tensor import FakeTensorMode

    traced = trace(nn.Sequential(nn.Conv2d(1, 2, 3), _Numpy(), nn.ReLU()).eval(), uses_timm=False)
    x = torch.rand(1, 1, 9, 9)
    with pytest.raises(Exception), FakeTensorMode(allow_non_fake_inputs=True) as mode:  # noqa: B017, PT011
        shapes(traced, mode.from_tensor(x))
    assert fake_shapes(traced, x) == shapes(traced, x)
    assert "2x7x7" in layer_shape_table(traced, x)["output_shape"].to_list()


def test_one_pass_of_the_searched_images_serves_every_layer_and_the_dead_units(
    tmp_path, tiny_config, monkeypatch, caplog
):
    """model_inspection's top patches of two layers and its dead units: one forward per batch of the
    searched images (not one per layer and one more), and the same tables as a job per output."""
    from layeratlas.config import validate_config
    from layeratlas.data.datasets import ImageDataset, save_dataset
    from layeratlas.inspection import activations, graph
    from layeratlas.stages import inspect

    spec = {"architecture": "small_cnn", "layers": {"pool1": "none", "relu5": "none"}}
    raw = {"datasets": tiny_config["datasets"], "models": {"m": spec}}
    config = validate_config(
        raw | {"analyses": {"inspection": {"enabled": True, "max_images": 10, "batch_size": 4}}}
    )
    spec, options = config["models"]["m"], config["analyses"]["inspection"]
    rng = np.random.default_rng(0)
    labels = np.arange(14) % 2
    save_dataset(
        ImageDataset("g", rng.integers(0, 256, (14, 8, 8, 1), dtype=np.uint8), labels, ("a", "b"),
                     np.array(["test"] * 14)),
        tmp_path / "data",
    )  # fmt: skip
    calls = []
    real = graph.forward_nodes
    counted = lambda t, x, nodes: calls.append(len(x)) or real(t, x, nodes)  # noqa: E731
    monkeypatch.setattr(graph, "forward_nodes", counted)
    monkeypatch.setattr(activations, "forward_nodes", counted)  # its import of it, for the maps
    one = tmp_path / "one"
    paths = {
        layer: (one / layer / "maps", one / layer / "p.tsv", one / layer / "p.png")
        for layer in spec["layers"]
    }
    with caplog.at_level(logging.INFO, logger="layeratlas"):
        inspect.model_inspection("g", "m", spec, None, tmp_path / "data", "test", 0, options, 1,
                                 paths, one / "dead.tsv", one / "dead.png")  # fmt: skip
    # a layer's maps of its 2 images from one figure (pre-ReLU maps are signed in both); bars one each
    assert "m / pool1 on g (test): activation maps of 2 images from 1 figure(s)" in caplog.text
    assert "m / relu5 on g (test): activation maps of 2 images from 2 figure(s)" in caplog.text
    # the maps of the 2 chosen images (one pass per layer), then the 10 searched images in batches of 4
    # once for both layers and the ReLUs (a pass per layer and one for the dead units made it 2 + 3 x 3)
    assert calls == [2, 2, 4, 4, 2]
    assert math.ceil(options["max_images"] / options["batch_size"]) == len(calls) - 2
    # the same tables as the steps run apart
    for layer in spec["layers"]:
        apart = tmp_path / layer
        inspect.layer_figures("g", "m", layer, spec, None, tmp_path / "data", "test", 0, options, 1,
                              apart / "maps", apart / "p.tsv", apart / "p.png")  # fmt: skip
        assert (apart / "p.tsv").read_text() == (one / layer / "p.tsv").read_text()
        assert sorted(p.name for p in (apart / "maps").glob("*.png")) == sorted(
            p.name for p in (one / layer / "maps").glob("*.png")
        )
    inspect.dead_units("g", "m", spec, None, tmp_path / "data", "test", 0, options, 1,
                       tmp_path / "dead.tsv", tmp_path / "dead.png")  # fmt: skip
    assert (tmp_path / "dead.tsv").read_text() == (one / "dead.tsv").read_text()
    assert len((one / "dead.tsv").read_text().splitlines()) > 2  # the small CNN's ReLUs are in it


def test_a_png_is_encoded_once_with_matplotlibs_own_pixels(tmp_path, monkeypatch):
    """save_figure renders raw RGBA and encodes it once (matplotlib's PNG, read back and written again,
    cost two encodes and a decode); the pixels are matplotlib's, alpha kept where the figure is not
    opaque, and the palette form still applies."""
    from PIL import Image

    image, post, pre = _maps(0, signed=True)
    Image.init()
    encodes = []
    png = Image.SAVE["PNG"]
    monkeypatch.setitem(Image.SAVE, "PNG", lambda *a, **k: encodes.append(1) or png(*a, **k))
    for name, transparent in (("opaque", False), ("transparent", True)):
        figures = [inspection_plots.activation_figure(image, post, pre, 16, name, "relu2") for _ in range(2)]
        for fig in figures:
            fig.patch.set_alpha(0.0 if transparent else 1.0)
        figures[0].savefig(tmp_path / f"{name}_matplotlib.png", dpi=plots.DPI)
        encodes.clear()
        plots.save_figure(figures[1], tmp_path / f"{name}.png")
        assert len(encodes) == 1, name
        with (
            Image.open(tmp_path / f"{name}.png") as ours,
            Image.open(tmp_path / f"{name}_matplotlib.png") as own,
        ):
            assert ours.mode == ("RGBA" if transparent else "RGB")
            assert np.array_equal(np.asarray(ours.convert("RGBA")), np.asarray(own.convert("RGBA"))), name
    fig = inspection_plots.patches_figure([[np.full((4, 4, 3), 0.5)]], np.array([[1.0]]), "t", "n")
    plots.save_figure(fig, tmp_path / "palette.png")
    with Image.open(tmp_path / "palette.png") as saved:
        assert saved.mode == "P"


def test_the_first_datasets_job_draws_the_models_figures_from_its_one_load(
    tmp_path, tiny_config, monkeypatch
):
    """model_inspection with ``network``: the filter grids and the layer table come from the job's one
    load of the network (issue 22: inspect_network loaded it, and imported torch, again), and are what
    network_figures writes alone: the same table, the same pixels."""
    from layeratlas.config import validate_config
    from layeratlas.data.datasets import ImageDataset, save_dataset
    from layeratlas.stages import inspect

    spec = {"architecture": "small_cnn", "layers": {"relu5": "none"}}
    raw = {"datasets": tiny_config["datasets"], "models": {"m": spec}}
    config = validate_config(raw | {"analyses": {"inspection": {"enabled": True, "max_images": 6}}})
    spec, options = config["models"]["m"], config["analyses"]["inspection"]
    rng = np.random.default_rng(0)
    save_dataset(
        ImageDataset("g", rng.integers(0, 256, (8, 8, 8, 1), dtype=np.uint8), np.arange(8) % 2, ("a", "b"),
                     np.array(["test"] * 8)),
        tmp_path / "data",
    )  # fmt: skip
    from layeratlas.inspection import layer_table

    loads, fakes = [], []
    real = inspect.load_model
    monkeypatch.setattr(inspect, "load_model", lambda *a: loads.append(a[0]) or real(*a))
    fake = layer_table.fake_shapes
    monkeypatch.setattr(layer_table, "fake_shapes", lambda *a: fakes.append(1) or fake(*a))
    one = tmp_path / "one"
    inspect.model_inspection("g", "m", spec, None, tmp_path / "data", "test", 0, options, 1,
                             {"relu5": (one / "maps", one / "p.tsv", one / "p.png")},
                             one / "dead.tsv", one / "dead.png",
                             network=(one / "filters", one / "layers.parquet"))  # fmt: skip
    assert loads == ["m"]
    # the table's shapes from the real pass the receptive fields take anyway (issue 22), not fake tensors
    assert fakes == []
    assert (one / "dead.png").is_file() and (one / "p.png").is_file()
    apart = tmp_path / "apart"
    inspect.network_figures("m", spec, None, 0, options, apart / "filters", apart / "layers.parquet")
    assert fakes == [1]  # alone: fake tensors, no oneDNN set-up for one pass
    assert (apart / "layers.tsv").read_text() == (one / "layers.tsv").read_text()
    assert len((one / "layers.tsv").read_text().splitlines()) > 10  # every layer of the small CNN
    grids = sorted(p.name for p in (one / "filters").glob("*.png"))
    assert grids == ["conv1.png", "conv2.png", "conv3.png"]
    assert grids == sorted(p.name for p in (apart / "filters").glob("*.png"))
    for name in grids:
        assert np.array_equal(_pixels(one / "filters" / name), _pixels(apart / "filters" / name)), name
