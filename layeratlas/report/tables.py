"""Result tables as readable HTML pages for the report: column names in words with units, numbers
formatted to a sensible precision, the raw table kept as a download link inside the page.

great-tables renders static HTML with its CSS inline, so a page opens offline inside the report's frame.
Its ``opt_interactive()`` is not used: in great-tables 1.1 it renders through React loaded from esm.sh (a
network import, blank offline) and adds ~400 kB per page. Instead ``INTERACTIVE_JS`` (about 2 kB, no
network) adds a search box, sorting by a click on a column heading and pages of ``PAGE_ROWS`` rows to every
page. itables would sort too but needs its ~700 kB DataTables bundle inline in every page.

Large tables are put in reading order first (``READING_ORDER``: inter-class pairs nearest first, the most
confusable) and cut to the rows that keep the page inside an item's budget of the report
(``layeratlas.report.budget``), the page saying so and naming the full file.
"""

from __future__ import annotations

import base64
import gzip
import html
import os
import re
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from layeratlas.io import atomic_path, read_json
from layeratlas.report.budget import MAX_ITEM_BYTES

PAGE_ROWS = 50  # rows per page of an interactive table
# The most rows a page shows (in reading order): at 100 classes an inter-class table has 4,950 pairs,
# ~1.5 MB a page, and nine of them were a fifth of report.html; the 1,000 nearest pairs are what a reader
# looks at, and the whole table stays in its .tsv.
MAX_ROWS = 1000
# Column -> ascending: the order a reader wants a large table in (what matters first).
READING_ORDER: Mapping[str, bool] = {
    "inter_class_variance": True,  # nearest class pairs first: the most confusable
    "cka": False,
}

# Column name -> words (with units). Columns not listed read as their name with spaces.
COLUMN_WORDS: Mapping[str, str] = {
    "dataset": "dataset",
    "model": "model",
    "layer": "layer",
    "depth": "layer position (0 = first)",
    "split": "split",
    "n_samples": "images",
    "n_features": "features (dimensions)",
    "n_classes": "classes",
    "classifier": "classifier",
    "parameter": "chosen parameter",
    "value": "parameter value",
    "train_accuracy": "train accuracy (%)",
    "val_accuracy": "validation accuracy (%)",
    "test_accuracy": "test accuracy (%)",
    "test_macro_f1": "test macro-F1 (%)",
    "test_loss": "test loss (cross-entropy)",
    "train_loss": "train loss (cross-entropy)",
    "linear_probe_accuracy": "linear probe accuracy (%)",
    "knn_accuracy": "k-NN accuracy (%)",
    "ncm_l2_accuracy": "nearest class mean, L2, accuracy (%)",
    "ncm_l1_accuracy": "nearest class mean, L1, accuracy (%)",
    "random_forest_accuracy": "random forest accuracy (%)",
    "linear_adam_accuracy": "linear layer (Adam) accuracy (%)",
    "inter_to_intra_ratio": "inter / intra-class variance ratio",
    "mean_intra_class_variance": "mean intra-class variance (squared feature units)",
    "mean_inter_class_variance": "mean inter-class variance (squared feature units)",
    "intra_class_variance": "intra-class variance (squared feature units)",
    "inter_class_variance": "inter-class variance (squared distance of class means)",
    "silhouette": "silhouette of the features (-1 to 1)",
    "davies_bouldin": "Davies-Bouldin of the features (lower: better)",
    "trustworthiness": "trustworthiness (0 to 1)",
    "nc1": "NC1 within-class variability",
    "nc2_equinorm": "NC2 equal norms (CV)",
    "nc2_max_angle": "NC2 max angle deviation",
    "nc3": "NC3 self-duality",
    "nc4": "NC4 disagreement with NCC (%)",
    "class_id": "class id",
    "class_name": "class",
    "class_a_id": "class A id",
    "class_a": "class A",
    "class_b_id": "class B id",
    "class_b": "class B",
    "cka": "linear CKA (0 to 1)",
    "model_a": "model A",
    "layer_a": "layer A",
    "model_b": "model B",
    "layer_b": "layer B",
    "epoch": "epoch",
    "training_seconds": "training time (s)",
    "epochs_run": "epochs run",
    "best_epoch": "best epoch",
    "final_val_accuracy": "final validation accuracy (%)",
    "params": "parameters",
    "receptive_field": "receptive field (px)",
    "stride": "stride (px)",
    "input_shape": "input shape",
    "output_shape": "output shape",
    "count": "images",
}


def column_words(name: str) -> str:
    """A column's heading in words, with its unit where it has one."""
    if name in COLUMN_WORDS:
        return COLUMN_WORDS[name]
    for prefix, words in (
        ("silhouette_", "silhouette of the "),
        ("davies_bouldin_", "Davies-Bouldin of the "),
    ):
        if name.startswith(prefix):
            return f"{words}{name.removeprefix(prefix).upper()} map"
    if name.startswith("trustworthiness_"):
        return f"trustworthiness of the {name.removeprefix('trustworthiness_').upper()} map (0 to 1)"
    if name.endswith("_accuracy") or name.endswith("_macro_f1"):
        return name.replace("_", " ") + " (%)"
    return name.replace("_", " ")


def is_percent(name: str) -> bool:
    """Fractions shown as percentages: accuracies, F1 scores, NC4 (a disagreement rate)."""
    return name.endswith("_accuracy") or name.endswith("_macro_f1") or name == "nc4"


def load_table(path: str | os.PathLike) -> pl.DataFrame:
    """A .tsv, .csv, .parquet, or .json (an object of scalars: one row) as a data frame."""
    path = Path(path)
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    if path.suffix in (".tsv", ".csv"):
        return pl.read_csv(path, separator="\t" if path.suffix == ".tsv" else ",", infer_schema_length=None)
    if path.suffix == ".json":
        data = read_json(path)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object of values, got {type(data).__name__}")
        return pl.DataFrame([{k: v for k, v in data.items() if not isinstance(v, (dict, list))}])
    raise ValueError(f"{path}: cannot read a table from {path.suffix!r} (.tsv, .csv, .parquet or .json)")


def _significant(value: float | None) -> str:
    if value is None or value != value:  # noqa: PLR0124 (NaN)
        return "–"
    return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.4g}"


def reading_order(frame: pl.DataFrame) -> tuple[pl.DataFrame, str]:
    """``frame`` sorted by the first ``READING_ORDER`` column it has (nulls last), and words that say so."""
    for column, ascending in READING_ORDER.items():
        if column in frame.columns and frame.height > 1:
            words = f"sorted by {column_words(column)}, {'smallest' if ascending else 'largest'} first"
            return frame.sort(column, descending=not ascending, nulls_last=True), words
    return frame, ""


INTERACTIVE_JS = r"""<script>
function laInteractive() {
  const table = document.querySelector("table.gt_table");
  const body = table && table.querySelector("tbody");
  if (!body) return;
  const rows = Array.from(body.rows), size = %(page)d;
  let shown = rows, page = 0, sortCol = -1, sortAsc = true;
  const bar = document.createElement("div");
  bar.className = "tools";
  bar.innerHTML = '<input type="search" placeholder="search rows" aria-label="search rows"> ' +
    '<button>&lsaquo; previous</button> <span></span> <button>next &rsaquo;</button>';
  table.before(bar);
  const [search, prev, info, next] = bar.children;
  if (rows.length <= size) for (const el of [prev, info, next]) el.style.display = "none";
  const key = (row, c) => {
    const text = row.cells[c] ? row.cells[c].textContent.trim() : "";
    const num = parseFloat(text.replace(/[,%%]/g, ""));
    if (text === "" || text === "\u2013") return null;
    return isNaN(num) || !/^[-+\d.,%%e ]+$/i.test(text) ? text : num;
  };
  const draw = () => {
    const pages = Math.max(1, Math.ceil(shown.length / size));
    page = Math.min(Math.max(page, 0), pages - 1);
    const start = page * size, visible = new Set(shown.slice(start, start + size));
    body.replaceChildren(...shown);
    for (const r of rows) r.style.display = visible.has(r) ? "" : "none";
    info.textContent = `rows ${shown.length ? start + 1 : 0}-${Math.min(start + size, shown.length)} of ` +
      `${shown.length}` + (shown.length < rows.length ? ` (of ${rows.length})` : "");
    prev.disabled = page === 0; next.disabled = page >= pages - 1;
  };
  search.addEventListener("input", () => {
    const q = search.value.toLowerCase();
    shown = rows.filter((r) => r.textContent.toLowerCase().includes(q));
    if (sortCol >= 0) sortRows();
    page = 0; draw();
  });
  const sortRows = () => shown.sort((a, b) => {
    const x = key(a, sortCol), y = key(b, sortCol);
    if (x === null || y === null) return (x === null) - (y === null);
    return (x < y ? -1 : x > y ? 1 : 0) * (sortAsc ? 1 : -1);
  });
  const heads = table.querySelectorAll("thead tr.gt_col_headings th");
  heads.forEach((th, c) => {
    th.style.cursor = "pointer";
    th.title = "sort by this column (click again: reverse)";
    th.addEventListener("click", () => {
      sortAsc = sortCol === c ? !sortAsc : true; sortCol = c;
      heads.forEach((h) => h.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", sortAsc ? "ascending" : "descending");
      sortRows(); page = 0; draw();
    });
  });
  prev.addEventListener("click", () => { page -= 1; draw(); });
  next.addEventListener("click", () => { page += 1; draw(); });
  draw();
}
</script>"""
# A page of more than PACK_ROWS rows keeps its rows gzipped (base64) and the browser unzips them
# (DecompressionStream, as the explorer's scripts): 1,000 class pairs are 380 kB as HTML, ~60 kB packed.
PACK_ROWS = 200
_UNPACK_ROWS_JS = """<script>
(async () => {
  const el = document.getElementById("la-rows");
  if (el) {
    const bytes = Uint8Array.from(atob(el.textContent.trim()), (c) => c.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    document.querySelector("table.gt_table tbody").innerHTML = await new Response(stream).text();
  }
  if (typeof laInteractive === "function") laInteractive();
})();
</script>"""
_TBODY = re.compile(r"(<tbody[^>]*>)(.*?)(</tbody>)", re.S)


def pack_rows(body: str) -> str:
    """``body`` (a great-tables table) with its rows gzipped into a script the page unzips on load."""

    def packed(match: re.Match) -> str:
        data = base64.b64encode(gzip.compress(match[2].encode("utf-8"), compresslevel=9, mtime=0))
        script = f'<script type="text/x-gzip-base64" id="la-rows">{data.decode("ascii")}</script>'
        return f"{match[1]}{match[3]}{script}"

    return _TBODY.sub(packed, body, count=1)


_STYLE = (
    "<style>body{font-family:sans-serif;margin:1em;} p.download{font-size:0.85em;color:#555}"
    " div.tools{margin:0.5em 0;font-size:0.9em} div.tools input{width:16em}"
    ' th[aria-sort="ascending"]::after{content:" \\25B2"}'
    ' th[aria-sort="descending"]::after{content:" \\25BC"}'
    "</style>"
)


def _gt_html(shown: pl.DataFrame, title: str, note: str) -> str:
    from great_tables import GT

    # a wide table centres its title out of view: keep it at the left edge
    table = GT(shown).tab_header(title=title, subtitle=note or None).opt_align_table_header(align="left")
    table = table.cols_label(**{c: column_words(c) for c in shown.columns})
    floats = [c for c in shown.columns if shown[c].dtype.is_float()]
    percents = [c for c in floats if is_percent(c)]
    others = [c for c in floats if c not in percents]
    ints = [
        c
        for c in shown.columns
        if shown[c].dtype.is_integer() and not c.endswith("_id") and c not in ("epoch", "depth")
    ]
    if percents:
        table = table.fmt_number(columns=percents, decimals=1)
    if others:
        # 4 significant digits without trailing zeros (0.001, 200, 1.257); thousands separated
        table = table.fmt(_significant, columns=others)
    if ints:
        table = table.fmt_integer(columns=ints)
    return table.sub_missing(missing_text="–").as_raw_html()


def table_html(
    frame: pl.DataFrame,
    title: str,
    *,
    note: str = "",
    download: str | os.PathLike | None = None,
    max_bytes: int = MAX_ITEM_BYTES,
    max_rows: int = MAX_ROWS,
    interactive: bool = True,
) -> str:
    """A whole HTML page: ``frame`` as a great-tables table (fractions as %, other floats to 3-4
    significant digits, integers with thousands separators), ``note`` below the title, and the raw file
    ``download`` embedded as a download link.

    Large tables come in ``reading_order``; a page shows at most ``max_rows`` rows, over ``PACK_ROWS``
    kept gzipped (``pack_rows``), and a page over ``max_bytes`` keeps the rows that fit (the note says
    how many of how many, and names the full file); it links the raw file only where it fits too.
    ``interactive`` adds search, sorting and paging (``INTERACTIVE_JS``)."""
    frame, order = reading_order(frame)
    constant = []  # a text column with one value in every row reads once, above the table
    if frame.height > 1:
        for column in frame.columns:
            if frame[column].dtype == pl.String and frame[column].n_unique() == 1 and frame.width > 2:
                constant.append(f"{column_words(column)}: {frame[column][0]}")
                frame = frame.drop(column)
    note = "; ".join(filter(None, [note, ", ".join(constant)]))
    shown = frame.with_columns(
        [(pl.col(c) * 100).alias(c) for c in frame.columns if is_percent(c) and frame[c].dtype.is_float()]
    )
    raw = Path(download).read_bytes() if download is not None else b""
    name = html.escape(Path(download).name) if download is not None else ""
    embed = 0 < len(raw) * 4 / 3 < max_bytes / 4  # the raw file inline only while it is small beside the page
    budget = max_bytes - (len(raw) * 4 // 3 + 400 if embed else 400) - len(INTERACTIVE_JS) - 2000
    rows = min(shown.height, max_rows)
    pack = rows > PACK_ROWS
    while True:
        words = [order] if order else []
        if rows < shown.height:
            why = "" if rows == max_rows else " (the rest would not open inside report.html)"
            words.append(
                f"the first {rows:,} of {shown.height:,} rows{why}; "
                f"the full table: {name or 'its .tsv'} in results/ and in report.zip"
            )
        subtitle = "; ".join(filter(None, [note, *words]))
        body = _gt_html(shown.head(rows), title, subtitle)
        body = pack_rows(body) if pack else body
        size = len(body.encode("utf-8"))
        if size <= budget or rows <= 10:
            break
        rows = max(10, int(rows * budget / size * 0.95))
    link = ""
    if embed:
        link = (
            f'<p class="download">Raw table: <a download="{name}" '
            f'href="data:text/plain;base64,{base64.b64encode(raw).decode("ascii")}">{name}</a> '
            f"({frame.height} rows; also beside this page in results/)</p>"
        )
    elif download is not None:
        link = (
            f'<p class="download">Raw table: {name} ({frame.height:,} rows), beside this page in results/</p>'
        )
    script = INTERACTIVE_JS % {"page": PAGE_ROWS} if interactive and rows > 5 else ""
    script += _UNPACK_ROWS_JS if pack or script else ""
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>{_STYLE}"
        f"</head><body>{body}{link}{script}</body></html>"
    )


def write_table_html(
    source: str | os.PathLike, page: str | os.PathLike, title: str, note: str = "", **options
) -> None:
    """Render the table file ``source`` as the HTML page ``page`` (atomically); ``options`` go to
    ``table_html`` (``max_bytes``, ``interactive``)."""
    text = table_html(load_table(source), title, note=note, download=source, **options)
    with atomic_path(page) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
