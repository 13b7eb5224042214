"""Feature drift per layer: how far a corruption moves a layer's features of the same images.

For clean and corrupted features of the same samples (rows paired by sample id): the unbiased linear CKA
between them (1 = the corruption changes the representation only by a rotation and scale), and the class
variance metrics (mean intra-class variance, mean inter-class variance, their ratio) of each, with the
change of the ratio (a falling ratio = classes run into each other).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from layeratlas.analysis.cka import linear_cka
from layeratlas.analysis.variance import class_variances, summary_row


def feature_drift(clean: np.ndarray, corrupted: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Drift of one layer between ``clean`` and ``corrupted`` features (n, d), the same n images in the
    same order with their ``labels``."""
    clean, corrupted = np.asarray(clean), np.asarray(corrupted)
    if clean.shape != corrupted.shape:
        raise ValueError(f"clean features {clean.shape} and corrupted features {corrupted.shape} differ")
    before = summary_row(class_variances(clean, np.asarray(labels)))
    after = summary_row(class_variances(corrupted, np.asarray(labels)))
    row: dict[str, Any] = {"n_samples": int(len(clean)), "cka": linear_cka(clean, corrupted)}
    for key in ("mean_intra_class_variance", "mean_inter_class_variance", "inter_to_intra_ratio"):
        row[f"clean_{key}"] = before[key]
        row[f"corrupted_{key}"] = after[key]
    ratio = before["inter_to_intra_ratio"]
    row["ratio_change"] = (after["inter_to_intra_ratio"] - ratio) / ratio if ratio else float("nan")
    return row
