"""The interactive embedding explorer: one self-contained HTML page per dataset with the 2-D map of every
(model, layer), all drawn from ONE Bokeh ColumnDataSource so that a box or lasso selection in one map
highlights the same images in every other map; hovering shows the image itself. Each map is one renderer
behind one shared class filter (legend clicks), a search box finds a class, and the page is capped by
bytes (it must open inside report.html: ``layeratlas.report.budget``), not by a count of points.

Bokeh does the interactive part (linked selections through the shared source, hover templates, legend
clicks, inline JavaScript). The work is split by job:
- ``explorer_data``: reading and aligning the maps, the sample, thumbnails, colours;
- ``explorer_layout``: the Bokeh document and its browser scripts;
- ``packing``: the page's scripts gzipped so that it fits an item of report.html;
- this module: the page, fitted to the byte budget, written.
The config policy (which embedding the explorer shows) is ``layeratlas.config.explorer_embedding``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import polars as pl

from layeratlas.io import Pathish, atomic_path
from layeratlas.report.budget import DATA_URL_LIMIT as DATA_URL_LIMIT  # re-exported: tests, callers
from layeratlas.report.budget import MAX_ITEM_BYTES, data_url_length, fits_report, oversize_page
from layeratlas.report.explorer_data import NAMES as NAMES
from layeratlas.report.explorer_data import THUMB_MAX_PX as THUMB_MAX_PX
from layeratlas.report.explorer_data import read_embedding_tables as read_embedding_tables
from layeratlas.report.explorer_data import subsample as subsample
from layeratlas.report.explorer_data import thumbnail_uri as thumbnail_uri
from layeratlas.report.explorer_layout import explorer_document as explorer_document
from layeratlas.report.packing import pack_scripts as pack_scripts

log = logging.getLogger("layeratlas")

MIN_POINTS = 200  # below this the map no longer shows the clusters


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


def fit_to_budget(build: Callable[[int], str], max_points: int, n_images: int) -> tuple[str, int]:
    """The page ``build(points)`` with the most points, at most ``max_points``, that opens inside
    report.html (``fits_report``), and that count: the byte budget caps the points, not a fixed number.
    A few builds, each scaled by the bytes over; not below ``MIN_POINTS``."""
    points = min(max_points, n_images)
    page = build(points)
    for _ in range(4):
        size = len(page.encode("utf-8"))
        if fits_report(size) or points <= MIN_POINTS:
            break
        # the page shrinks a little slower than the points (Bokeh's script is fixed): aim below
        points = max(MIN_POINTS, int(points * MAX_ITEM_BYTES / size * 0.92))
        log.info("explorer: %s bytes, over the report's budget; %d points", f"{size:,}", points)
        page = build(points)
    return page, points


def write_explorer(
    dataset: str,
    embedding_tables: Sequence[Pathish],
    dataset_dir: Pathish,
    *,
    embedding: str,
    max_points: int,
    seed: int,
    output: Pathish,
    full_output: Pathish,
) -> None:
    """Read the embedding tables and the dataset's images and write two pages atomically: ``full_output``
    with every configured point (at most ``max_points``), to open from disk, and ``output``, the report's
    item, with as many points as fit its byte budget, else (even ``MIN_POINTS`` too large) a note in its
    place naming the full page. Both are always written (the rule declares both)."""
    from layeratlas.data.datasets import load_dataset

    ds = load_dataset(dataset_dir)
    index = pl.read_parquet(Path(dataset_dir) / "index.parquet")
    maps = read_embedding_tables(embedding_tables)
    n_images = next(iter(next(iter(maps.values())).values())).height
    built: dict[int, str] = {}

    def build(points: int) -> str:
        built[points] = explorer_html(
            dataset, maps, index, ds.images, ds.class_names, embedding=embedding, max_points=points, seed=seed
        )
        return built[points]

    page, points = fit_to_budget(build, max_points, n_images)
    full_points = min(max_points, n_images)  # fit_to_budget's first build
    full = built[full_points]
    with atomic_path(full_output) as tmp:
        tmp.write_text(full, encoding="utf-8")
    size = len(page.encode("utf-8"))
    if not fits_report(size):
        page = oversize_page(
            f"{dataset}: embedding explorer",
            Path(full_output).name,
            len(full.encode("utf-8")),
            f"beside this file in results/explorer/, {full_points:,} points",
        )
        log.warning(
            "%s: too large for report.html even at %d points; a note names %s", output, points, full_output
        )
    elif points < full_points:
        log.info("%s: %d of %d points fit report.html; all in %s", output, points, full_points, full_output)
    with atomic_path(output) as tmp:
        tmp.write_text(page, encoding="utf-8")
    log.info("%s: %s bytes (as a data: URL %s characters)", output, f"{size:,}", f"{data_url_length(size):,}")
