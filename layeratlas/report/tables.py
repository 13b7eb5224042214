"""Result tables as readable HTML pages for the report: column names in words with units, numbers
formatted to a sensible precision, the raw table kept as a download link inside the page.

great-tables renders static HTML with its CSS inline and no JavaScript, so a page opens offline inside the
report's frame and stays a few kB (itables would sort for free but needs its ~700 kB DataTables bundle
inline in every page to work offline).
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from layeratlas.io import atomic_path, read_json

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


def table_html(
    frame: pl.DataFrame, title: str, *, note: str = "", download: str | os.PathLike | None = None
) -> str:
    """A whole HTML page: ``frame`` as a great-tables table (fractions as %, other floats to 3-4
    significant digits, integers with thousands separators), ``note`` below the title, and the raw file
    ``download`` embedded as a download link."""
    from great_tables import GT

    shown = frame.with_columns(
        [(pl.col(c) * 100).alias(c) for c in frame.columns if is_percent(c) and frame[c].dtype.is_float()]
    )
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
    table = table.sub_missing(missing_text="–")
    body = table.as_raw_html()
    link = ""
    if download is not None:
        raw = Path(download).read_bytes()
        name = html.escape(Path(download).name)
        link = (
            f'<p class="download">Raw table: <a download="{name}" '
            f'href="data:text/plain;base64,{base64.b64encode(raw).decode("ascii")}">{name}</a> '
            f"({frame.height} rows; also beside this page in results/)</p>"
        )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:1em;} p.download{font-size:0.85em;color:#555}</style>"
        f"</head><body>{body}{link}</body></html>"
    )


def write_table_html(source: str | os.PathLike, page: str | os.PathLike, title: str, note: str = "") -> None:
    """Render the table file ``source`` as the HTML page ``page`` (atomically)."""
    text = table_html(load_table(source), title, note=note, download=source)
    with atomic_path(page) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
