"""Dataset steps: fetch and verify a source's files, then prepare a dataset from them."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from layeratlas.data.datasets import build_dataset, save_dataset, save_skipped
from layeratlas.data.downloads import RESOURCES, DatasetFilesError, download_source
from layeratlas.io import Pathish

log = logging.getLogger("layeratlas")


def source_checksums(source: str, datasets: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """The MD5 overrides that the configured datasets of ``source`` give (they must agree)."""
    checksums: dict[str, str] = {}
    for name, spec in datasets.items():
        if spec["source"] != source:
            continue
        for path, md5 in (spec.get("checksums") or {}).items():
            if checksums.setdefault(path, md5) != md5:
                raise DatasetFilesError(f"datasets.{name}.checksums: two different MD5s given for {path}")
    return checksums


def download_dataset(
    source: str, checksums: Mapping[str, str] | None = None, resources: Pathish = RESOURCES
) -> dict[str, Any]:
    """Fetch what is missing of ``source``, verify every file and write its checksums.json.

    Only ``source`` and its checksums are parameters, so adding a dataset of the same source does not
    redo the download (nor the datasets already prepared from it)."""
    return download_source(source, resources, checksums)


def prepare_dataset(
    name: str,
    spec: Mapping[str, Any],
    seed: int,
    out_dir: Pathish,
    resources: Pathish = RESOURCES,
    verified: bool = False,
    skipped: Pathish | None = None,
) -> None:
    """Build dataset ``name`` and write it to ``out_dir`` (plus the table of skipped files).

    ``verified``: the source's files were checked by download_dataset already (not checked again)."""
    ds = build_dataset(name, spec, seed, resources, verify=not verified)
    save_dataset(ds, out_dir)
    if skipped is not None:
        save_skipped(ds, skipped)
    log.info(
        "dataset %s: %d images %s, splits %s%s",
        name,
        len(ds.labels),
        ds.images.shape[1:],
        {s: int((ds.split == s).sum()) for s in ("train", "val", "test")},
        f", {ds.skipped.height} unreadable file(s) skipped"
        if ds.skipped is not None and ds.skipped.height
        else "",
    )
