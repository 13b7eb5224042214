"""The interactive embedding explorer: one self-contained HTML page per dataset with the 2-D map of every
(model, layer), all drawn from ONE Bokeh ColumnDataSource so that a box or lasso selection in one map
highlights the same images in every other map; hovering shows the image itself.

Bokeh does the interactive part (linked selections through the shared source, hover templates, legend
clicks, inline JavaScript); this module only lays out the data: one row per image, one x/y column pair per
(map, embedding), the image as a small PNG data URI.
"""

from __future__ import annotations

import base64
import gzip
import html
import io
import logging
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import polars as pl

from layeratlas.io import Pathish, atomic_path

log = logging.getLogger("layeratlas")

NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
# Thumbnails are stored at their own size up to this many pixels (larger images are shrunk) and drawn
# larger by the browser with nearest-neighbour scaling: 8x8 digits cost ~100 bytes each, not ~1 kB.
THUMB_MAX_PX = 32
TOOLTIP_PX = 96
LOSSLESS_MAX_BYTES = 1024
# At most this many images of a selection are drawn in the side panel (the count covers all of them).
GALLERY_MAX = 240

_PATH = re.compile(r"embedding_(?P<embedding>[a-z]+)\.parquet$")


def read_embedding_tables(paths: Sequence[Pathish]) -> dict[tuple[str, str], dict[str, pl.DataFrame]]:
    """``.../{model}/{layer}/embedding_{embedding}.parquet`` files -> {(model, layer): {embedding: table}},
    in the order of ``paths`` (the maps' order on the page)."""
    maps: dict[tuple[str, str], dict[str, pl.DataFrame]] = {}
    for path in map(Path, paths):
        match = _PATH.search(path.name)
        if not match:
            raise ValueError(
                f"{path}: not an embedding table (expected .../<model>/<layer>/embedding_<x>.parquet)"
            )
        key = (path.parent.parent.name, path.parent.name)
        maps.setdefault(key, {})[match["embedding"]] = pl.read_parquet(path)
    return maps


def thumbnail_uri(image: np.ndarray, max_px: int = THUMB_MAX_PX) -> str:
    """A uint8 (H, W, C) image as a data URI, shrunk to at most ``max_px`` on its longer side: PNG, or
    WebP when the PNG would exceed LOSSLESS_MAX_BYTES and the WebP is smaller.

    Gray images are inverted (dark ink on white), as every figure of layeratlas draws them (gray_r).
    """
    from PIL import Image

    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = 255 - image[..., 0]
    picture = Image.fromarray(np.ascontiguousarray(image))
    if max(picture.size) > max_px:
        picture.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    encoded, mime = buffer.getvalue(), "png"
    if len(encoded) > LOSSLESS_MAX_BYTES:
        # Photos (CIFAR-10: ~1.9 kB as PNG) are ~6x smaller as lossy WebP, which every current browser shows;
        # small gray images (digits, MNIST) stay lossless.
        buffer = io.BytesIO()
        try:
            picture.save(buffer, format="WEBP", quality=85)
        except (OSError, KeyError):  # a Pillow built without WebP
            pass
        else:
            if len(buffer.getvalue()) < len(encoded):
                encoded, mime = buffer.getvalue(), "webp"
    return f"data:image/{mime};base64," + base64.b64encode(encoded).decode("ascii")


def subsample(n: int, max_points: int, seed: int) -> np.ndarray:
    """Sorted row numbers of a seeded sample of ``max_points`` of ``n`` rows (all rows when n <= cap)."""
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, got {max_points}")
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))


def _aligned(maps: Mapping[tuple[str, str], Mapping[str, pl.DataFrame]]) -> tuple[pl.DataFrame, dict]:
    """One row per image (sample_id, label, class_name) and {(model, layer): {embedding: (x, y)}} aligned
    to its rows. Every map must hold the same images (it is the same dataset and split)."""
    if not maps:
        raise ValueError("no embedding tables: the explorer needs at least one (model, layer) map")
    first_key, first = next(iter(maps.items()))
    base = next(iter(first.values())).select("sample_id", "label", "class_name")
    ids = base["sample_id"]
    if ids.is_duplicated().any():
        raise ValueError(f"embedding of {'/'.join(first_key)} repeats sample ids")
    coords: dict[tuple[str, str], dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for key, tables in maps.items():
        for embedding, table in tables.items():
            if table.height != base.height or not table["sample_id"].is_in(ids).all():
                raise ValueError(
                    f"embedding {embedding} of {'/'.join(key)} holds {table.height} images, not the same "
                    f"{base.height} as {'/'.join(first_key)}: were they computed on another split?"
                )
            table = base.select("sample_id").join(table, on="sample_id", how="left", maintain_order="left")
            xy = (table["x"].to_numpy().astype(np.float32), table["y"].to_numpy().astype(np.float32))
            coords.setdefault(key, {})[embedding] = xy
    return base, coords


def _palette(n_classes: int) -> list[str]:
    from bokeh.palettes import Category10_10, Category20_20

    # tab10/tab20 of the matplotlib figures (the same colours), by class id; beyond 20 classes they repeat.
    colours = Category10_10 if n_classes <= 10 else Category20_20
    return [colours[i % len(colours)] for i in range(n_classes)]


def _split_words(splits: Sequence[str]) -> str:
    """The splits for the page title: 'test split', or 'train, val, test splits' in that order."""
    order = {"train": 0, "val": 1, "test": 2}
    present = sorted(set(splits), key=lambda s: (order.get(s, 3), s))
    return f"{present[0]} split" if len(present) == 1 else f"{', '.join(present)} splits"


def explorer_document(
    dataset: str,
    maps: Mapping[tuple[str, str], Mapping[str, pl.DataFrame]],
    index: pl.DataFrame,
    images: np.ndarray,
    class_names: Sequence[str],
    *,
    embedding: str,
    max_points: int = 5000,
    seed: int = 0,
):  # noqa: ANN201 - a bokeh layout (bokeh is imported lazily)
    """The explorer's Bokeh layout and its page title.

    ``maps``: {(model, layer): {embedding: table with sample_id, label, class_name, x, y}} in page order
    (rows: models, columns: that model's layers). ``index``/``images``: the dataset's index.parquet and
    images.npy (row i of one is image i of the other). ``embedding``: the map shown first; the others of
    each map can be switched to. Above ``max_points`` images a seeded sample is drawn (stated on the page).
    """
    from bokeh.layouts import column, gridplot, row
    from bokeh.models import (
        BoxSelectTool,
        Button,
        CDSView,
        ColumnDataSource,
        CustomJS,
        Div,
        GroupFilter,
        HoverTool,
        LassoSelectTool,
        Legend,
        LegendItem,
        Select,
    )
    from bokeh.plotting import figure

    base, coords = _aligned(maps)
    embeddings = [e for e in NAMES if all(e in per for per in coords.values())]
    if embedding not in embeddings:
        raise ValueError(
            f"embedding {embedding!r} is not computed for every map; have {', '.join(embeddings)}"
        )
    n_total = base.height
    keep = subsample(n_total, max_points, seed)
    base = base[keep]

    position = {int(s): i for i, s in enumerate(index["sample_id"].to_numpy())}
    missing = [int(s) for s in base["sample_id"] if int(s) not in position]
    if missing:
        raise ValueError(f"sample ids {missing[:5]} of the embeddings are not in the dataset index")
    rows = np.array([position[int(s)] for s in base["sample_id"]], dtype=np.int64)
    splits = index["split"].to_numpy().astype(str)[rows]
    labels = base["label"].to_numpy()
    palette = _palette(len(class_names))

    data: dict[str, object] = {
        "sample_id": base["sample_id"].to_numpy(),
        "class_name": [str(c) for c in base["class_name"]],
        "split": splits.tolist(),
        "color": [palette[int(c)] for c in labels],
        "thumb": [thumbnail_uri(images[r]) for r in rows],
    }
    keys = {}  # (model, layer) -> column suffix: "x3" is the shown map, "x3_pca" the PCA of map 3
    for i, (key, per) in enumerate(coords.items()):
        keys[key] = str(i)
        for e in embeddings:
            x, y = per[e]
            data[f"x{i}_{e}"], data[f"y{i}_{e}"] = x[keep], y[keep]
        # the shown map (JS swaps these columns when the embedding select changes)
        data[f"x{i}"], data[f"y{i}"] = data[f"x{i}_{embedding}"], data[f"y{i}_{embedding}"]
    source = ColumnDataSource(data, name="explorer_points")

    maps_js = list(keys.values())
    ring_empty = {f"{axis}{i}": [] for i in maps_js for axis in "xy"}
    ring = ColumnDataSource(dict(ring_empty), name="explorer_ring")
    classes = [str(c) for c in class_names if str(c) in set(data["class_name"])]
    hover_html = f"""
<div style="display:flex;gap:10px;align-items:center">
  <img src="@thumb" alt="" style="width:{TOOLTIP_PX}px;height:{TOOLTIP_PX}px;object-fit:contain;
       image-rendering:pixelated;border:1px solid #ccc;background:#fff">
  <div style="font-size:13px;line-height:1.5">
    <div><b>class @class_name</b></div><div>sample id @sample_id</div><div>@split split</div>
  </div>
</div>"""

    models: list[str] = list(dict.fromkeys(model for model, _ in coords))
    n_cols = max(sum(1 for m, _ in coords if m == model) for model in models)
    # Map size: the whole grid on one laptop screen (about 1,100 x 720 px for the maps) where possible.
    side = int(np.clip(min(720 / len(models) - 34, 1100 / n_cols - 24), 180, 280))
    grid: list[list] = []
    renderers_of_class: dict[str, list] = {c: [] for c in classes}
    plots = []
    for model in models:
        cells = []
        for col, (_, layer) in enumerate(k for k in coords if k[0] == model):
            i = keys[(model, layer)]
            p = figure(
                title=layer,
                frame_width=side,
                frame_height=side,
                tools="pan,wheel_zoom,reset,save",
                toolbar_location=None,
                match_aspect=True,
                min_border_left=8,
                min_border_right=8,
            )
            p.title.text_font_size = "13px"
            box, lasso = BoxSelectTool(continuous=True), LassoSelectTool(continuous=True)
            p.add_tools(box, lasso)
            p.toolbar.active_drag = box
            p.xaxis.visible = False
            p.yaxis.major_tick_line_color = p.yaxis.minor_tick_line_color = None
            p.yaxis.major_label_text_font_size = "0px"
            p.yaxis.axis_line_color = None
            p.yaxis.visible = col == 0  # the first map of a row names its model on the left
            if col == 0:
                p.yaxis.axis_label = model
                p.yaxis.axis_label_text_font_style = "bold"
                p.yaxis.axis_label_text_font_size = "13px"
            p.grid.grid_line_alpha = 0.25
            for c in classes:
                r = p.scatter(
                    f"x{i}",
                    f"y{i}",
                    source=source,
                    view=CDSView(filter=GroupFilter(column_name="class_name", group=c)),
                    size=5,
                    color="color",
                    alpha=0.8,
                    nonselection_alpha=0.07,
                    selection_alpha=1.0,
                    selection_line_color="black",
                    selection_line_width=0.6,
                    name=f"map{i}_class{c}",
                )
                renderers_of_class[c].append(r)
            # Hover reads one transparent renderer of all the map's points, so that a dense spot shows ONE
            # tooltip (limit=1), not one per class renderer. The hovered image is ringed in every map (Bokeh's
            # own hover glyph would not do: each renderer overwrites the shared source's inspected indices).
            hover_renderer = p.scatter(
                f"x{i}", f"y{i}", source=source, size=6, alpha=0, selection_alpha=0, nonselection_alpha=0
            )
            p.scatter(
                f"x{i}", f"y{i}", source=ring, size=17, fill_color=None, line_color="black", line_width=2.5
            )
            p.add_tools(
                HoverTool(
                    renderers=[hover_renderer],
                    tooltips=hover_html,
                    point_policy="snap_to_data",
                    limit=1,
                    callback=CustomJS(args={"source": source, "ring": ring, "maps": maps_js}, code=_RING_JS),
                )
            )
            p.js_on_event(
                "mouseleave", CustomJS(args={"ring": ring, "empty": ring_empty}, code=_CLEAR_RING_JS)
            )
            cells.append(p)
            plots.append(p)
        grid.append(cells + [None] * (n_cols - len(cells)))
    atlas = gridplot(grid, toolbar_location="above", merge_tools=True)

    # One legend for every map, in a plot of its own holding one off-screen point per class for the
    # swatch (fixed ranges: Bokeh cannot range an empty plot). Clicking an item hides its swatch renderer
    # (click_policy hide) and the click event passes that on to the class's renderer in every map. (Bokeh
    # 3.9 loses the swatches on the next repaint when an item lists renderers of other plots, or when the
    # swatch renderer has a property callback: hence the event.)
    n_legend_cols = max(1, math.ceil(len(classes) / 25))
    key_plot = figure(
        width=170 * n_legend_cols,
        height=60 + 22 * math.ceil(len(classes) / n_legend_cols),
        toolbar_location=None,
        outline_line_color=None,
        min_border=0,
        x_range=(0, 1),
        y_range=(0, 1),
    )
    key_plot.axis.visible = key_plot.grid.visible = False
    items = []
    for c in classes:
        swatch = key_plot.scatter([-1], [-1], size=10, color=palette[list(map(str, class_names)).index(c)])
        items.append(LegendItem(label=c, renderers=[swatch]))
    legend = Legend(
        items=items,
        click_policy="hide",
        title="class (click to hide)",
        location="top_left",
        border_line_color=None,
        ncols=n_legend_cols,
    )
    legend.js_on_event(
        "legend_item_click",
        CustomJS(args={"groups": {c: renderers_of_class[c] for c in classes}}, code=_FOLLOW_JS),
    )
    key_plot.add_layout(legend)

    split_words = _split_words(data["split"])
    cap = (
        f"a seeded sample of {len(keep):,} of the {n_total:,} images (analyses.explorer.max_points: "
        f"{max_points:,}, seed {seed})"
        if len(keep) < n_total
        else f"{n_total:,} images"
    )
    titles = {e: f"{dataset}: {NAMES[e]} explorer, {split_words}, {len(keep):,} images" for e in embeddings}
    header = Div(
        text=_header_html(titles[embedding], cap, len(coords)),
        width=max(900, side * n_cols + 300),
    )
    selected = Div(text=_EMPTY_SELECTION, width=260, styles={"overflow-y": "auto", "max-height": "520px"})
    clear = Button(label="Clear selection", width=140)
    clear.js_on_click(CustomJS(args={"source": source}, code="source.selected.indices = []"))
    source.selected.js_on_change(
        "indices",
        CustomJS(
            args={"source": source, "panel": selected, "classes": classes, "limit": GALLERY_MAX,
                  "empty": _EMPTY_SELECTION},
            code=_SELECTION_JS,
        ),
    )  # fmt: skip
    controls = [clear]
    if len(embeddings) > 1:
        choose = Select(
            title="map",
            value=embedding,
            options=[(e, NAMES[e]) for e in embeddings],
            width=140,
        )
        choose.js_on_change(
            "value",
            CustomJS(
                args={"source": source, "maps": maps_js, "plots": plots, "header": header, "ring": ring,
                      "empty": ring_empty,
                      "titles": titles, "template": _header_html("%TITLE%", cap, len(coords))},
                code=_SWITCH_JS,
            ),
        )  # fmt: skip
        controls.insert(0, choose)
    side_panel = column(*controls, key_plot, selected)
    layout = column(header, row(atlas, side_panel))
    return layout, titles[embedding] + ("" if len(keep) == n_total else f" (sample of {n_total:,})")


# A legend click: once Bokeh has toggled the item's swatch, every map's renderer of that class follows it.
_FOLLOW_JS = """
const item = cb_obj.item;
setTimeout(() => {
  const shown = item.renderers[0].visible;
  for (const r of groups[item.label.value]) r.visible = shown;
}, 0);
"""

_EMPTY_SELECTION = (
    "<div style='color:#555;font-size:13px'>Drag a box (or lasso) over points in any map: the same images "
    "light up in every map and appear here.</div>"
)

# Runs in the browser when the selection changes: counts per class and a gallery of the selected images.
_SELECTION_JS = """
const idx = source.selected.indices;
if (idx.length == 0) { panel.text = empty; return; }
const esc = (t) => String(t).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);  // class names are data
const cls = source.data["class_name"], thumbs = source.data["thumb"], ids = source.data["sample_id"];
const count = new Map(classes.map((c) => [c, 0]));
for (const i of idx) count.set(cls[i], count.get(cls[i]) + 1);
const parts = [...count].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1])
  .map(([c, n]) => `${esc(c)}: ${n}`);
let out = `<div style='font-size:13px'><b>${idx.length} selected</b> (by class: ${parts.join(", ")})</div>`;
out += "<div style='display:flex;flex-wrap:wrap;gap:2px;margin-top:6px'>";
// rarest classes first: the few images that sit among another class's cluster are what one looks for
const order = [...idx].sort((a, b) => count.get(cls[a]) - count.get(cls[b]) || cls[a].localeCompare(cls[b]));
for (const i of order.slice(0, limit)) {
  out += `<img src='${thumbs[i]}' title='sample ${ids[i]}, class ${esc(cls[i])}' ` +
         "style='width:32px;height:32px;object-fit:contain;image-rendering:pixelated;border:1px solid #ddd'>";
}
if (idx.length > limit) out += `<div style='font-size:12px'>... and ${idx.length - limit} more</div>`;
panel.text = out + "</div>";
"""

# Hover: ring the hovered image in every map. The hit rows of this renderer are its inspector's (full
# source rows); cb_data.index is the shared source's inspected, which the plot's last renderer overwrote.
_RING_JS = """
const r = cb_data.renderer;
const hits = r.get_selection_manager().inspectors.get(r)?.indices ?? [];
if (hits.length == 0) return;
const i = hits[0], data = {};
for (const k of maps) {
  data["x" + k] = [source.data["x" + k][i]];
  data["y" + k] = [source.data["y" + k][i]];
}
ring.data = data;
"""
_CLEAR_RING_JS = "ring.data = empty;"

# Runs in the browser when another embedding is chosen: the shown x/y columns of every map become that
# embedding's, the ranges follow, the header names it. The selection is kept (it is on the shared source).
_SWITCH_JS = """
const e = cb_obj.value;
const data = Object.assign({}, source.data);
for (const i of maps) {
  data["x" + i] = data["x" + i + "_" + e];
  data["y" + i] = data["y" + i + "_" + e];
}
source.data = data;
ring.data = empty;
for (const p of plots) p.reset.emit();
header.text = template.replace("%TITLE%", titles[e]);
"""


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _header_html(title: str, cap: str, n_maps: int) -> str:
    how = (
        ("Select", "drag a box (or lasso) in any map: the same images light up in every map and are listed "
         "on the right"),
        ("Hover", "a point for its image; a ring marks it in every map"),
        ("Legend", "click a class to hide it"),
        ("Zoom", "switch the wheel tool on; &#x27F3; resets the view"),
    )  # fmt: skip
    tips = " &middot; ".join(f"<b>{verb}</b> {text}" for verb, text in how)
    return (
        f"<h2 style='margin:4px 0 2px 0'>{html.escape(title)}</h2>"
        f"<div style='color:#333;font-size:14px'>{_plural(n_maps, 'map')} of the same {html.escape(cap)}: "
        "a row per model, its layers left to right in network order.</div>"
        f"<div style='color:#555;font-size:13px;margin-top:3px;max-width:1100px'>{tips}</div>"
    )


def explorer_html(
    dataset: str,
    maps: Mapping[tuple[str, str], Mapping[str, pl.DataFrame]],
    index: pl.DataFrame,
    images: np.ndarray,
    class_names: Sequence[str],
    *,
    embedding: str,
    max_points: int = 5000,
    seed: int = 0,
    pack: bool = True,
) -> str:
    """The explorer as one HTML page, JavaScript inline (opens offline from disk); see explorer_document.

    ``pack``: gzip the page's scripts (see pack_scripts): about a third of the size.
    """
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    layout, title = explorer_document(
        dataset, maps, index, images, class_names, embedding=embedding, max_points=max_points, seed=seed
    )
    page = file_html(layout, INLINE, title=title)
    return pack_scripts(page) if pack else page


# Snakemake's single-file report (report.html) shows an HTML result in an iframe whose src is the file as a
# data: URL, and Chromium does not load data: URLs over 2 MiB (measured: 2,080,010 characters load,
# 2,106,678 do not). Bokeh's inline JavaScript alone is 1.65 MB (2.2 MB as base64), but 0.4 MB gzipped.
DATA_URL_LIMIT = 2 * 1024 * 1024
_SCRIPT = re.compile(r'<script(?P<attrs>(?: type="(?:text/javascript|application/json)")?(?: id="[^"]*")?)>'
                     r"(?P<body>.*?)</script>", re.S)  # fmt: skip
# Runs the packed scripts in page order once unzipped by the browser (DecompressionStream: Chrome 80,
# Firefox 113, Safari 16.4); a JSON script (the Bokeh document) gets its text back in place.
_UNPACK_JS = """<script>
(async () => {
  if (typeof DecompressionStream === "undefined") {
    document.body.textContent = "This page needs a browser from 2023 or later (DecompressionStream).";
    return;
  }
  for (const el of document.querySelectorAll('script[type="text/x-gzip-base64"]')) {
    const bytes = Uint8Array.from(atob(el.textContent.trim()), (c) => c.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    const text = await new Response(stream).text();
    if (el.dataset.kind === "json") {
      el.textContent = text;
    } else {
      const script = document.createElement("script");
      script.text = text;
      document.body.appendChild(script);
    }
  }
})();
</script>"""


def pack_scripts(page: str) -> str:
    """``page`` with every inline script stored gzipped (base64) and unzipped and run in order by a small
    loader: the same page at about a third of the size, still one offline file, and small enough to open
    inside Snakemake's single-file report (DATA_URL_LIMIT)."""

    def packed(match: re.Match) -> str:
        kind = "json" if "application/json" in match["attrs"] else "js"
        element_id = re.search(r' id="[^"]*"', match["attrs"])
        data = base64.b64encode(gzip.compress(match["body"].encode("utf-8"), compresslevel=9, mtime=0))
        return (
            f'<script type="text/x-gzip-base64" data-kind="{kind}"{element_id[0] if element_id else ""}>'
            f"{data.decode('ascii')}</script>"
        )

    page = _SCRIPT.sub(packed, page)
    head, tail = page.rsplit("</body>", 1)
    return f"{head}{_UNPACK_JS}\n</body>{tail}"


def write_explorer(
    dataset: str,
    embedding_tables: Sequence[Pathish],
    dataset_dir: Pathish,
    *,
    embedding: str,
    max_points: int,
    seed: int,
    output: Pathish,
) -> None:
    """Read the embedding tables and the dataset's images, write the explorer page atomically."""
    from layeratlas.data.datasets import load_dataset

    ds = load_dataset(dataset_dir)
    index = pl.read_parquet(Path(dataset_dir) / "index.parquet")
    page = explorer_html(
        dataset,
        read_embedding_tables(embedding_tables),
        index,
        ds.images,
        ds.class_names,
        embedding=embedding,
        max_points=max_points,
        seed=seed,
    )
    with atomic_path(output) as tmp:
        tmp.write_text(page, encoding="utf-8")
    uri_length = len("data:text/html;base64,") + 4 * math.ceil(len(page.encode("utf-8")) / 3)
    log.info("%s: %s bytes (as a data: URL %s characters)", output, f"{len(page):,}", f"{uri_length:,}")
    if uri_length > DATA_URL_LIMIT:
        log.warning(
            "%s opens from disk and in `snakemake --report report.zip`, but is too large to open inside the "
            "single-file report.html in Chromium-based browsers (data: URLs over 2 MiB); lower "
            "analyses.explorer.max_points (now %d) for that",
            output,
            max_points,
        )
