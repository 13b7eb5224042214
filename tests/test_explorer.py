"""The embedding explorer: one self-contained page whose maps all read ONE data source (so selections link),
aligned by sample id, subsampled with a seeded cap; and the tiny run's page working in a real browser."""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
import time

import numpy as np
import polars as pl
import pytest

from layeratlas.report import explorer
from tests.test_report_browser import ARTIFACTS, browser  # noqa: F401 - the headless Chromium fixture

N, CLASSES = 40, ("zero", "one", "two")


def _tables(seed: int = 0, n: int = N) -> tuple[dict, pl.DataFrame, np.ndarray]:
    """Three maps (two models) with t-SNE and PCA, each table in its own row order; ids are not 0..n-1."""
    rng = np.random.default_rng(seed)
    ids = 1000 + 3 * np.arange(n)
    labels = np.arange(n) % len(CLASSES)
    index = pl.DataFrame(
        {
            "sample_id": ids,
            "split": np.array(["train", "val", "test", "test"])[np.arange(n) % 4],
            "label": labels,
            "class_name": [CLASSES[c] for c in labels],
        }
    )
    images = rng.integers(0, 256, size=(n, 8, 8, 1), dtype=np.uint8)
    maps = {}
    for key in (("net_a", "conv1"), ("net_a", "fc"), ("net_b", "pool")):
        maps[key] = {}
        for embedding in ("tsne", "pca"):
            order = rng.permutation(n)
            maps[key][embedding] = pl.DataFrame(
                {
                    "sample_id": ids[order],
                    "label": labels[order],
                    "class_name": [CLASSES[c] for c in labels[order]],
                    "x": rng.normal(size=n).astype(np.float32),
                    "y": rng.normal(size=n).astype(np.float32),
                }
            )
    return maps, index, images


def _page(html: str) -> list[dict]:
    """Every model object of the page's Bokeh document (its inline JSON, gzipped), flattened."""
    (packed,) = re.findall(
        r'<script type="text/x-gzip-base64" data-kind="json" id="[^"]+">(.*?)</script>', html
    )
    payload = gzip.decompress(base64.b64decode(packed))
    found: list[dict] = []

    def walk(node):  # noqa: ANN001, ANN202
        if isinstance(node, dict):
            if node.get("type") == "object" and "attributes" in node:
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(payload))
    return found


def _column(value) -> np.ndarray:  # noqa: ANN001
    """A ColumnDataSource column as Bokeh serialises it (a list, or base64 bytes of an ndarray)."""
    if isinstance(value, dict) and value.get("type") == "ndarray":
        raw = base64.b64decode(value["array"]["data"] if isinstance(value["array"], dict) else value["array"])
        raw = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw  # Bokeh gzips larger arrays
        return np.frombuffer(raw, dtype=value["dtype"])
    return np.asarray(value)


def _points(html: str) -> tuple[dict, dict[str, np.ndarray], list[dict]]:
    objects = _page(html)
    (source,) = [o for o in objects if o["attributes"].get("name") == "explorer_points"]
    data = {k: _column(v) for k, v in source["attributes"]["data"]["entries"]}
    renderers = [
        o
        for o in objects
        if o["name"] == "GlyphRenderer" and str(o["attributes"].get("name", "")).startswith("map")
    ]
    return source, data, renderers


def test_page_is_self_contained_and_every_map_reads_one_source_aligned_by_sample_id():
    maps, index, images = _tables()
    html = explorer.explorer_html("toy", maps, index, images, CLASSES, embedding="tsne")
    # self-contained: no script, stylesheet or image is fetched from anywhere; Bokeh's JS is inline (packed)
    assert not re.search(r"<script[^>]*\bsrc=", html) and not re.search(r"<link[^>]*\bhref=", html)
    scripts = [
        gzip.decompress(base64.b64decode(body)).decode()
        for body in re.findall(r'<script type="text/x-gzip-base64" data-kind="js">(.*?)</script>', html)
    ]
    assert any("BEGIN bokeh.min.js" in js for js in scripts) and "Bokeh.embed.embed_items" in scripts[-1]
    assert not any("cdn.bokeh.org" in js for js in scripts)
    assert "<title>toy: t-SNE explorer, train, val, test splits, 40 images</title>" in html

    source, data, renderers = _points(html)
    assert sorted(data["sample_id"]) == sorted(index["sample_id"])
    # one renderer per (map, class), every one of them drawing from the single shared source
    assert len(renderers) == len(maps) * len(CLASSES)
    assert {r["attributes"]["data_source"]["id"] for r in renderers} == {source["id"]}
    for i, (key, tables) in enumerate(maps.items()):
        for embedding, table in tables.items():
            # row r of the source is the same image in every map: its coordinates in map i are that map's
            expected = dict(zip(table["sample_id"], table["x"], strict=True))
            got = data[f"x{i}_{embedding}"]
            assert np.array_equal(got, [expected[s] for s in data["sample_id"]]), (key, embedding)
        np.testing.assert_array_equal(data[f"x{i}"], data[f"x{i}_tsne"])  # the map shown first
    # the hover shows the image, its class, id and split
    row = 5
    thumb = data["thumb"][row]
    from PIL import Image

    picture = np.asarray(Image.open(io.BytesIO(base64.b64decode(thumb.split(",", 1)[1]))))
    position = int(np.flatnonzero(index["sample_id"].to_numpy() == data["sample_id"][row])[0])
    np.testing.assert_array_equal(picture, 255 - images[position, ..., 0])  # gray: dark ink on white
    assert data["split"][row] == index["split"][position]
    assert data["class_name"][row] == index["class_name"][position]


def test_packing_keeps_the_page_and_fits_a_report_data_url():
    maps, index, images = _tables()
    plain = explorer.explorer_html("toy", maps, index, images, CLASSES, embedding="tsne", pack=False)
    packed = explorer.pack_scripts(plain)
    originals = re.findall(r"<script[^>]*>(.*?)</script>", plain, re.S)
    bodies = re.findall(r'<script type="text/x-gzip-base64"[^>]*>(.*?)</script>', packed)
    assert [gzip.decompress(base64.b64decode(b)).decode() for b in bodies] == originals
    # the only script the browser runs as is: the loader that unzips and runs the others in order
    assert re.findall(r"<script>", packed) == ["<script>"] and "DecompressionStream" in packed
    assert len(plain) > explorer.DATA_URL_LIMIT * 3 / 4 > len(packed) * 4 / 3 + 22


def test_cap_subsamples_deterministically_and_says_so():
    maps, index, images = _tables()

    def ids(html: str) -> list[int]:
        return sorted(_points(html)[1]["sample_id"].tolist())

    page = explorer.explorer_html("toy", maps, index, images, CLASSES, embedding="pca", max_points=12, seed=3)
    again = explorer.explorer_html(
        "toy", maps, index, images, CLASSES, embedding="pca", max_points=12, seed=3
    )
    other = explorer.explorer_html(
        "toy", maps, index, images, CLASSES, embedding="pca", max_points=12, seed=4
    )
    assert len(ids(page)) == 12 and set(ids(page)) <= set(index["sample_id"])
    assert ids(page) == ids(again) and ids(page) != ids(other)
    header = next(o for o in _page(page) if o["name"] == "Div")["attributes"]["text"]
    assert "a seeded sample of 12 of the 40 images (analyses.explorer.max_points: 12, seed 3)" in header
    assert "(sample of 40)</title>" in page
    full = explorer.explorer_html("toy", maps, index, images, CLASSES, embedding="pca", max_points=40)
    header = next(o for o in _page(full) if o["name"] == "Div")["attributes"]["text"]
    assert "seeded sample" not in header and "of the same 40 images" in header and len(ids(full)) == 40


def test_maps_of_other_images_are_refused():
    maps, index, images = _tables()
    maps[("net_b", "pool")]["pca"] = maps[("net_b", "pool")]["pca"].head(30)
    with pytest.raises(ValueError, match="embedding pca of net_b/pool holds 30 images, not the same 40"):
        explorer.explorer_html("toy", maps, index, images, CLASSES, embedding="tsne")


def test_embedding_tables_are_named_by_their_folders(tmp_path):
    maps, _, _ = _tables()
    paths = []
    for (model, layer), tables in maps.items():
        for embedding, table in tables.items():
            path = tmp_path / model / layer / f"embedding_{embedding}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            table.write_parquet(path)
            paths.append(path)
    read = explorer.read_embedding_tables(paths)
    assert list(read) == list(maps) and all(set(t) == {"tsne", "pca"} for t in read.values())


def test_thumbnails_are_small():
    from PIL import Image, features

    rgb = np.random.default_rng(0).integers(0, 256, size=(96, 64, 3), dtype=np.uint8)
    uri = explorer.thumbnail_uri(rgb)
    picture = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert picture.size == (explorer.THUMB_MAX_PX * 64 // 96, explorer.THUMB_MAX_PX)
    # noise compresses badly as PNG (> 1 kB here): the lossy WebP is smaller, and used where Pillow has it
    assert uri.startswith("data:image/webp" if features.check("webp") else "data:image/png")
    digit = np.zeros((8, 8, 1), dtype=np.uint8)
    assert explorer.thumbnail_uri(digit).startswith("data:image/png")  # small gray images stay lossless


def _wait_for(condition, timeout: float = 60.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError("the explorer did not render in time")


# In the page: the shared source, and for each map (renderer name "map<i>_class<c>") its source's id and
# the sample ids it draws (its rows of that source), read back through BokehJS.
_READ_MAPS_JS = """
const doc = Bokeh.documents[0];
const source = doc.get_model_by_name("explorer_points");
const ids = Array.from(source.data["sample_id"]);
const maps = {};
for (const root of doc.roots()) {
  for (const model of root.references()) {
    const name = model.name ?? "";
    if (model.data_source === undefined || !name.startsWith("map")) continue;
    const map = name.split("_")[0];
    maps[map] = maps[map] ?? {sources: [], n_x: 0};
    maps[map].sources.push(model.data_source.id);
    maps[map].n_x = source.data["x" + map.slice(3)].length;
  }
}
return {source: source.id, ids: ids, maps: maps};
"""


# Elements matching a selector in the page and in every shadow root below it (Bokeh 3 renders in those).
_DEEP_JS = """
const deep = (root, selector) => {
  const found = [...root.querySelectorAll(selector)];
  for (const el of root.querySelectorAll("*")) {
    if (el.shadowRoot) found.push(...deep(el.shadowRoot, selector));
  }
  return found;
};
"""


@pytest.mark.slow
def test_tiny_run_explorer_links_the_maps_in_a_browser(browser, tiny_run, tiny_config):  # noqa: F811
    page = tiny_run / "results" / "explorer" / "digits.html"
    assert page.exists(), "the tiny config must build the explorer (analyses.explorer is on by default)"
    browser.get(page.as_uri())
    _wait_for(lambda: browser.execute_script("return window.Bokeh && Bokeh.documents.length > 0"))
    # the maps' canvases, inside Bokeh's shadow DOM: one per map and one for the legend
    _wait_for(lambda: browser.execute_script(_DEEP_JS + "return deep(document, 'canvas').length") > 5)
    state = browser.execute_script(_READ_MAPS_JS)
    n_maps = sum(len(spec["layers"]) for spec in tiny_config["models"].values())
    assert len(state["maps"]) == n_maps
    # every map draws from the one source, whose rows are the tiny run's analysed images
    index = pl.read_parquet(tiny_run / "results" / "datasets" / "digits" / "index.parquet")
    assert sorted(state["ids"]) == sorted(index["sample_id"].to_list())  # split: all, under the cap
    for name, linked in state["maps"].items():
        assert set(linked["sources"]) == {state["source"]}, name
        assert linked["n_x"] == len(state["ids"]), name

    # a selection (as a box drag makes it) shows the selected images beside the maps
    browser.execute_script(
        "Bokeh.documents[0].get_model_by_name('explorer_points').selected.indices = [0, 1, 2, 3, 4, 5];"
    )
    panel = "return deep(document, 'div').map((e) => e.textContent).join(' ')"
    _wait_for(lambda: "6 selected" in browser.execute_script(_DEEP_JS + panel))
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "explorer.png"))
