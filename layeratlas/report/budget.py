"""The size budget of an item of the report.

Snakemake's single-file report (report.html) carries every result as a base64 ``data:`` URL, and Chromium
does not load ``data:`` URLs over 2 MiB (measured: 2,080,010 characters load, 2,106,678 do not): such an
item shows as a blank pane. Base64 makes 3 bytes 4 characters, so an item may be at most about 1.5 MiB on
disk. Producers keep under ``MAX_ITEM_BYTES`` (fewer points, fewer rows, a lower resolution) or, where they
cannot, write ``oversize_page`` in the item's place: a visible note naming the full file.
"""

from __future__ import annotations

import html
import math

DATA_URL_LIMIT = 2 * 1024 * 1024  # characters of a data: URL that Chromium still loads
_PREFIX = len("data:text/html;charset=utf-8;base64,")
MAX_ITEM_BYTES = (DATA_URL_LIMIT - _PREFIX) // 4 * 3  # 1,572,834 bytes


def data_url_length(n_bytes: int) -> int:
    """Characters of the base64 ``data:`` URL of an item of ``n_bytes``."""
    return _PREFIX + 4 * math.ceil(n_bytes / 3)


def fits_report(n_bytes: int) -> bool:
    """Whether an item of ``n_bytes`` opens inside report.html."""
    return data_url_length(n_bytes) <= DATA_URL_LIMIT


def oversize_page(title: str, name: str, n_bytes: int, where: str = "") -> str:
    """A small HTML page that stands in report.html for an item too large to open there."""
    mb = n_bytes / 1024**2
    where = f" ({html.escape(where)})" if where else ""
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:2em;}}"
        ".note{border-left:4px solid #d62728;padding:0.5em 1em;background:#fff5f5;max-width:48em}</style>"
        f'</head><body><h2>{html.escape(title)}</h2><div class="note">'
        f"<p><b>{html.escape(name)}</b>{where} is "
        f"{mb:.1f} MiB, more than a browser opens inside the single-file report.html (2 MiB as a "
        "<code>data:</code> URL).</p><p>Open it from <b>report.zip</b> (<code>snakemake --report "
        "report.zip</code>), or from disk in the workflow's results folder.</p></div></body></html>"
    )
