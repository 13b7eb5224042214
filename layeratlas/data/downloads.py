"""Files that downloadable datasets need, where they live under ``resources/``, their published
checksums, and fetching them.

Every source keeps its files in ``resources/<source>/`` laid out the way torchvision's dataset classes
expect them (``root=resources/<source>``). The published MD5s come from torchvision's own class
attributes (MNIST, Fashion-MNIST, CIFAR-10) or from the Zenodo record of CIFAR-10-C. A source is ready
when every file is present; ``layeratlas.data.sources.check_dataset_files`` says, before any job runs,
which files are missing, and stops the run with where to place them when they cannot be downloaded.

This module imports nothing else of ``layeratlas.data``: the readers (``sources``) rest on it.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from layeratlas.io import write_json

log = logging.getLogger("layeratlas")

RESOURCES = "resources"
# Set to 1 to never try the network (files must then be in place); the DAG check then fails fast.
OFFLINE_ENV = "LAYERATLAS_OFFLINE"

CIFAR10_C_URL = "https://zenodo.org/records/2535967/files/CIFAR-10-C.tar"
CIFAR10_C_MD5 = "56bf5dcef84df0e2308c6dcbcbbd8499"  # as listed on the Zenodo record (2,918,471,680 bytes)
CIFAR10_C_DIR = "CIFAR-10-C"  # what the tar extracts to: <corruption>.npy and labels.npy


class DatasetFilesError(RuntimeError):
    """A dataset's files are missing, incomplete or do not match their checksum."""


@dataclass(frozen=True)
class RemoteFile:
    path: str  # relative to resources/<source>/
    md5: str
    urls: tuple[str, ...]


def _mnist_files(cls: Any) -> tuple[RemoteFile, ...]:
    folder = f"{cls.__name__}/raw"
    return tuple(
        RemoteFile(f"{folder}/{name}", md5, tuple(f"{mirror}{name}" for mirror in cls.mirrors))
        for name, md5 in cls.resources
    )


def remote_files(source: str) -> tuple[RemoteFile, ...]:
    """The published files of a downloadable source (empty for sources that need none)."""
    from torchvision.datasets import CIFAR10, MNIST, FashionMNIST

    if source == "mnist":
        return _mnist_files(MNIST)
    if source == "fashion_mnist":
        return _mnist_files(FashionMNIST)
    if source == "cifar10":
        return (RemoteFile(CIFAR10.filename, CIFAR10.tgz_md5, (CIFAR10.url,)),)
    if source == "cifar10_c":
        return (RemoteFile(f"{CIFAR10_C_DIR}.tar", CIFAR10_C_MD5, (CIFAR10_C_URL,)),)
    return ()


DOWNLOADABLE = ("mnist", "fashion_mnist", "cifar10", "cifar10_c")


def source_root(source: str, resources: str | os.PathLike = RESOURCES) -> Path:
    return Path(resources) / source


def manifest_path(source: str, resources: str | os.PathLike = RESOURCES) -> Path:
    """Written by the download_dataset rule once every file of ``source`` is present and verified."""
    return source_root(source, resources) / "checksums.json"


def expected_md5s(source: str, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Relative path -> MD5: the published ones, replaced by ``overrides`` where given."""
    md5s = {f.path: f.md5 for f in remote_files(source)}
    unknown = set(overrides or {}) - set(md5s)
    if unknown:
        raise DatasetFilesError(
            f"{source}: checksums given for unknown file(s) {sorted(unknown)}; its files are {sorted(md5s)}"
        )
    md5s.update(overrides or {})
    return md5s


def cifar10_c_extracted(root: Path, corruptions: Iterable[str]) -> list[Path]:
    """The extracted CIFAR-10-C arrays that serve ``corruptions`` (used when the tar is not there)."""
    return [root / CIFAR10_C_DIR / f"{name}.npy" for name in [*corruptions, "labels"]]


def missing_files(
    source: str, resources: str | os.PathLike = RESOURCES, corruptions: Iterable[str] = ()
) -> list[Path]:
    """Files of ``source`` that are not in place. CIFAR-10-C is in place either as the published tar
    or as the extracted arrays of the configured corruptions plus labels.npy."""
    root = source_root(source, resources)
    missing = [root / f.path for f in remote_files(source) if not (root / f.path).is_file()]
    if source == "cifar10_c" and missing:
        extracted = [p for p in cifar10_c_extracted(root, corruptions) if not p.is_file()]
        return missing + extracted if extracted else []
    return missing


def verify_files(
    source: str, resources: str | os.PathLike = RESOURCES, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Check every present file of ``source`` against its MD5; return {path: md5} of those checked."""
    from torchvision.datasets.utils import calculate_md5

    root = source_root(source, resources)
    checked = {}
    for rel, md5 in expected_md5s(source, overrides).items():
        path = root / rel
        if not path.is_file():
            continue
        actual = calculate_md5(path)
        if actual != md5:
            raise DatasetFilesError(
                f"{path}: checksum mismatch (MD5 {actual}, expected {md5}); the file is damaged or not "
                f"the published one: delete it and download it again, or place the right file there"
            )
        checked[rel] = md5
    return checked


def placement_help(source: str, resources: str | os.PathLike, missing: Iterable[Path]) -> str:
    """Which files to place where, with where to get them and their MD5s."""
    root = source_root(source, resources)
    by_path = {str(root / f.path): f for f in remote_files(source)}
    lines = [f"{source}: missing file(s); place them at:"]
    extracted = []
    for path in missing:
        f = by_path.get(str(path))
        if f is None:
            extracted.append(path)
        else:
            lines.append(f"  {path}  (MD5 {f.md5}; from {' or '.join(f.urls)})")
    if source == "cifar10_c":
        lines.append(
            f"  or, instead of the tar, its extracted {CIFAR10_C_DIR}/<corruption>.npy files and labels.npy:"
        )
        lines += [f"    {path}" for path in extracted]
    else:
        lines += [f"  {path}" for path in extracted]
    return "\n".join(lines)


def network_available(urls: Iterable[str], timeout: float = 3.0) -> bool:
    """True when a TCP connection to the host of any of ``urls`` opens (never when LAYERATLAS_OFFLINE=1)."""
    if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
        return False
    for url in urls:
        parts = urlparse(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            with socket.create_connection((parts.hostname, port), timeout=timeout):
                return True
        except OSError:
            continue
    return False


def download_source(
    source: str,
    resources: str | os.PathLike = RESOURCES,
    overrides: Mapping[str, str] | None = None,
    corruptions: Iterable[str] = (),
) -> dict[str, Any]:
    """Fetch the files of ``source`` that are missing (torchvision's downloader, every mirror in turn),
    verify every file against its MD5 and write ``resources/<source>/checksums.json``."""
    from torchvision.datasets.utils import download_url

    root = source_root(source, resources)
    md5s = expected_md5s(source, overrides)
    for f in remote_files(source):
        path = root / f.path
        if path.is_file() or not missing_files(source, resources, corruptions):
            continue
        errors = []
        for url in f.urls:
            log.info("downloading %s -> %s", url, path)
            try:
                download_url(url, str(path.parent), filename=path.name, md5=md5s[f.path])
                break
            except Exception as exc:  # noqa: BLE001 - every mirror's error is reported together
                errors.append(f"{url}: {exc}")
                Path(path).unlink(missing_ok=True)
        else:
            raise DatasetFilesError(
                f"{path}: download failed ({'; '.join(errors)}).\n"
                + placement_help(source, resources, [path])
            )
    still_missing = missing_files(source, resources, corruptions)
    if still_missing:
        raise DatasetFilesError(placement_help(source, resources, still_missing))
    checked = verify_files(source, resources, overrides)
    unverified = sorted(set(md5s) - set(checked))
    if unverified:
        log.warning(
            "%s: %s not present; using extracted files, which have no published checksum",
            source,
            ", ".join(unverified),
        )
    manifest = {"source": source, "verified_md5": checked, "unverified": unverified}
    write_json(manifest, manifest_path(source, resources))
    log.info("%s: %d file(s) verified in %s", source, len(checked), root)
    return manifest
