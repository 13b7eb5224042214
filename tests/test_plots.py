import matplotlib.pyplot as plt
import numpy as np
import polars as pl
import pytest
from matplotlib.figure import Figure

from layeratlas.plots import save_figure
from layeratlas.plots.classes import intra_bar, variance_heatmap
from layeratlas.plots.embeddings import class_scatter
from layeratlas.plots.training import training_curves

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NAMES = ["cat", "dog", "bird", "fish"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("n_classes", [4, 13])
def test_class_scatter(n_classes):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, n_classes, size=200)
    names = [f"class {i}" for i in range(n_classes)]
    fig = class_scatter(rng.normal(size=(200, 2)), labels, names, "t", xlabel="PC1")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [names[c] for c in np.unique(labels)]
    colours = {tuple(c.get_facecolor()[0][:3]) for c in ax.collections}
    assert len(colours) == len(np.unique(labels))
    assert ax.get_xlabel() == "PC1"


def test_variance_heatmap_annotations():
    m = np.array([[0.0, 1.23456, 20.0], [1.23456, 0.0, 3e-5], [20.0, 3e-5, 0.0]])
    fig = variance_heatmap(m, NAMES[:3], "inter")
    assert isinstance(fig, Figure)
    texts = fig.axes[0].texts
    assert len(texts) == 3 * 3
    assert [t.get_text() for t in texts[:3]] == ["0", "1.23", "20"]
    # Contrast: the lowest value sits on dark viridis (white text), the highest on bright.
    assert texts[0].get_color() == "white" and texts[2].get_color() == "black"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == NAMES[:3]
    with pytest.raises(ValueError):
        variance_heatmap(m, NAMES, "wrong size")


def test_intra_bar_and_training_curves():
    fig = intra_bar(np.array([1.0, 2.0, 3.0, 6.0]), NAMES, "intra")
    assert isinstance(fig, Figure)
    (mean_line,) = [ln for ln in fig.axes[0].lines if ln.get_linestyle() == "--"]
    assert mean_line.get_ydata()[0] == pytest.approx(3.0)

    history = pl.DataFrame(
        {
            "epoch": [1, 2, 3],
            "train_loss": [1.0, 0.6, 0.4],
            "val_loss": [1.1, 0.8, 0.7],
            "train_accuracy": [0.5, 0.7, 0.8],
            "val_accuracy": [0.45, 0.6, 0.65],
        }
    )
    fig = training_curves(history, "run")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert len(ax.lines) == 2
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "val"]
    with pytest.raises(ValueError, match="val_accuracy"):
        training_curves(history.drop("val_accuracy"), "run")


def test_save_figure_atomic_png(tmp_path):
    fig = intra_bar(np.array([1.0, 2.0]), NAMES[:2], "intra")
    target = tmp_path / "nested" / "dir" / "intra.png"
    save_figure(fig, target)
    data = target.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000
    assert [p.name for p in target.parent.iterdir()] == ["intra.png"]
    assert not plt.fignum_exists(fig.number)

    # Overwriting an existing file works and the format follows the suffix.
    fig2 = intra_bar(np.array([1.0, 2.0]), NAMES[:2], "intra")
    save_figure(fig2, target.with_suffix(".svg"))
    assert b"<svg" in target.with_suffix(".svg").read_bytes()[:500]
    save_figure(intra_bar(np.array([3.0, 4.0]), NAMES[:2], "again"), target)
    assert target.read_bytes().startswith(PNG_MAGIC)
    assert sorted(p.name for p in target.parent.iterdir()) == ["intra.png", "intra.svg"]


def test_save_figure_cleans_up_on_failure(tmp_path):
    fig = intra_bar(np.array([1.0, 2.0]), NAMES[:2], "intra")
    with pytest.raises(ValueError):
        save_figure(fig, tmp_path / "out.notaformat")
    assert list(tmp_path.iterdir()) == []
