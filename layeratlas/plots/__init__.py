"""Every figure of layeratlas, one module per figure family; this module sets the headless backend and
holds what they share (saving, image display).

- ``embeddings``: class-coloured 2-D maps and image-thumbnail maps
- ``classes``: class variances, class-mean images, confusion grids of the probes
- ``layers``: metrics versus depth, CKA heatmaps, learning curves of the linear layer
- ``training``: training curves, confusion matrix and highest-loss images of a training run
- ``inspection``: filters, activation maps, top patches, dead units
- ``robustness``: accuracy versus severity, feature drift, the clean/corrupted 2 x 2 grid
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # headless: figures are only ever written to files

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from layeratlas.io import atomic_path


def image_for_display(image: np.ndarray) -> tuple[np.ndarray, str | None]:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    return image, ("gray_r" if image.ndim == 2 else None)


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 120) -> None:
    """Write ``fig`` to ``path`` atomically (see ``layeratlas.io.atomic_path``) and close it.

    The format follows the suffix of ``path``.
    """
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi)
    finally:
        plt.close(fig)
