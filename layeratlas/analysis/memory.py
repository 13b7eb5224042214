"""Memory of each (dataset, model, layer)'s features and analyses against the machine's RAM, checked
before any job: a layer too large to analyse is refused in seconds with its size and a reduction that
fits, instead of an out-of-memory kill after hours of extraction and training.

The estimates follow what the analyses switched on hold at their peak (see probes.py, cka.py,
embeddings.py), on the rows each reads (PER_LAYER):

- features: n x d float32 (the .npy file);
- per-layer analyses: the largest of those switched on; the probes (all three splits) are the largest:
  ANALYSIS_FACTOR x their features plus ANALYSIS_OVERHEAD;
- the dataset-wide CKA (when on): every layer of every model of the dataset on the analysed split,
  centred, float32 (one copy each).

Sizes come from what exists (a dataset's index, a layer's .npy header) or, before any job, from the
config: the images per split as preparation will make them (layeratlas.data.datasets.split_sizes) and
the layer's width from one pass of the model on PyTorch's meta device (shapes only).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ANALYSIS_FACTOR = 2.5  # the probes: see PER_LAYER
ANALYSIS_OVERHEAD = 512 * 2**20
# Leave this share of RAM to the OS, Snakemake and the page cache.
USABLE_SHARE = 0.8
# Per-layer analyses: the rows each reads ("all" splits, the analysed "split", or "train") and its peak
# in multiples of those rows' float32 features. The probes (fitted too when neural_collapse is on: NC3/NC4
# read the linear probe) hold float32 standardised copies of train and val and kNN distance blocks; the
# embeddings' PCA and the cluster scores a centred copy; linear_adam float32 tensors; neural collapse and
# the variance tables read their rows in chunks.
PER_LAYER: dict[str, tuple[str, float]] = {
    "probes": ("all", ANALYSIS_FACTOR),
    "linear_adam": ("all", 1.5),
    "embeddings": ("split", 2.0),
    "cluster_quality": ("split", 2.0),
    "variance": ("split", 1.0),
    "neural_collapse": ("train", 1.0),
}
ALL_ANALYSES: dict[str, Any] = {  # every analysis on (the estimate when no config says otherwise)
    "split": "all",
    "embeddings": ["pca"],
    "probes": {"enabled": True},
    "linear_adam": {"enabled": True},
    "variance": True,
    "cluster_quality": True,
    "neural_collapse": True,
    "cka": True,
}


def switched_on(analyses: Mapping[str, Any]) -> list[str]:
    """The per-layer analyses (keys of PER_LAYER) that a config's ``analyses`` runs."""

    def on(key: str) -> bool:
        value = analyses.get(key, ALL_ANALYSES[key])
        return bool(value.get("enabled", True)) if isinstance(value, Mapping) else bool(value)

    names = [k for k in PER_LAYER if k != "probes" and on(k)]
    return (["probes"] if on("probes") or on("neural_collapse") else []) + names


@dataclass(frozen=True)
class LayerSize:
    dataset: str
    model: str
    layer: str
    n_samples: int
    width: int
    splits: Mapping[str, int] | None = None  # images per split; None: unknown (every analysis reads all)

    @property
    def feature_bytes(self) -> int:
        return 4 * self.n_samples * self.width

    def rows(self, which: str, split: str = "all") -> int:
        """Rows an analysis reads: ``all``, ``train`` or the analysed ``split`` (analyses.split)."""
        part = split if which == "split" else which
        if self.splits is None or part == "all":
            return self.n_samples
        return int(self.splits.get(part, 0))

    def needs(self, analyses: Mapping[str, Any] = ALL_ANALYSES) -> dict[str, int]:
        """Peak bytes of each per-layer analysis switched on."""
        split = analyses.get("split", "all")
        out = {}
        for key in switched_on(analyses):
            which, factor = PER_LAYER[key]
            out[key] = int(factor * 4 * self.rows(which, split) * self.width) + ANALYSIS_OVERHEAD
        probes = analyses.get("probes", ALL_ANALYSES["probes"])
        if "probes" in out and not (probes.get("enabled", True) if isinstance(probes, Mapping) else probes):
            # probes off: only neural collapse's own linear probe is fitted, so it is that analysis's need
            out["neural_collapse"] = max(out.pop("probes"), out.get("neural_collapse", 0))
        return out

    @property
    def analysis_bytes(self) -> int:
        """Peak bytes of the per-layer analyses with every one on (the probes are the largest)."""
        return max(self.needs().values())


def machine_memory() -> int:
    """Physical RAM of this machine in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def _turn_off(key: str, analyses: Mapping[str, Any]) -> str:
    if key == "probes":
        nc = "neural_collapse" in switched_on(analyses)
        return (
            "turn analyses.probes.enabled"
            + (" and analyses.neural_collapse (its linear probe)" if nc else "")
            + " off"
        )
    return f"turn analyses.{key}{'.enabled' if key == 'linear_adam' else ''} off"


def memory_errors(
    sizes: list[LayerSize], ram: int | None = None, analyses: Mapping[str, Any] | None = None
) -> list[str]:
    """One message per layer (and per dataset's CKA) whose estimated peak, for the analyses switched on in
    ``analyses`` (None: all of them), exceeds the usable RAM, with its size and a reduction that fits:
    a narrower layer, fewer images, or the analysis off."""
    analyses = ALL_ANALYSES if analyses is None else analyses
    ram = machine_memory() if ram is None else ram
    usable = USABLE_SHARE * ram
    budget = f"{USABLE_SHARE:.0%} of this machine's {_gb(ram)} RAM"
    split = analyses.get("split", "all")
    errors = []
    for s in sizes:
        needs = s.needs(analyses)
        if not needs or max(needs.values()) <= usable:
            continue
        key = max(needs, key=needs.get)
        which, factor = PER_LAYER["probes" if key == "neural_collapse" else key]
        rows = max(1, s.rows(which, split))
        fit = (usable - ANALYSIS_OVERHEAD) / factor / 4  # rows x width float32 entries that fit
        width, samples = max(1, int(fit // rows)), max(0, int(fit // s.width))
        where = f"models.{s.model}.layers.{s.layer}"
        what = "all" if which == "all" else f"the {split if which == 'split' else which} split's"
        errors.append(
            f"{where} on dataset {s.dataset}: {rows:,} x {s.width:,} float32 features ({what} images) = "
            f"{_gb(4 * rows * s.width)}; analyses.{key} needs about {_gb(needs[key])}, more than {budget}. "
            f"Reduce the layer to at most {width:,} values per image (e.g. {where}: {{reduction: "
            f"random_projection, dim: {min(width, 4096)}}}, or adaptive_avg with a smaller size), analyse "
            f"at most {samples:,} images there (datasets.{s.dataset}.max_per_class or fraction), or "
            f"{_turn_off(key, analyses)}"
        )
    if not analyses.get("cka", True):
        return errors
    by_dataset: dict[str, list[LayerSize]] = {}
    for s in sizes:
        by_dataset.setdefault(s.dataset, []).append(s)
    for dataset, layers in by_dataset.items():  # CKA holds every layer of the dataset, on the split
        total = sum(4 * s.rows("split", split) * s.width for s in layers) + ANALYSIS_OVERHEAD
        if total > usable and len(layers) > 1:
            errors.append(
                f"analyses.cka on dataset {dataset}: holds all {len(layers)} layers at once, about "
                f"{_gb(total)}, more than {budget}; turn analyses.cka off or reduce the widest layers"
            )
    return errors


def _npy_shape(path: Path) -> tuple[int, ...]:
    import numpy as np

    return np.load(path, mmap_mode="r").shape  # reads the header only


def dataset_splits(name: str, spec: Mapping[str, Any], root: Path) -> dict[str, int] | None:
    """Images per split of a dataset: from its prepared index when it exists, else as preparation will
    make them (layeratlas.data.datasets.split_sizes); None when not known without reading the images."""
    index = root / "results" / "datasets" / name / "index.parquet"
    if index.exists():
        import polars as pl

        counts = pl.read_parquet(index, columns=["split"])["split"].value_counts()
        return {str(k): int(v) for k, v in counts.iter_rows()}
    from layeratlas.data.datasets import split_sizes

    return split_sizes(spec, root)


def dataset_rows(name: str, spec: Mapping[str, Any], root: Path) -> int | None:
    """Images of a dataset (every split), or None when not known without reading them."""
    splits = dataset_splits(name, spec, root)
    return None if splits is None else sum(splits.values())


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


def model_widths(models: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Each model's layer widths after reduction ({} for a model that cannot be built or traced)."""
    widths, traced = {}, {}
    for model, spec in models.items():
        try:
            widths[model] = _widths(spec, traced)
        except Exception:  # noqa: BLE001 - a bad layer or reduction is reported by checks.py
            widths[model] = {}
    return widths


def config_layer_sizes(
    config: Mapping[str, Any],
    root: str | os.PathLike = ".",
    known_widths: Mapping[str, Mapping[str, int]] | None = None,
) -> list[LayerSize]:
    """LayerSize of every (dataset, model, layer) the config analyses whose sample count is known.
    ``known_widths``: ``model_widths`` of the config's models, computed before (checks.py caches them)."""
    root = Path(root)
    sizes, traced = [], {}
    widths = {m: dict(w) for m, w in (known_widths or {}).items()}
    for dataset, dspec in config["datasets"].items():
        splits = dataset_splits(dataset, dspec, root)
        if splits is None:
            continue
        n = sum(splits.values())
        for model, mspec in config["models"].items():
            for layer in mspec["layers"]:
                npy = root / "results" / "features" / dataset / model / f"{layer}.npy"
                if npy.exists():
                    rows, width = _npy_shape(npy)[:2]
                    sizes.append(LayerSize(dataset, model, layer, int(rows), int(width), splits))
                    continue
                if model not in widths:
                    try:
                        widths[model] = _widths(mspec, traced)
                    except Exception:  # noqa: BLE001 - a bad layer or reduction is reported by checks.py
                        widths[model] = {}
                if layer in widths[model]:
                    sizes.append(LayerSize(dataset, model, layer, n, widths[model][layer], splits))
    return sizes


def config_memory_errors(
    config: Mapping[str, Any],
    root: str | os.PathLike = ".",
    known_widths: Mapping[str, Mapping[str, int]] | None = None,
) -> list[str]:
    """memory_errors of every analysed layer of a validated config, for the analyses it switches on:
    the check before any job."""
    sizes = config_layer_sizes(config, root, known_widths)
    return memory_errors(sizes, analyses=config.get("analyses") or {})
