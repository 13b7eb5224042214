"""The report at study scale without an end-to-end run: a synthetic 100-class set (class names of 10 to 29
characters) goes through every figure that draws classes and through the report's table and comparison
functions. Each figure must change form (no per-cell numbers, no 100-entry legend), stay within the pixel
budget at the resolution it is saved at, keep every label inside the canvas, and each item must open inside
report.html (under the 2 MiB data: URL limit, see layeratlas.report.budget)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
import pytest

from layeratlas import plots
from layeratlas.report.budget import fits_report
from tests.test_plots import check_figure
from tests.test_report_browser import browser  # noqa: F401 - the headless Chromium fixture

K = 100
WORDS = ["yellow", "ochre", "triangle", "checker", "blue", "stripe", "violet", "circle", "dotted", "green"]


def long_names(k: int = K) -> list[str]:
    """Distinct class names of 10 to 29 characters, as in a user's own folder."""
    rng = np.random.default_rng(0)
    names = []
    while len(names) < k:
        name = "_".join(rng.choice(WORDS, rng.integers(2, 5)))[:26] + f"_{len(names):02d}"
        if 10 <= len(name) <= 29:
            names.append(name)
    return names


NAMES = long_names()


@pytest.fixture(scope="module")
def study():
    """100 classes in 10 groups of similar ones: labels, 2-D maps, class means, images, confusions."""
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(K), 30)
    groups = np.repeat(rng.normal(size=(10, 16)) * 4, 10, axis=0)
    means = groups + rng.normal(size=(K, 16))
    centres = rng.normal(size=(K, 2)) * 10
    xy = centres[labels] + rng.normal(size=(len(labels), 2))
    images = (rng.random((K, 32, 32, 3)) * 60 + rng.integers(0, 190, (K, 1, 1, 3))).astype(np.uint8)
    predicted = labels.copy()
    wrong = rng.random(len(labels)) < 0.4
    predicted[wrong] = (labels[wrong] // 10) * 10 + rng.integers(0, 10, wrong.sum())  # within the group
    counts = np.zeros((K, K), int)
    np.add.at(counts, (labels, predicted), 1)
    return {"labels": labels, "means": means, "xy": xy, "images": images, "counts": counts, "rng": rng}


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def check_scale(fig, tmp_path, name: str, dpi: int = plots.DPI) -> int:
    """The figure at study scale: titles, axis labels, tick labels and legends inside the canvas
    (``check_figure``), within the pixel budget, saved under the item budget; returns its number of
    legend entries."""
    check_figure(fig)
    width, height = fig.get_size_inches()
    assert width * height * dpi * dpi <= plots.MAX_PIXELS * 1.001, (
        f"{name}: {width * height * dpi**2:,.0f} px"
    )
    entries = sum(
        len(lg.get_texts()) for lg in [ax.get_legend() for ax in fig.axes if ax.get_legend()] + fig.legends
    )
    path = tmp_path / f"{name}.png"
    plots.save_figure(fig, path, dpi=dpi)
    assert fits_report(path.stat().st_size), f"{name}: {path.stat().st_size:,} bytes"
    return entries


def test_class_colours_come_from_one_place_and_say_when_they_repeat():
    assert plots.class_colours(10).N == 10 and plots.colour_note(10) == ""
    colours = {plots.colour_of(plots.class_colours(60), c) for c in range(60)}
    assert len(colours) == 60 and plots.colour_note(60) == ""
    assert plots.colour_note(K) == "100 classes; colours repeat every 60"


def test_cluster_order_puts_near_classes_together(study):
    d = ((study["means"][:, None] - study["means"][None]) ** 2).sum(-1)
    order = plots.cluster_order(d)
    assert sorted(order) == list(range(K))
    groups = np.asarray(order) // 10  # the 10 groups come out as 10 runs
    assert (np.diff(groups) != 0).sum() == 9


def test_heatmaps_and_bars_change_form(study, tmp_path):
    from layeratlas.plots.classes import class_mean_images, intra_bar, variance_heatmap

    d = ((study["means"][:, None] - study["means"][None]) ** 2).sum(-1)
    fig = variance_heatmap(d, NAMES, "Inter-class variance: cnn / layer3 on shapes100", diagonal=np.ones(K))
    assert not fig.axes[0].texts  # no per-cell numbers
    shown = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert 10 < len(shown) < K and set(shown) <= set(NAMES)  # thinned
    assert "clustering" in fig.axes[0].get_title()
    check_scale(fig, tmp_path, "heatmap")

    fig = intra_bar(np.arange(K, dtype=float), NAMES, "Intra-class variance: cnn / layer3 on shapes100")
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks[0] == NAMES[-1] and ticks[-1] == NAMES[0]  # sorted: largest on top, smallest at the bottom
    assert len([t for t in ticks if t]) == 30  # top and bottom 15
    assert any("70 classes between" in t.get_text() for t in fig.axes[0].texts)
    check_scale(fig, tmp_path, "intra")

    fig = class_mean_images(study["images"], NAMES, "Class means on shapes100")
    check_scale(fig, tmp_path, "means")


def test_the_dataset_examples_show_every_class_on_one_page(study, tmp_path):
    from layeratlas.plots.classes import EXAMPLES_DPI, class_examples

    examples = [np.repeat(image[None], 3, axis=0) for image in study["images"]]
    fig = class_examples(examples, NAMES, "shapes100: the first 3 images of each of its 100 classes")
    shown = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert shown == NAMES  # every class, in class order (down the columns)
    width, height = fig.get_size_inches()
    assert width <= 16 and height <= 12  # one page, not metres of rows
    check_scale(fig, tmp_path, "examples", dpi=EXAMPLES_DPI)  # names inside the canvas, pixel budget
    # few classes keep one row of 8 per class
    fig = class_examples(examples[:10], NAMES[:10], "ten classes")
    assert [ax.get_ylabel() for ax in fig.axes] == NAMES[:10]
    check_scale(fig, tmp_path, "examples10")


def test_figures_of_images_are_saved_in_256_colours(study, tmp_path):
    from PIL import Image

    from layeratlas.plots.embeddings import thumbnail_map

    rng = study["rng"]
    labels = np.arange(K).repeat(3)
    images = (rng.random((len(labels), 32, 32, 3)) * 255).astype(np.uint8)  # noise: the worst case
    coords = rng.normal(size=(len(labels), 2)) * 10
    fig = thumbnail_map(coords, images, labels, "t-SNE of cnn / layer3", zoom=0.75, class_names=NAMES)
    fig.savefig(tmp_path / "full.png", dpi=plots.DPI)
    plots.save_figure(fig, tmp_path / "map.png")
    with Image.open(tmp_path / "map.png") as png:
        assert png.mode == "P"
    assert (tmp_path / "map.png").stat().st_size < 0.6 * (tmp_path / "full.png").stat().st_size
    from layeratlas.plots.inspection import patches_figure

    patches = [[rng.random((12, 12, 3)) for _ in range(8)] for _ in range(8)]  # top patches: image crops
    fig = patches_figure(patches, rng.random((8, 8)) + 0.1, "top patches of cnn / layer3", "8 channels")
    plots.save_figure(fig, tmp_path / "patches.png")
    with Image.open(tmp_path / "patches.png") as png:
        assert png.mode == "P"
    fig, ax = plt.subplots()  # any other figure stays in full colour
    ax.imshow(rng.random((20, 20)))
    plots.save_figure(fig, tmp_path / "heat.png")
    with Image.open(tmp_path / "heat.png") as png:
        assert png.mode == "RGB"  # opaque: the same pixels without the alpha channel


def test_confusion_matrices_are_clustered_without_numbers_with_the_most_confused_pairs(study, tmp_path):
    from layeratlas.plots.classes import confusion_grid
    from layeratlas.plots.training import confusion_figure, most_confused_pairs

    counts = study["counts"]
    pairs = most_confused_pairs(counts, NAMES, k=5)
    assert pairs.height == 5 and pairs["fraction of true"].is_sorted(descending=True)
    assert all(
        NAMES.index(t) // 10 == NAMES.index(p) // 10
        for t, p in pairs.select("true", "predicted as").iter_rows()
    )
    matrices = {
        name: counts for name in ("linear probe", "kNN", "nearest class mean", "random forest", "pixels")
    }
    fig = confusion_grid(
        matrices, NAMES, "Test confusion matrices on shapes100", dict.fromkeys(matrices, 0.6)
    )
    assert not any(ax.texts for ax in fig.axes[:5])
    assert any(ax.tables for ax in fig.axes)  # the most confused pairs
    check_scale(fig, tmp_path, "confusion_grid")
    fig = confusion_figure(counts, NAMES, "cnn: test confusion matrix")
    assert fig.axes[1].tables
    check_scale(fig, tmp_path, "confusion")


def test_maps_leave_the_legend_to_the_explorer(study, tmp_path):
    from layeratlas.plots.atlas import atlas_grid
    from layeratlas.plots.compare import inter_heatmaps, intra_grouped_bars, maps_side_by_side
    from layeratlas.plots.embeddings import class_scatter, per_class_sample, thumbnail_map
    from layeratlas.plots.robustness import pca_grid

    labels, xy = study["labels"], study["xy"]
    fig = class_scatter(
        xy, labels, NAMES, "t-SNE: cnn / layer3 on shapes100", xlabel="t-SNE 1", ylabel="t-SNE 2"
    )
    assert check_scale(fig, tmp_path, "scatter") == 0 and "explorer" in fig.axes[0].get_title()

    keep = per_class_sample(labels, 15, seed=0)
    images = study["images"][labels[keep]]
    fig = thumbnail_map(xy[keep], images, labels[keep], "Thumbnails", class_names=NAMES,
                        background=(xy, labels), xlabel="t-SNE 1", ylabel="t-SNE 2")  # fmt: skip
    assert len(fig.axes[0].artists) <= 300  # thumbnails capped, not 1,500 overlapping
    assert check_scale(fig, tmp_path, "thumbnails") == 0

    table = pl.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "label": labels})
    layers = {
        m: ["layer1", "layer2", "layer3"] for m in ("small_cnn", "wide_cnn", "effnet", "effnet_finetuned")
    }
    maps = {(m, layer): table for m in layers for layer in layers[m]}
    accuracy = {key: (0.982, 0.965, 0.991) for key in maps}
    fig = atlas_grid(maps, layers, NAMES, accuracy)
    assert check_scale(fig, tmp_path, "atlas", dpi=100) == 0
    assert "98.2% [96.5, 99.1]" in [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "explorer" in fig._suptitle.get_text()

    fig = maps_side_by_side(["a", "b"], [table, table], NAMES, title="t-SNE at layer3")
    assert check_scale(fig, tmp_path, "compare_maps") == 0
    intra = pl.DataFrame(
        {"class_id": range(K), "class_name": NAMES, "intra_class_variance": np.arange(K, dtype=float)}
    )
    fig = intra_grouped_bars(["a", "b"], [intra, intra.with_columns(pl.col("intra_class_variance") * 2)])
    check_scale(fig, tmp_path, "compare_intra")
    fig = inter_heatmaps(["a", "b"], [inter_table(study), inter_table(study, 2.0)])
    check_scale(fig, tmp_path, "compare_inter")

    coords = {(r, c): xy for r in ("o", "f") for c in ("clean", "blur")}
    fig = pca_grid(coords, dict.fromkeys(coords, labels), NAMES, ["o", "f"], ["clean", "blur"], "PCA")
    assert check_scale(fig, tmp_path, "pca_grid") == 0


def inter_table(study, scale: float = 1.0) -> pl.DataFrame:
    a, b = np.triu_indices(K, 1)
    d = ((study["means"][:, None] - study["means"][None]) ** 2).sum(-1) * scale
    return pl.DataFrame(
        {"dataset": "shapes100", "model": "efficientnet_lite0_finetuned", "layer": "blocks.5.0",
         "class_a_id": a, "class_a": [NAMES[i] for i in a], "class_b_id": b, "class_b": [NAMES[i] for i in b],
         "inter_class_variance": d[a, b]}
    )  # fmt: skip


def test_a_table_of_every_class_pair_opens_inside_the_report_nearest_first(study, tmp_path):
    from layeratlas.report import tables

    source = tmp_path / "inter_class_variance.tsv"
    frame = inter_table(study)
    frame.write_csv(source, separator="\t")
    page = tmp_path / "inter.html"
    tables.write_table_html(source, page, "Inter-class variance")
    text = page.read_text()
    rows = unpacked_rows(text)
    assert len(text.encode()) <= 150_000  # the 1,000 nearest pairs, gzipped: not a page at the 1.5 MB budget
    assert rows.count("<tr") == tables.MAX_ROWS and "<tr" not in text.split("<tbody")[1].split("</tbody>")[0]
    assert f"the first {tables.MAX_ROWS:,} of 4,950 rows;" in text and "inter_class_variance.tsv" in text
    assert "smallest first" in text and "dataset: shapes100" in text
    nearest = frame.sort("inter_class_variance").row(0, named=True)
    assert rows.index(nearest["class_a"]) < rows.index(
        frame.sort("inter_class_variance").row(-1, named=True)["class_a"]
    )
    assert '<input type="search"' in tables.INTERACTIVE_JS and "aria-sort" in text
    # a budget that cannot hold every row: the rows that fit, and a note naming the full table
    tables.write_table_html(source, page, "Inter-class variance", max_bytes=15_000)
    text = page.read_text()
    assert len(text.encode()) <= 15_000 and "rows (the rest would not open inside report.html)" in text
    assert "of 4,950 rows" in text and "inter_class_variance.tsv" in text
    tables.write_table_html(source, page, "Inter-class variance", max_rows=10_000)
    assert fits_report(page.stat().st_size) and unpacked_rows(page.read_text()).count("<tr") == 4_950


def unpacked_rows(page: str) -> str:
    """The rows of a table page, unzipped where the page keeps them packed (``tables.pack_rows``)."""
    import base64
    import gzip
    import re

    packed = re.search(r'<script type="text/x-gzip-base64" id="la-rows">([^<]*)</script>', page)
    if packed is None:
        return page.split("<tbody")[1].split("</tbody>")[0]
    return gzip.decompress(base64.b64decode(packed[1])).decode("utf-8")


def test_the_oversize_note_names_the_file_and_report_zip():
    from layeratlas.report.budget import oversize_page

    page = oversize_page("Embedding explorer: shapes100", "explorer.html", 3_000_000)
    assert "explorer.html" in page and "report.zip" in page and "2.9 MiB" in page


def test_a_png_over_the_item_budget_is_saved_smaller(tmp_path):
    rng = np.random.default_rng(0)
    fig, ax = plt.subplots(figsize=(12, 12))
    ax.imshow(rng.random((600, 600, 3)), interpolation="nearest")  # noise: incompressible
    ax.set_title("noise")
    path = tmp_path / "noise.png"
    plots.save_figure(fig, path, dpi=150)
    assert fits_report(path.stat().st_size)


def test_the_explorer_is_capped_by_bytes_not_by_a_count():
    from layeratlas.report import explorer

    sizes = []

    def build(points: int) -> str:  # a page of 300 kB plus 1 kB per point
        sizes.append(points)
        return "x" * (300_000 + 1_000 * points)

    page, points = explorer.fit_to_budget(build, 5000, 4000)
    assert fits_report(len(page)) and sizes[0] == 4000 and 0.8 * 1_270 < points <= 1_272
    page, points = explorer.fit_to_budget(build, 500, 4000)
    assert points == 500 and sizes[-1] == 500  # under the budget: the configured cap holds


def _explorer_study(k: int = K, per_class: int = 12):
    rng = np.random.default_rng(2)
    n = k * per_class
    labels = np.arange(n) % k
    ids = 10 + np.arange(n)
    names = [NAMES[c] for c in labels]
    index = pl.DataFrame({"sample_id": ids, "split": ["test"] * n, "label": labels, "class_name": names})
    colours = rng.integers(0, 200, (k, 1, 1, 3))
    images = (colours[labels] + rng.integers(0, 40, (n, 32, 32, 3))).astype(np.uint8)  # a colour per class
    centres = rng.normal(size=(k, 2)) * 10
    maps = {
        (model, layer): {
            e: pl.DataFrame({"sample_id": ids, "label": labels, "class_name": names,
                             "x": (centres[labels, 0] + rng.normal(size=n)).astype(np.float32),
                             "y": (centres[labels, 1] + rng.normal(size=n)).astype(np.float32)})
            for e in ("tsne", "pca")
        }
        for model in ("small_cnn", "effnet") for layer in ("layer2", "layer3")
    }  # fmt: skip
    return maps, index, images


def test_the_explorer_at_100_classes_has_a_search_a_scrolling_legend_and_a_renderer_per_map():
    from layeratlas.report import explorer
    from tests.test_explorer import _page, _points

    maps, index, images = _explorer_study()
    page = explorer.explorer_html("shapes100", maps, index, images, NAMES, embedding="tsne")
    assert fits_report(len(page.encode()))
    objects = _page(page)
    kinds = [o["name"] for o in objects]
    (search,) = [o for o in objects if o["name"] == "AutocompleteInput"]
    assert len(search["attributes"]["completions"]) == K
    assert "ScrollBox" in kinds  # the legend of 100 classes scrolls
    assert kinds.count("BooleanFilter") == 1  # one class filter shared by every map
    _, data, renderers = _points(page)
    assert len(renderers) == len(maps)  # not 100 x 4 class views
    assert "x0_tsne" not in data and "x0_pca" in data  # the shown map's columns are sent once
    assert len(set(data["color"])) == 60  # the report's class colours (repeating beyond 60)


def test_the_100_class_explorer_opens_inside_a_report_pane(browser, tmp_path):  # noqa: F811
    """As report.html shows it: an iframe whose src is the page as a base64 data: URL (a blank pane
    over 2 MiB). The maps draw, and the class search selects that class's images."""
    import base64
    import time

    from layeratlas.report import explorer

    maps, index, images = _explorer_study()
    page = explorer.explorer_html("shapes100", maps, index, images, NAMES, embedding="tsne")
    uri = "data:text/html;charset=utf-8;base64," + base64.b64encode(page.encode()).decode()
    host = tmp_path / "report.html"
    host.write_text(
        f'<!DOCTYPE html><iframe id="pane" style="width:1400px;height:900px" src="{uri}"></iframe>'
    )
    browser.get(host.as_uri())
    browser.switch_to.frame("pane")
    try:
        deadline = time.monotonic() + 90
        while not browser.execute_script("return !!(window.Bokeh && Bokeh.documents.length)"):
            assert time.monotonic() < deadline, "the explorer did not load inside the pane"
            time.sleep(0.3)
        find = """
        const doc = Bokeh.documents[0];
        const search = [...doc.roots()].flatMap((r) => [...r.references()])
          .find((m) => m.constructor.__name__ === "AutocompleteInput");
        search.value = arguments[0];
        return doc.get_model_by_name("explorer_points").selected.indices.length;
        """
        browser.execute_script(find, NAMES[7])
        count = "return Bokeh.documents[0].get_model_by_name('explorer_points').selected.indices.length"
        while browser.execute_script(count) != 12:
            assert time.monotonic() < deadline, "the class search selected nothing"
            time.sleep(0.3)
    finally:
        browser.switch_to.default_content()


def test_the_explorer_writes_its_declared_pages_and_a_note_when_even_the_fewest_points_do_not_fit(
    tmp_path, monkeypatch
):
    """Both declared outputs always exist: the page with every point (from disk) and the report's item,
    which is a note naming the full page when no number of points fits report.html."""
    import json

    from layeratlas.report import explorer

    maps, index, images = _explorer_study(k=20, per_class=10)
    data = tmp_path / "dataset"
    data.mkdir()
    (data / "dataset.json").write_text(
        json.dumps({"name": "shapes100", "class_names": NAMES[:20], "image_shape": [32, 32, 3]})
    )
    index.write_parquet(data / "index.parquet")
    np.save(data / "images.npy", images)
    tables = []
    for (model, layer), frames in maps.items():
        (tmp_path / model / layer).mkdir(parents=True)
        for e, frame in frames.items():
            tables.append(tmp_path / model / layer / f"embedding_{e}.parquet")
            frame.write_parquet(tables[-1])
    page, full = tmp_path / "shapes100.html", tmp_path / "shapes100.full.html"
    options = {"embedding": "tsne", "max_points": 5000, "seed": 0, "output": page, "full_output": full}
    explorer.write_explorer("shapes100", tables, data, **options)
    assert page.read_text() == full.read_text()  # 200 points fit: the same page twice
    monkeypatch.setattr(explorer, "fits_report", lambda n_bytes: n_bytes < 10_000)
    explorer.write_explorer("shapes100", tables, data, **options)
    note = page.read_text()
    assert "shapes100.full.html" in note and "report.zip" in note and len(note) < 10_000
    assert "t-SNE explorer" in full.read_text() and full.stat().st_size > 100_000  # the page itself
    assert sorted(p.name for p in tmp_path.glob("shapes100*")) == ["shapes100.full.html", "shapes100.html"]


def test_a_packed_table_page_unzips_searches_and_sorts_inside_a_report_pane(study, browser, tmp_path):  # noqa: F811
    """The 1,000 nearest class pairs, packed (``tables.pack_rows``), as report.html shows the page: an
    iframe whose src is a data: URL. The rows arrive, paged; the search and a column sort work on them."""
    import base64
    import time

    from layeratlas.report import tables

    source = tmp_path / "inter_class_variance.tsv"
    inter_table(study).write_csv(source, separator="\t")
    page = tmp_path / "inter.html"
    tables.write_table_html(source, page, "Inter-class variance")
    uri = "data:text/html;charset=utf-8;base64," + base64.b64encode(page.read_bytes()).decode()
    host = tmp_path / "report.html"
    host.write_text(
        f'<!DOCTYPE html><iframe id="pane" style="width:1200px;height:800px" src="{uri}"></iframe>'
    )
    browser.get(host.as_uri())
    browser.switch_to.frame("pane")
    info = "const s = document.querySelector('div.tools span'); return s ? s.textContent : ''"
    try:
        deadline = time.monotonic() + 60
        while not browser.execute_script(info):
            assert time.monotonic() < deadline, "the packed rows did not arrive"
            time.sleep(0.3)
        assert (
            browser.execute_script("return document.querySelectorAll('tbody tr').length") == tables.MAX_ROWS
        )
        assert browser.execute_script(info) == "rows 1-50 of 1000"
        browser.execute_script(
            "const i = document.querySelector('div.tools input'); i.value = arguments[0];"
            "i.dispatchEvent(new Event('input'));",
            NAMES[3],
        )
        shown = browser.execute_script(info)
        assert shown.endswith("(of 1000)") and int(shown.split(" of ")[1].split(" ")[0]) < 1000, shown
        browser.execute_script("document.querySelectorAll('thead tr.gt_col_headings th')[4].click()")
        values = browser.execute_script(
            "return [...document.querySelectorAll('tbody tr')].filter((r) => r.style.display !== 'none')"
            ".map((r) => parseFloat(r.cells[4].textContent.replace(/,/g, '')))"
        )
        assert values == sorted(values) and len(values) == min(50, int(shown.split(" of ")[1].split(" ")[0]))
        texts = browser.execute_script(
            "return [...document.querySelectorAll('tbody tr')].filter((r) => r.style.display !== 'none')"
            ".map((r) => r.textContent)"
        )
        assert all(NAMES[3] in t for t in texts)  # the search kept only that class's pairs
    finally:
        browser.switch_to.default_content()
