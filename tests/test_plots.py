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
    assert len(texts) == 3 * 2  # the diagonal (a class with itself) is masked
    assert [t.get_text() for t in texts[:2]] == ["1.2", "20.0"]  # one format for all numbers
    # Contrast: the lowest value sits on dark viridis (white text), the highest on bright.
    assert texts[0].get_color() == "white" and texts[1].get_color() == "black"
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


# --- one check per figure family: titles inside the canvas, axes labelled, colour bars labelled, class
# legends equal the class names -----------------------------------------------------------------------

LONG = "efficientnet_lite0_finetuned / blocks.1.0.conv_dw on digits (test, n=450, d=1280): a long title"


def _titles(fig: Figure) -> list:
    texts = [fig._suptitle] if fig._suptitle is not None else []
    for ax in fig.axes:
        texts += [ax.title, ax._left_title, ax._right_title]
    return [t for t in texts if t.get_visible() and t.get_text()]


def labels_inside(fig: Figure) -> None:
    """Every visible tick label and legend entry (title included) lies within the canvas."""
    fig.canvas.draw()
    canvas, renderer = fig.bbox, fig.canvas.get_renderer()
    texts = []
    for ax in fig.axes:
        if ax.get_visible() and ax.axison:
            for axis in (ax.xaxis, ax.yaxis):  # the ticks drawn: those inside the view limits
                low, high = sorted(axis.get_view_interval())
                span = (high - low) * 1e-6
                drawn = [t for t in axis.get_major_ticks() if low - span <= t.get_loc() <= high + span]
                texts += [
                    label for tick in drawn for label in (tick.label1, tick.label2) if label.get_visible()
                ]
    for legend in [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends):
        texts += [*legend.get_texts(), legend.get_title()]
    for text in texts:
        if not text.get_text():
            continue
        box = text.get_window_extent(renderer)
        assert box.x0 >= canvas.x0 - 1 and box.x1 <= canvas.x1 + 1, f"label cut: {text.get_text()!r}"
        assert box.y0 >= canvas.y0 - 1 and box.y1 <= canvas.y1 + 1, f"label cut: {text.get_text()!r}"


def check_figure(fig: Figure, class_names: list[str] | None = None) -> None:
    """Titles within the canvas after drawing; every axes with tick labels has both axis labels; every
    colour bar a label; class legends list exactly the class names (in class order)."""
    fig.canvas.draw()
    canvas = fig.bbox
    renderer = fig.canvas.get_renderer()
    assert _titles(fig), "the figure has no title"
    for text in _titles(fig):
        box = text.get_window_extent(renderer)
        assert box.x0 >= canvas.x0 - 1 and box.x1 <= canvas.x1 + 1, f"title clipped: {text.get_text()!r}"
        assert box.y0 >= canvas.y0 - 1 and box.y1 <= canvas.y1 + 1, f"title clipped: {text.get_text()!r}"
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison:
            continue
        for label in (ax.xaxis.label, ax.yaxis.label):  # axis and colour-bar labels fit too
            if label.get_text():
                box = label.get_window_extent(renderer)
                assert box.x0 >= canvas.x0 - 1 and box.x1 <= canvas.x1 + 1, f"clipped: {label.get_text()!r}"
                assert box.y0 >= canvas.y0 - 1 and box.y1 <= canvas.y1 + 1, f"clipped: {label.get_text()!r}"
        if hasattr(ax, "_colorbar"):
            assert ax.get_ylabel() or ax.get_xlabel(), "colour bar without a label"
            continue
        ticks = [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
        if any(ticks):
            shared_x = ax.get_xlabel() or any(
                other.get_xlabel() for other in ax.get_shared_x_axes().get_siblings(ax)
            )
            assert shared_x and ax.get_ylabel(), f"axes {ax.get_title()!r} lacks an axis label"
    labels_inside(fig)
    if class_names is not None:
        legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
        assert any([t.get_text() for t in lg.get_texts()] == class_names for lg in legends), [
            [t.get_text() for t in lg.get_texts()] for lg in legends
        ]


def test_embedding_figures():
    from layeratlas.plots.embeddings import per_class_sample, thumbnail_map

    rng = np.random.default_rng(0)
    labels = np.arange(60) % 4
    fig = class_scatter(rng.normal(size=(60, 2)), labels, NAMES, LONG, xlabel="PC 1 (40%)", ylabel="PC 2")
    check_figure(fig, NAMES)
    assert fig.axes[0].get_legend().get_title().get_text() == "class"
    keep = per_class_sample(labels, 5, seed=0)
    assert np.bincount(labels[keep]).tolist() == [5, 5, 5, 5]
    images = rng.integers(0, 255, (len(keep), 8, 8, 1), dtype=np.uint8)
    xy = rng.normal(size=(60, 2))
    fig = thumbnail_map(xy[keep], images, labels[keep], LONG, class_names=NAMES, background=(xy, labels),
                        xlabel="t-SNE 1", ylabel="t-SNE 2")  # fmt: skip
    check_figure(fig, NAMES)


def test_class_figures_mask_or_fill_the_diagonal_and_share_one_number_format():
    from layeratlas.plots.classes import class_mean_images, confusion_grid

    m = np.array([[0.0, 761.0, 1160.0], [761.0, 0.0, 12.5], [1160.0, 12.5, 0.0]])
    fig = variance_heatmap(m, NAMES[:3], LONG)
    check_figure(fig)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["761", "1160", "761", "12", "1160", "12"]  # no 1.16e+03; diagonal masked
    fig = variance_heatmap(m, NAMES[:3], LONG, diagonal=np.array([5.0, 6.0, 7.0]))
    check_figure(fig)
    assert [t.get_text() for t in fig.axes[0].texts][0] == "5"
    assert fig.axes[0].get_xticklabels()[0].get_rotation() == 45  # four-letter names slant
    digits = [str(i) for i in range(3)]
    assert variance_heatmap(m, digits, "t").axes[0].get_xticklabels()[0].get_rotation() == 0
    check_figure(intra_bar(np.array([1.0, 2.0, 3.0, 6.0]), NAMES, LONG))
    check_figure(class_mean_images(np.zeros((4, 8, 8)), NAMES, LONG))
    check_figure(confusion_grid({"knn": np.eye(4) * 5, "ncm": np.ones((4, 4))}, NAMES, LONG, {"knn": 1.0}))


def test_layer_figures_use_words_and_the_networks_own_accuracy():
    from layeratlas.plots.layers import accuracy_curves, cka_heatmap, metrics_vs_depth

    rows = pl.DataFrame(
        {
            "dataset": ["d"] * 3, "model": ["m"] * 3, "layer": ["conv1", "pool2", "relu5"],
            "depth": [0, 1, 2],
            "linear_probe_accuracy": [0.5, 0.7, 0.9], "knn_accuracy": [0.4, 0.6, 0.8],
            "silhouette": [0.1, 0.2, 0.3], "nc1": [3.0, 1.0, 0.1], "nc2_max_angle": [0.3, 0.2, 0.1],
            "nc3": [1.0, 0.5, 0.2],
        }
    )  # fmt: skip
    fig = metrics_vs_depth(rows, "m", {"the network's own test accuracy (d)": 0.95})
    check_figure(fig)
    accuracy = fig.axes[0]
    labels = [t.get_text() for t in accuracy.get_legend().get_texts()]
    assert labels == ["linear probe", "k nearest neighbours", "the network's own test accuracy (d)"]
    assert not any("better" in ax.get_xlabel() for ax in fig.axes)
    legends = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert not any("_" in label for label in legends)  # words, not column names
    check_figure(cka_heatmap(np.eye(2), ["blocks.4", "global_pool"], ["blocks.4", "global_pool"], LONG))
    history = pl.DataFrame(
        {"epoch": [1, 2], "train_loss": [1.0, 0.5], "train_accuracy": [0.5, 0.7], "test_accuracy": [0.4, 0.6]}
    )
    check_figure(accuracy_curves(history, LONG))


def test_training_figures_mark_correct_images_among_the_top_losses():
    from layeratlas.plots import CORRECT, WRONG
    from layeratlas.plots.training import confusion_figure, top_losses_figure

    check_figure(confusion_figure(np.eye(4, dtype=int) * 3, NAMES, LONG))
    images = np.zeros((3, 8, 8, 1), dtype=np.uint8)
    fig = top_losses_figure(images, [0, 1, 2], [0, 2, 1], [0.9, 0.8, 0.7], NAMES, LONG)
    check_figure(fig)
    titles = [ax.get_title() for ax in fig.axes[:3]]
    assert "(correct)" in titles[0] and "(wrong)" in titles[1]
    assert fig.axes[0].title.get_color() == CORRECT and fig.axes[1].title.get_color() == WRONG


def test_inspection_figures_are_readable():
    from layeratlas.inspection.patches import crop_rgb
    from layeratlas.plots import OUTSIDE_IMAGE
    from layeratlas.plots import inspection as ip

    rng = np.random.default_rng(0)
    check_figure(ip.filter_grid(rng.random((64, 11, 11, 3)), LONG, "all filters"))
    fig = ip.filter_grid(rng.normal(size=(6, 3, 3)), LONG, "all filters")  # gray: symmetric scale
    check_figure(fig)
    image = fig.axes[0].get_images()[0]
    assert image.norm.vmin == -image.norm.vmax
    fig = ip.filter_grid(rng.normal(size=(16, 6, 3, 3)), LONG, "n", per_channel=True)
    check_figure(fig)
    assert (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()) == ("input channel", "filter")
    depthwise = ip.filter_grid(rng.normal(size=(32, 1, 3, 3)), LONG, "n", per_channel=True)
    check_figure(depthwise)
    height, width = depthwise.axes[0].get_images()[0].get_array().shape
    assert height == width  # a square grid of 6 x 6 tiles, not one column of 32
    image = rng.integers(0, 255, (28, 28, 1), dtype=np.uint8)
    maps = rng.random((16, 7, 7))
    check_figure(ip.activation_figure(image, maps, maps - 0.5, 64, LONG, "relu3"))
    patches = [
        [crop_rgb(rng.integers(0, 255, (6, 6, 1), dtype=np.uint8), (-2, 0, 4, 6), OUTSIDE_IMAGE)] * 3
    ] * 3
    patches = [*patches, patches[0]]
    scores = np.array([[3.0, 2.0, 1.0], [0.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.4, 0.0, 0.0]])
    fig = ip.patches_figure(patches, scores, LONG, "note", searched=100)
    check_figure(fig)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any(t.startswith("no response") for t in texts) and any("2 tied patches" in t for t in texts)
    assert "only 1 of 100 images respond above 0" in texts
    shown = [len(ax.get_images()) for ax in fig.axes]
    assert sum(shown) == 3 + 0 + 1 + 1  # the dead row shows none, the tied row one, zeros are hidden
    assert len(fig.legends) == 1  # the orange padding is explained
    assert np.allclose(patches[0][0][0, 0], OUTSIDE_IMAGE)  # padding is orange, not white
    from layeratlas.inspection.dead_units import dead_unit_table

    check_figure(ip.dead_units_figure(dead_unit_table({"relu1": np.array([0.0, 1.0])}), LONG))


def test_vector_activations_share_one_scale_in_response_units():
    """relu5 / global_pool vectors: bars of the raw responses on one axis (not each unit divided by
    itself, which turns every tile into 0 or 1)."""
    from layeratlas.plots import inspection as ip

    post = np.array([0.0, 0.5, 4.0, 0.0, 2.0])
    fig = ip.activation_figure(np.zeros((8, 8, 1), np.uint8), post, post - 1.0, 64, LONG, "relu5")
    check_figure(fig)
    bars = [ax for ax in fig.axes if ax.collections]
    assert len(bars) == 2 and all(ax.get_ylabel() == "response" for ax in bars)
    heights = [path.vertices[1, 1] for path in bars[1].collections[0].get_paths()]  # one bar per unit
    assert heights == pytest.approx(post.tolist())
    assert bars[0].get_ylim() == bars[1].get_ylim()


def test_robustness_figures():
    from layeratlas.plots.robustness import drift_figure, pca_grid

    rng = np.random.default_rng(0)
    coords = {(r, c): rng.normal(size=(20, 2)) for r in ("o", "f") for c in ("clean", "blur")}
    labels = {k: np.arange(20) % 4 for k in coords}
    check_figure(pca_grid(coords, labels, NAMES, ["o", "f"], ["clean", "blur"], LONG), NAMES)
    table = pl.DataFrame(
        {"corruption": ["blur"] * 2, "severity": [1, 1], "layer": ["a", "b"], "cka": [0.9, 0.8],
         "ratio_change": [0.1, -0.1]}
    )  # fmt: skip
    check_figure(drift_figure(table, ["a", "b"], LONG))


def test_depth_profile_point_labels_of_models_at_a_shared_depth_do_not_overprint():
    """Two models with the same layers at the same relative depths and nearly the same accuracy (a
    network and its fine-tuned copy): every point is named, and no two names overlap."""
    import polars as pl

    from layeratlas.plots.layers import depth_profile

    LAYERS = [("blocks.2", 0.3, 0.61), ("blocks.4", 0.6, 0.75), ("global_pool", 1.0, 0.9)]  # noqa: N806
    rows = [
        {"dataset": "d", "model": m, "layer": layer, "depth": i, "relative_depth": r,
         "linear_probe_accuracy": a + (0.004 if m == "tuned" else 0.0)}
        for m in ("base", "tuned", "other")
        for i, (layer, r, a) in enumerate(LAYERS)
    ]  # fmt: skip
    fig = depth_profile(pl.DataFrame(rows), title="Depth profile on d")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    notes = [t for t in fig.axes[0].texts if t.get_text()]
    assert sorted(t.get_text() for t in notes) == sorted(r["layer"] for r in rows)  # every point named
    boxes = [t.get_window_extent(renderer) for t in notes]
    overlaps = [
        (notes[i].get_text(), notes[j].get_text())
        for i in range(len(boxes))
        for j in range(i + 1, len(boxes))
        if boxes[i].overlaps(boxes[j])
    ]
    assert not overlaps, overlaps
    labels_inside(fig)
