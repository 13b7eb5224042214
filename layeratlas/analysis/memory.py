"""Memory of each (dataset, model, layer)'s features and analyses against the machine's RAM, checked
before any job: a layer too large to analyse is refused in seconds with its size and a reduction that
fits, instead of an out-of-memory kill after hours of extraction and training.

The estimates follow what the analyses hold at their peak (see probes.py, cka.py, embeddings.py):

- features: n x d float32 (the .npy file);
- per-layer analyses: the probes read all three splits (n x d float32) and hold float32
  standardised copies of train and val, the forest a float32 view of train, plus ~128 MiB kNN distance
  blocks: ANALYSIS_FACTOR x the features plus ANALYSIS_OVERHEAD; embeddings and the rest hold less;
- the dataset-wide CKA: every layer of every model of the dataset, centred, float32 (one copy each).

Sizes come from what exists (a dataset's index, a layer's .npy header) or, before any job, from the
config: the source's published image counts and the layer's width from one forward pass of the
model on one blank image (the network is built anyway to check the layer names).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ANALYSIS_FACTOR = 2.5
ANALYSIS_OVERHEAD = 512 * 2**20
# Leave this share of RAM to the OS, Snakemake and the page cache.
USABLE_SHARE = 0.8
# Images (train + test) of the sources with a fixed size; image folders are counted on disk.
SOURCE_IMAGES = {"sklearn_digits": 1797, "mnist": 70_000, "fashion_mnist": 70_000, "cifar10": 60_000}
SOURCE_CLASSES = {"sklearn_digits": 10, "mnist": 10, "fashion_mnist": 10, "cifar10": 10, "cifar10_c": 10}


@dataclass(frozen=True)
class LayerSize:
    dataset: str
    model: str
    layer: str
    n_samples: int
    width: int

    @property
    def feature_bytes(self) -> int:
        return 4 * self.n_samples * self.width

    @property
    def analysis_bytes(self) -> int:
        """Peak bytes of the per-layer analyses (the probes are the largest)."""
        return int(ANALYSIS_FACTOR * self.feature_bytes) + ANALYSIS_OVERHEAD


def machine_memory() -> int:
    """Physical RAM of this machine in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def memory_errors(sizes: list[LayerSize], ram: int | None = None) -> list[str]:
    """One message per layer (and per dataset's CKA) whose estimated peak exceeds the usable RAM,
    with its size and a suggested reduction: a narrower layer or fewer samples that would fit."""
    ram = machine_memory() if ram is None else ram
    usable = USABLE_SHARE * ram
    budget = f"{USABLE_SHARE:.0%} of this machine's {_gb(ram)} RAM"
    errors = []
    for s in sizes:
        if s.analysis_bytes <= usable:
            continue
        fit = (usable - ANALYSIS_OVERHEAD) / ANALYSIS_FACTOR / 4  # n x d float32 entries that fit
        width, samples = max(1, int(fit // s.n_samples)), max(0, int(fit // s.width))
        where = f"models.{s.model}.layers.{s.layer}"
        errors.append(
            f"{where} on dataset {s.dataset}: {s.n_samples:,} x {s.width:,} float32 features = "
            f"{_gb(s.feature_bytes)}; its analyses need about {_gb(s.analysis_bytes)}, more than {budget}. "
            f"Reduce the layer to at most {width:,} values per image (e.g. {where}: {{reduction: "
            f"random_projection, dim: {min(width, 4096)}}}, or adaptive_avg with a smaller size), or analyse "
            f"at most {samples:,} images (datasets.{s.dataset}.max_per_class or fraction)"
        )
    by_dataset: dict[str, list[LayerSize]] = {}
    for s in sizes:
        by_dataset.setdefault(s.dataset, []).append(s)
    for dataset, layers in by_dataset.items():
        total = sum(s.feature_bytes for s in layers) + ANALYSIS_OVERHEAD
        if total > usable and len(layers) > 1:
            errors.append(
                f"analyses.cka on dataset {dataset}: holds all {len(layers)} layers at once, about "
                f"{_gb(total)}, more than {budget}; turn analyses.cka off or reduce the widest layers"
            )
    return errors


def _npy_shape(path: Path) -> tuple[int, ...]:
    import numpy as np

    return np.load(path, mmap_mode="r").shape  # reads the header only


def dataset_rows(name: str, spec: Mapping[str, Any], root: Path) -> int | None:
    """Samples of a dataset: from its prepared index when it exists, else an upper bound from the source's
    published size and the subset keys; None when not known without reading the images."""
    index = root / "results" / "datasets" / name / "index.parquet"
    if index.exists():
        import polars as pl

        return pl.scan_parquet(index).select(pl.len()).collect().item()
    source = spec.get("source")
    if source == "cifar10_c":
        n = 10_000
    elif source in SOURCE_IMAGES:
        n = SOURCE_IMAGES[source]
    else:
        return None
    if spec.get("fraction"):
        n = int(round(n * float(spec["fraction"])))
    if spec.get("max_per_class"):
        n = min(n, int(spec["max_per_class"]) * SOURCE_CLASSES[source] * 2)  # train and test, at most
    return n


def _widths(spec: Mapping[str, Any], cache: dict) -> dict[str, int]:
    """Values per image of each layer after its reduction, from the layer shapes of one pass on
    PyTorch's "meta" device (shapes only, no arithmetic, no weights allocated); nets of the same
    architecture and input size are traced once."""
    import torch

    from layeratlas.models import build_model, get_architecture
    from layeratlas.models.layers import layer_shapes, truncated_graph
    from layeratlas.models.preprocess import Preprocess
    from layeratlas.models.zoo import input_size
    from layeratlas.reductions import reduced_dim

    arch, size, layers = get_architecture(spec["architecture"]), input_size(spec), list(spec["layers"])
    key = (spec["architecture"], size, repr(spec.get("options")), tuple(layers))
    if key not in cache:
        with torch.random.fork_rng(), torch.device("meta"):
            net = build_model({**spec, "weights": "none", "train": None}, num_classes=10)
        image = Preprocess(size, arch.channels, arch.mean, arch.std)(
            torch.zeros(1, size, size, arch.channels, dtype=torch.uint8)
        )
        cache[key] = layer_shapes(truncated_graph(net, arch, layers).to("meta"), image.to("meta"))
    return {layer: reduced_dim(cache[key][layer], spec["layers"][layer]) for layer in layers}


def config_layer_sizes(config: Mapping[str, Any], root: str | os.PathLike = ".") -> list[LayerSize]:
    """LayerSize of every (dataset, model, layer) the config analyses whose sample count is known."""
    root = Path(root)
    sizes, widths, traced = [], {}, {}
    for dataset, dspec in config["datasets"].items():
        n = dataset_rows(dataset, dspec, root)
        if n is None:
            continue
        for model, mspec in config["models"].items():
            for layer in mspec["layers"]:
                npy = root / "results" / "features" / dataset / model / f"{layer}.npy"
                if npy.exists():
                    rows, width = _npy_shape(npy)[:2]
                    sizes.append(LayerSize(dataset, model, layer, int(rows), int(width)))
                    continue
                if model not in widths:
                    try:
                        widths[model] = _widths(mspec, traced)
                    except Exception:  # noqa: BLE001 - a bad layer or reduction is reported by checks.py
                        widths[model] = {}
                if layer in widths[model]:
                    sizes.append(LayerSize(dataset, model, layer, n, widths[model][layer]))
    return sizes


def config_memory_errors(config: Mapping[str, Any], root: str | os.PathLike = ".") -> list[str]:
    """memory_errors of every analysed layer of a validated config, for the check before any job."""
    return memory_errors(config_layer_sizes(config, root))
