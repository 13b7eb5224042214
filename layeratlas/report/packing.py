"""Packing an HTML page: every inline script stored gzipped (base64) and run in order by a small loader,
so that a Bokeh page (1.65 MB of JavaScript) fits an item of the single-file report."""

from __future__ import annotations

import base64
import gzip
import re

# Snakemake's single-file report (report.html) shows an HTML result in an iframe whose src is the file as a
# data: URL, and Chromium does not load data: URLs over 2 MiB (measured: 2,080,010 characters load,
# 2,106,678 do not). Bokeh's inline JavaScript alone is 1.65 MB (2.2 MB as base64), but 0.4 MB gzipped.
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
