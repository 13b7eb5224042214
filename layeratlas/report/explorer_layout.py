"""The explorer's layout: the Bokeh document (a grid of maps, a row per model, sharing one data source
and one class filter; the legend, the class search, the selection gallery, the embedding switch) and the
small scripts that run in the browser."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from layeratlas.report import explorer_data as data_
from layeratlas.report.explorer_data import NAMES, aligned, subsample, thumbnail_uri

TOOLTIP_PX = 96
# At most this many images of a selection are drawn in the side panel (the count covers all of them).
GALLERY_MAX = 240
# Above this many classes the legend is one scrolling column (a class is found by the search box).
LEGEND_ROWS = 30


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
        AutocompleteInput,
        BooleanFilter,
        BoxSelectTool,
        Button,
        CDSView,
        ColumnDataSource,
        CustomJS,
        Div,
        HoverTool,
        LassoSelectTool,
        Legend,
        LegendItem,
        ScrollBox,
        Select,
    )
    from bokeh.plotting import figure

    base, coords = aligned(maps)
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
    palette = data_.palette(len(class_names))

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
        # the shown map (JS swaps these columns when the embedding select changes); each column is
        # serialised once: the shown embedding's own x{i}_{e} copy is made in the browser at the first switch
        data[f"x{i}"], data[f"y{i}"] = per[embedding][0][keep], per[embedding][1][keep]
        for e in embeddings:
            if e != embedding:
                data[f"x{i}_{e}"], data[f"y{i}_{e}"] = per[e][0][keep], per[e][1][keep]
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
    # One renderer per map, all behind one filter of the classes shown (a legend click or the class
    # search changes it), rather than a renderer per class and map (10,000 views at 100 classes x 100 maps).
    shown_classes = BooleanFilter(booleans=[True] * len(keep))
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
            p.scatter(
                f"x{i}",
                f"y{i}",
                source=source,
                view=CDSView(filter=shown_classes),
                size=5,
                color="color",
                alpha=0.8,
                nonselection_alpha=0.07,
                selection_alpha=1.0,
                selection_line_color="black",
                selection_line_width=0.6,
                name=f"map{i}",
            )
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
    # (click_policy hide) and the click event passes that on to the maps' class filter. (Bokeh 3.9 loses
    # the swatches on the next repaint when an item lists renderers of other plots, or when the swatch
    # renderer has a property callback: hence the event.) Many classes: one column that scrolls.
    many = len(classes) > LEGEND_ROWS
    n_legend_cols = 1 if many else max(1, math.ceil(len(classes) / 25))
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
        CustomJS(args={"legend": legend, "source": source, "filter": shown_classes}, code=_FOLLOW_JS),
    )
    key_plot.add_layout(legend)
    key: object = key_plot
    if many:
        key_plot.width = 250
        key = ScrollBox(child=key_plot, height=360, width=270, vertical_scrollbar="auto")

    split_words = data_.split_words(data["split"])
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
    # Find a class: its images are selected, so they light up in every map and fill the gallery.
    find = AutocompleteInput(
        title="find a class",
        placeholder="type part of a class name",
        completions=classes,
        case_sensitive=False,
        search_strategy="includes",
        min_characters=1,
        width=240,
    )
    find.js_on_change("value", CustomJS(args={"source": source}, code=_FIND_JS))
    controls = [find, clear]
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
                      "empty": ring_empty, "initial": embedding,
                      "titles": titles, "template": _header_html("%TITLE%", cap, len(coords))},
                code=_SWITCH_JS,
            ),
        )  # fmt: skip
        controls.insert(0, choose)
    side_panel = column(*controls, key, selected)
    layout = column(header, row(atlas, side_panel))
    return layout, titles[embedding] + ("" if len(keep) == n_total else f" (sample of {n_total:,})")


# A legend click: once Bokeh has toggled the item's swatch, the maps' filter shows the classes whose
# swatch is visible.
_FOLLOW_JS = """
setTimeout(() => {
  const hidden = new Set(legend.items.filter((it) => !it.renderers[0].visible).map((it) => it.label.value));
  filter.booleans = Array.from(source.data["class_name"], (c) => !hidden.has(c));
}, 0);
"""

# The class search: select that class's images (every map rings them, the gallery shows them).
_FIND_JS = """
const name = cb_obj.value.trim();
if (!name) return;
const cls = source.data["class_name"], idx = [];
for (let i = 0; i < cls.length; i++) if (cls[i] === name) idx.push(i);
source.selected.indices = idx;
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
  // the first switch keeps the embedding shown first, whose columns were sent once (as x{i}, y{i})
  if (!(("x" + i + "_" + initial) in data)) {
    data["x" + i + "_" + initial] = data["x" + i];
    data["y" + i + "_" + initial] = data["y" + i];
  }
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
