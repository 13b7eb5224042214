"""Inspection steps: filter grids and the layer shape table per model; activation maps and top patches
per (dataset, model, layer); dead units per (dataset, model). Each loads the network the features come
from (``export.load_model``) and feeds it the dataset's images through the same preprocessing as the
exported graph, so layer names and values match the features."""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from layeratlas import plots
from layeratlas.data.datasets import load_dataset, select_split
from layeratlas.io import Pathish, remove_stale, write_table
from layeratlas.plots import inspection as inspection_plots
from layeratlas.stages.export import load_model

log = logging.getLogger("layeratlas")


@contextlib.contextmanager
def _atomic_dir(path: Pathish) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``, renamed to ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path.parent, f".{path.name}.*.tmp")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        tmp.chmod(0o755)
        if path.exists():
            shutil.rmtree(path)
        tmp.replace(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _network(name: str, spec: Mapping[str, Any], checkpoint: Pathish | None, seed: int):  # noqa: ANN202
    from layeratlas.inspection.graph import trace
    from layeratlas.models.preprocess import Preprocess
    from layeratlas.models.zoo import input_size, model_architecture

    arch = model_architecture(spec)  # with its options: a colour scattering network takes 3 channels
    model = load_model(name, spec, checkpoint, seed)
    size = input_size(spec)
    preprocess = Preprocess(size, arch.channels, arch.mean, arch.std).eval()
    return trace(model, arch.uses_timm), preprocess, size, arch.channels


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 (N, H, W, C) images as the network sees them before normalisation: resized to ``size``
    with the exported graph's antialiased bilinear resize (colour kept, for display)."""
    from layeratlas.models.preprocess import resize_antialiased

    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    x = resize_antialiased(x, size)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _batches(
    images: np.ndarray, batch_size: int, preprocess, desc: str
) -> Iterator[tuple[int, torch.Tensor]]:  # noqa: ANN001
    for start in tqdm(range(0, len(images), batch_size), desc=desc, mininterval=5):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
        with torch.no_grad():
            yield start, preprocess(batch)


def _split_images(dataset_dir: Pathish, split: str):  # noqa: ANN202
    """Images, sample ids and labels of ``split``, and the class names."""
    ds = load_dataset(dataset_dir)
    positions = np.flatnonzero(select_split(ds.split, split))
    return ds.images[positions], ds.sample_ids[positions], ds.labels[positions], ds.class_names


def _searched(n: int, max_images: int | None, seed: int) -> np.ndarray:
    """Positions of the images searched for top patches and dead units: all ``n``, or a seeded sample of
    ``max_images`` of them (in their order)."""
    if max_images is None or n <= max_images:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_images, replace=False))


def network_figures(
    model: str,
    spec: Mapping[str, Any],
    checkpoint: Pathish | None,
    seed: int,
    options: Mapping[str, Any],
    filters_dir: Pathish,
    layer_table: Pathish,
) -> None:
    """Filter grids (one PNG per convolution under ``filters_dir``) and the layer shape table."""
    _network_figures(_network(model, spec, checkpoint, seed), model, options, filters_dir, layer_table)


def _example(net: tuple) -> torch.Tensor:
    """One blank image as the network takes it."""
    _, preprocess, size, channels = net
    return preprocess(torch.zeros(1, size, size, channels, dtype=torch.uint8))


def _network_figures(
    net: tuple,
    model: str,
    options: Mapping[str, Any],
    filters_dir: Pathish,
    layer_table: Pathish,
    measured: tuple[dict, dict] | None = None,
) -> None:
    """``network_figures`` from a loaded network (``measured``: its shapes of ``_example``, if known)."""
    from layeratlas.inspection import filters
    from layeratlas.inspection.layer_table import layer_shape_table

    traced, _, size, _ = net
    table = layer_shape_table(traced, _example(net), measured)
    write_table(table, layer_table)
    log.info("%s: %d layers at %dx%d", model, table.height, size, size)

    opts = options["filters"]
    chosen = filters.pick_filter_layers(filters.conv_layers(traced), opts["deeper"])
    with _atomic_dir(filters_dir) as tmp:  # the folder appears whole or not at all
        if not chosen:
            fig = inspection_plots.plt.figure(figsize=(5, 1))
            fig.text(0.5, 0.5, f"{model} has no Conv2d layer", ha="center")
            plots.save_figure(fig, tmp / "no_convolution.png")
        for i, (name, conv) in enumerate(chosen):
            weight = conv.weight.detach().float().numpy()
            shape = " x ".join(map(str, weight.shape))
            title = f"{model} / {name}: weight {shape}"
            if i == 0 and weight.shape[1] in (1, 3):
                tiles = filters.first_layer_tiles(weight, options["channels"])
                note = (
                    f"first {len(tiles)} of {len(weight)} filters"
                    if len(tiles) < len(weight)
                    else "all filters"
                )
                fig = inspection_plots.filter_grid(tiles, title, note)
            else:
                depthwise = weight.shape[1] == 1
                # a depthwise convolution has one kernel per channel: show more of them, as a square grid
                count = max(opts["count"], options["channels"]) if depthwise else opts["count"]
                tiles = filters.per_channel_tiles(weight, count, opts["input_channels"])
                note = (
                    f"depthwise: one kernel per channel, first {tiles.shape[0]} of {len(weight)}"
                    if depthwise
                    else f"rows: first {tiles.shape[0]} of {len(weight)} filters; "
                    f"columns: their first {tiles.shape[1]} of {weight.shape[1]} input channels"
                )
                fig = inspection_plots.filter_grid(tiles, title, note, per_channel=True)
            plots.save_figure(fig, tmp / f"{name}.png")
            log.info("filters of %s / %s: %s", model, name, shape)


def _loaded(
    model: str,
    spec: Mapping[str, Any],
    checkpoint: Pathish | None,
    seed: int,
    dataset_dir: Pathish,
    split: str,
    threads: int,
) -> tuple[tuple, tuple]:
    """The traced network and the ``split`` images every inspection job starts from."""
    torch.set_num_threads(max(1, threads))
    return _network(model, spec, checkpoint, seed), _split_images(dataset_dir, split)


def layer_figures(
    dataset: str,
    model: str,
    layer: str,
    spec: Mapping[str, Any],
    checkpoint: Pathish | None,
    dataset_dir: Pathish,
    split: str,
    seed: int,
    options: Mapping[str, Any],
    threads: int,
    activations_dir: Pathish,
    patches_table: Pathish,
    patches_figure: Pathish,
) -> None:
    """Activation maps of the configured images (one PNG per image under ``activations_dir``) and the
    top-k patches of the first channels of one layer over the ``split`` images."""
    net, data = _loaded(model, spec, checkpoint, seed, dataset_dir, split, threads)
    _inspect(net, data, dataset, model, split, seed, options,
             {layer: (activations_dir, patches_table, patches_figure)}, None)  # fmt: skip


def model_inspection(
    dataset: str,
    model: str,
    spec: Mapping[str, Any],
    checkpoint: Pathish | None,
    dataset_dir: Pathish,
    split: str,
    seed: int,
    options: Mapping[str, Any],
    threads: int,
    layers: Mapping[str, tuple[Pathish, Pathish, Pathish]],
    dead_table: Pathish,
    dead_figure: Pathish,
    network: tuple[Pathish, Pathish] | None = None,
) -> None:
    """What ``layer_figures`` draws for every layer of ``layers`` (layer -> its activations folder, top
    patches table and figure) and what ``dead_units`` writes, from one load of the network and the images:
    one process per (dataset, model) instead of one per layer, each paying torch's import and the load.
    With ``network`` (filters folder, layer table), also what ``network_figures`` writes: the model's
    per-model outputs ride on one of its dataset's jobs (issue 22: a job of their own paid torch's
    import and the load again, ~4 of its ~5.6 CPU-s)."""
    net, data = _loaded(model, spec, checkpoint, seed, dataset_dir, split, threads)
    measured = None
    if network is not None:
        from layeratlas.inspection.layer_table import shapes

        # The layer table and the layers' receptive fields read the same shapes: one real pass. (The
        # table alone takes them from fake tensors, to spare a first real pass's oneDNN set-up; a job
        # with layers pays that set-up anyway, and fake tensors cost more, issue 22.)
        measured = shapes(net[0], _example(net)) if layers else None
        _network_figures(net, model, options, *network, measured=measured)
    _inspect(net, data, dataset, model, split, seed, options, layers, (dead_table, dead_figure), measured)


def dead_units(
    dataset: str,
    model: str,
    spec: Mapping[str, Any],
    checkpoint: Pathish | None,
    dataset_dir: Pathish,
    split: str,
    seed: int,
    options: Mapping[str, Any],
    threads: int,
    table: Pathish,
    figure: Pathish,
) -> None:
    """Fraction of channels of every ReLU layer that never output more than 0 on the ``split`` images."""
    net, data = _loaded(model, spec, checkpoint, seed, dataset_dir, split, threads)
    _inspect(net, data, dataset, model, split, seed, options, {}, (table, figure))


def _inspect(
    net: tuple,
    data: tuple,
    dataset: str,
    model: str,
    split: str,
    seed: int,
    options: Mapping[str, Any],
    layers: Mapping[str, tuple[Pathish, Pathish, Pathish]],
    dead: tuple[Pathish, Pathish] | None,
    measured: tuple[dict, dict] | None = None,
) -> None:
    """Activation maps and top patches of ``layers``, and the dead units (to ``dead``: table, figure)
    when asked (``measured``: the network's ``shapes`` of ``_example``, if known). The searched images
    go through the network once for all of them: the deepest layer's pass computes the shallower ones'
    maps and every ReLU's (issue 22: a pass per layer and one more for the dead units cost
    EfficientNet-Lite0 three passes where one does)."""
    from layeratlas.inspection.dead_units import channel_maxima
    from layeratlas.inspection.graph import forward_nodes, is_activation
    from layeratlas.inspection.patches import TopUnits, update_top

    traced, preprocess, size, _ = net
    images, sample_ids = data[0], data[1]
    channels = {
        layer: _activation_maps(net, data, dataset, model, layer, split, options, paths[0])
        for layer, paths in layers.items()
    }
    searched = _searched(len(images), options["max_images"], seed)
    pool, pool_ids = images[searched], sample_ids[searched]  # what top patches and dead units search
    nodes = {layer: traced.resolve(layer) for layer in layers}
    relus = [n for n in traced.compute_nodes() if is_activation(traced, n)] if dead else []
    tops = {
        layer: TopUnits.empty(min(options["patch_channels"], channels[layer]), options["top_k"])
        for layer in layers
    }
    maxima: dict[Any, np.ndarray] = {}
    wanted = set(nodes.values()) | set(relus)
    what = " and ".join(w for w, on in (("top patches", layers), ("dead units", dead)) if on)
    where = f"{model} on {dataset} ({split}, n={len(searched)})"
    for start, x in _batches(pool, options["batch_size"], preprocess, f"{what} {where}"):
        if not wanted:
            break
        seen = forward_nodes(traced, x, wanted)
        for layer, node in nodes.items():
            tops[layer] = update_top(tops[layer], seen[node].float().numpy(), start)
        for node in relus:
            m = channel_maxima(seen[node].float().numpy())
            maxima[node] = m if node not in maxima else np.maximum(maxima[node], m)
    if layers:
        from layeratlas.inspection.layer_table import shapes
        from layeratlas.inspection.receptive_field import receptive_fields

        fields = receptive_fields(traced, *(measured or shapes(traced, _example(net))))
    for layer, (_, patches_table, patches_figure) in layers.items():
        _patches(size, pool, pool_ids, fields[nodes[layer]],
                 f"{model} / {layer} on {dataset} ({split})", options, tops[layer],
                 patches_table, patches_figure)  # fmt: skip
    if dead:
        _dead_units(traced, relus, maxima, where, model, *dead)


def _activation_maps(
    net: tuple,
    data: tuple,
    dataset: str,
    model: str,
    layer: str,
    split: str,
    options: Mapping[str, Any],
    activations_dir: Pathish,
) -> int:
    """One figure per chosen image of ``layer``'s maps; returns the layer's channel count."""
    from layeratlas.inspection.activations import layer_maps, select_images

    traced, preprocess, size, _ = net
    images, sample_ids, labels, class_names = data
    where = f"{model} / {layer} on {dataset} ({split})"

    chosen = np.sort(
        select_images(
            sample_ids,
            labels,
            options["images"],
            f"dataset {dataset} (split {split})",
            options.get("max_classes"),
        )
    )
    resized = _resize(images[chosen], size)
    maps = layer_maps(traced, preprocess(torch.from_numpy(np.ascontiguousarray(images[chosen]))), layer)
    # the images' figures differ mostly in data: one figure redrawn, one layout
    figures = inspection_plots.ActivationFigures(options["channels"], maps.relu)
    with _atomic_dir(activations_dir) as tmp:
        for i, position in enumerate(chosen):
            sid, label = int(sample_ids[position]), int(labels[position])
            shape = "x".join(map(str, maps.post.shape[1:]))
            title = f"{where}: sample {sid} (class {class_names[label]}), output {shape}"
            fig = figures.figure(resized[i], maps.post[i], None if maps.pre is None else maps.pre[i], title)
            plots.save_figure(fig, tmp / f"sample{sid}.png")
    log.info(
        "%s: activation maps of %d images from %d figure(s) (pre-ReLU: %s)",
        where,
        len(chosen),
        figures.created,
        maps.relu or "none",
    )
    if options["images"] == "first_of_each_class" and len(chosen) < len(np.unique(labels)):
        log.info(
            "%s: the first image of the first %d of %d classes only (inspection.max_classes); list sample "
            "ids in inspection.images to choose others",
            where,
            len(chosen),
            len(np.unique(labels)),
        )
    return int(maps.post.shape[1])


def _patches(
    size: int,
    images: np.ndarray,
    sample_ids: np.ndarray,
    field: Any,  # noqa: ANN401 (receptive_field.Field)
    where: str,
    options: Mapping[str, Any],
    top: Any,  # noqa: ANN401 (patches.TopUnits, imported with torch's work)
    patches_table: Pathish,
    patches_figure: Pathish,
) -> None:
    """The top patches table and figure of a layer (``where``) from its top units over the searched
    ``images`` (``field``: the layer's receptive field at the ``size`` px input)."""
    from layeratlas.inspection.patches import clip_wide, crop_rgb, top_table

    table = top_table(top, field, sample_ids, (size, size))
    write_table(table, patches_table)
    patches = []
    for c in range(top.score.shape[0]):
        picked = [p for p in top.image[c] if p >= 0]
        views = _resize(images[picked], size) if picked else []
        patches.append(
            [
                crop_rgb(
                    view,
                    clip_wide(field.box(int(top.y[c, r]), int(top.x[c, r]), (size, size)), (size, size)),
                    plots.OUTSIDE_IMAGE,
                )
                for r, view in enumerate(views)
            ]
        )
    rf = "the whole image" if field.whole else "x".join(str(int(s)) for s in field.size) + " px"
    wide = not field.whole and max(field.size) >= size
    note = (
        f"top {options['top_k']} of {len(images)} images per channel (response above each); "
        f"patch = the unit's receptive field ({rf} of the {size} px input"
        + ("; wider than the input, so clipped to the image" if wide else "")
        + ")"
    )
    fig = inspection_plots.patches_figure(
        patches, top.score, f"Top patches: {where}", note, searched=len(images)
    )
    plots.save_figure(fig, patches_figure)
    log.info("%s: top patches written (%s)", where, rf)


def _dead_units(
    traced: Any,  # noqa: ANN401 (graph.TracedModel)
    relus: list,
    maxima: Mapping[Any, np.ndarray],
    where: str,
    model: str,
    table: Pathish,
    figure: Pathish,
) -> None:
    from layeratlas.inspection.dead_units import dead_unit_table

    kinds = {
        traced.names[n]: type(traced.module(n)).__name__ if traced.module(n) is not None else str(n.target)
        for n in relus
    }
    result = dead_unit_table({traced.names[n]: maxima[n] for n in relus}, kinds)
    write_table(result, table)
    title = f"Dead units: {where}" if relus else f"{model} has no ReLU layer"
    plots.save_figure(inspection_plots.dead_units_figure(result, title), figure)
    log.info(
        "%s: %d of %d channels dead",
        where,
        int(result["dead"].sum()) if relus else 0,
        int(result["channels"].sum()) if relus else 0,
    )
