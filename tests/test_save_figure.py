"""save_figure encodes a PNG once (matplotlib's raw RGBA pixels, encoded by PIL) instead of writing
matplotlib's RGBA PNG, reading it back and writing it again as RGB (~0.3 CPU-s of every 3-megapixel
figure, issue 22): the files are the same, byte for byte (a transparent one: the same pixels). And it lays
a figure out once before drawing it (``plots.lay_out``), where matplotlib's savefig draws a figure with a
layout engine twice: the pixels of every figure family are matplotlib's own."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from layeratlas import plots


def _old_savefig(fig, path, dpi, palette):  # noqa: ANN001, ANN202
    """save_figure's PNG writing before: matplotlib's RGBA PNG, then PIL's RGB (or 256 colours)."""
    fig.savefig(path, dpi=dpi)
    with Image.open(path) as image:
        opaque = image.mode == "RGBA" and image.getchannel("A").getextrema() == (255, 255)
        rgb = image.convert("RGB") if opaque or palette else None
    if palette and rgb is not None:
        rgb.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(
            path, format="PNG", optimize=True
        )
    elif rgb is not None:
        rgb.save(path, format="PNG")


def _figure(size: tuple[float, float], transparent: bool = False):  # noqa: ANN202
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    rng = np.random.default_rng(0)
    ax.imshow(rng.random((12, 12)), cmap="viridis")
    for i in range(12):
        ax.text(i, i, str(i), ha="center", va="center", fontsize=6)
    ax.set_title("a title, 0.123")
    if transparent:
        fig.patch.set_alpha(0.0)
    return fig


@pytest.mark.parametrize(
    ("size", "palette", "transparent"),
    [
        ((6.0, 4.0), False, False),
        ((4.33, 3.71), False, False),
        ((5.0, 5.0), True, False),
        ((4.0, 3.0), False, True),
    ],
)
def test_png_bytes_are_what_they_were(tmp_path, size, palette, transparent):
    ours, theirs = tmp_path / "ours.png", tmp_path / "theirs.png"
    # a fresh figure each: saving one figure again reruns constrained layout from where it ended
    for save, path in ((plots._savefig, ours), (_old_savefig, theirs)):
        fig = _figure(size, transparent)
        save(fig, path, plots.DPI, palette)
        plt.close(fig)
    if transparent:  # matplotlib's own file before (its metadata chunk), PIL's now: the same pixels
        with Image.open(ours) as a, Image.open(theirs) as b:
            assert a.mode == b.mode == "RGBA"
            assert np.array_equal(np.asarray(a), np.asarray(b))
    else:
        assert ours.read_bytes() == theirs.read_bytes()
    with Image.open(ours) as image:
        assert image.mode == ("RGBA" if transparent else "P" if palette else "RGB")
        assert image.size == (int(size[0] * plots.DPI), int(size[1] * plots.DPI))


def test_matplotlib_writes_the_png_once_no_read_back(tmp_path, monkeypatch):
    """The opaque figure's PNG is encoded by PIL alone: Image.open (the read-back) is never called."""
    fig = _figure((4.0, 3.0))

    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("the PNG was read back")

    monkeypatch.setattr(Image, "open", refuse)
    plots.save_figure(fig, tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 0


def _families(rng: np.random.Generator) -> dict:
    """Figures of the families whose layout differs: outside legends, image boxes, colour bars beside
    several panels, hidden panels, annotated cells, a grid of images with a legend of the padding."""
    import polars as pl

    from layeratlas.plots import classes, embeddings, inspection, layers

    names = [f"class {i}" for i in range(6)]
    coords, labels = rng.normal(size=(60, 2)), np.arange(60) % 6
    images = (rng.random((60, 8, 8)) * 255).astype(np.uint8)
    matrices = {f"probe{i}": rng.integers(0, 9, size=(6, 6)) + np.diag([30] * 6) for i in range(4)}
    history = pl.DataFrame(
        {"epoch": [1, 2, 3], "train_loss": [1.0, 0.5, 0.3], "train_accuracy": [0.5, 0.8, 0.9],
         "test_accuracy": [0.4, 0.7, 0.8]}
    )  # fmt: skip
    patches = [[rng.random((5, 5, 3)) for _ in range(3)] for _ in range(2)]
    patches[0][1][0, 0] = plots.OUTSIDE_IMAGE  # padding: the figure's legend says what the orange is
    k = plots.MANY_CLASSES + 10
    many_names = [f"a long class name {i}" for i in range(k)]
    many = {f"probe{i}": rng.integers(0, 5, size=(k, k)) + np.diag([20] * k) for i in range(2)}
    labels_many = np.arange(60) % k
    return {
        "class_scatter": lambda: embeddings.class_scatter(coords, labels, names, "a map", xlabel="t-SNE 1"),
        "thumbnail_map": lambda: embeddings.thumbnail_map(
            coords, images, labels, "thumbnails", class_names=names, background=(coords, labels)
        ),  # fmt: skip
        "confusion_grid": lambda: classes.confusion_grid(
            matrices, names, "confusions", dict.fromkeys(matrices, 0.9)
        ),
        "variance_heatmap": lambda: classes.variance_heatmap(rng.random((6, 6)) + 1, names, "variances"),
        "accuracy_curves": lambda: layers.accuracy_curves(history, "curves"),
        # study scale (over MANY_CLASSES): clustered orders, a pairs panel, thinned ticks, no legends
        "confusion_grid_many": lambda: classes.confusion_grid(
            many, many_names, "confusions", dict.fromkeys(many, 0.5)
        ),
        "thumbnail_map_many": lambda: embeddings.thumbnail_map(
            coords, images, labels_many, "thumbnails", class_names=many_names
        ),
        "patches_figure": lambda: inspection.patches_figure(
            patches, np.array([[3.0, 2.0, 1.0], [0.5, 0.0, -1.0]]), "Top patches: m / conv1", "note"
        ),
    }


@pytest.mark.parametrize("family", list(_families(np.random.default_rng(0))))
def test_a_figure_is_laid_out_once_and_drawn_once_with_matplotlibs_pixels(tmp_path, monkeypatch, family):
    """save_figure draws each figure once (matplotlib's savefig: twice, the first pass only to run the
    layout engine, yet resampling every image and laying out every text); the pixels are the same."""
    from matplotlib.figure import Figure

    draws = []
    real = Figure.draw
    monkeypatch.setattr(Figure, "draw", lambda self, renderer: draws.append(1) or real(self, renderer))
    ours = _families(np.random.default_rng(0))[family]()
    theirs = _families(np.random.default_rng(0))[family]()
    assert ours.get_layout_engine() is not None  # the figure family lays itself out
    plots.save_figure(ours, tmp_path / "ours.png")
    assert len(draws) == 1
    draws.clear()
    plots._savefig(theirs, tmp_path / "theirs.png", plots.DPI, palette=theirs.get_gid() == plots.PALETTE)
    assert len(draws) == 2  # matplotlib's own: the layout pass, then the drawing
    plt.close(theirs)
    with Image.open(tmp_path / "ours.png") as a, Image.open(tmp_path / "theirs.png") as b:
        assert a.size == b.size
        assert np.array_equal(np.asarray(a.convert("RGBA")), np.asarray(b.convert("RGBA")))


def test_a_png_over_the_budget_is_laid_out_again_at_its_lower_resolution(tmp_path, monkeypatch):
    """The retry of a PNG over the report's item budget runs the figure's layout engine again (matplotlib's
    own, at the lower resolution): the figure keeps its engine for it."""
    from layeratlas.report import budget

    monkeypatch.setattr(budget, "MAX_ITEM_BYTES", 100_000)
    fig = _figure((8.0, 6.0))
    fig.axes[0].imshow(np.random.default_rng(0).random((150, 150, 3)))  # noise: ~1 MB of PNG at 150 dpi
    engines = []
    real = plots._savefig
    monkeypatch.setattr(plots, "_savefig", lambda f, *a: engines.append(f.get_layout_engine()) or real(f, *a))
    plots.save_figure(fig, tmp_path / "f.png")
    assert len(engines) >= 2 and engines[0] is None and all(e is not None for e in engines[1:])
