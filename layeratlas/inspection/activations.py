"""Feature maps of chosen images at a chosen layer, after and (where the layer has a ReLU) before it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from layeratlas.inspection.graph import TracedModel, apply_pre_activation, forward_nodes, pre_activation


@dataclass(frozen=True)
class LayerMaps:
    """``post``: the layer's output, (N, C, H, W) maps or (N, C) vectors. ``pre``: the same before the
    layer's ReLU (None where no ReLU produces the layer); ``relu``: that ReLU's layer name."""

    post: np.ndarray
    pre: np.ndarray | None
    relu: str | None


def layer_maps(traced: TracedModel, x: torch.Tensor, layer: str) -> LayerMaps:
    """Maps of ``layer`` for the preprocessed batch ``x`` (N, C, H, W)."""
    node = traced.resolve(layer)
    pre = pre_activation(traced, node)
    wanted = [node] if pre is None else [node, pre.source]
    seen = forward_nodes(traced, x, wanted)
    post = seen[node].detach().float().numpy()
    if pre is None:
        return LayerMaps(post, None, None)
    before = apply_pre_activation(traced, pre, seen[pre.source]).detach().float().numpy()
    return LayerMaps(post, before, traced.names.get(pre.activation))


def select_images(
    sample_ids: np.ndarray,
    labels: np.ndarray,
    images: str | list[int],
    where: str,
    max_classes: int | None = None,
) -> np.ndarray:
    """Positions of the chosen images among ``sample_ids``: ``first_of_each_class`` (the lowest sample
    id of each class present, of the first ``max_classes`` classes present when given) or a list of
    sample ids, each of which must be there."""
    sample_ids, labels = np.asarray(sample_ids), np.asarray(labels)
    if isinstance(images, str):
        if images != "first_of_each_class":
            raise ValueError(
                f"images: {images!r} is not allowed; choose first_of_each_class or a list of sample ids"
            )
        order = np.argsort(sample_ids, kind="stable")
        classes, first = np.unique(labels[order], return_index=True)
        return order[first][:max_classes]
    position = {int(s): i for i, s in enumerate(sample_ids)}
    missing = [i for i in images if int(i) not in position]
    if missing:
        some = ", ".join(str(int(s)) for s in np.sort(sample_ids)[:10])
        raise ValueError(
            f"images: sample id(s) {missing} are not among the {len(sample_ids)} images of {where} "
            f"(its sample ids start {some}, ...)"
        )
    return np.array([position[int(i)] for i in images], dtype=np.int64)
