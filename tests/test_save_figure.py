"""save_figure encodes a PNG once (matplotlib's raw RGBA pixels, encoded by PIL) instead of writing
matplotlib's RGBA PNG, reading it back and writing it again as RGB (~0.3 CPU-s of every 3-megapixel
figure, issue 22): the files are the same, byte for byte (a transparent one: the same pixels)."""

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
