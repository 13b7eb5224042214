"""Neural-collapse metrics NC1-NC4 (Papyan, Han and Donoho, PNAS 2020) of layer features.

With mu_G the global mean, mu_c the class means, M the (K, d) matrix of centred means mu_c - mu_G,
Sigma_W the within-class and Sigma_B = M^T M / K the between-class covariance:

- ``nc1`` = tr(Sigma_W Sigma_B^+) / K: within-class variability relative to the spread of the means
  (-> 0 under collapse);
- ``nc2_equinorm`` = std_c |M_c| / mean_c |M_c| (-> 0: the centred means have equal norms);
- ``nc2_equiangular`` = std over c != c' of cos(M_c, M_c') (-> 0: equal angles);
- ``nc2_max_angle`` = mean over c != c' of |cos(M_c, M_c') + 1/(K-1)| (-> 0: the simplex ETF angle);
- ``nc3`` = || W / |W|_F - M / |M|_F ||_F^2 with W the (K, d) classifier weights (-> 0: self-duality);
  for a classifier fitted on standardised features (x / s), pass ``feature_scale=s``: W and M are then
  compared in that space (W s and M / s), where near-constant features cannot dominate W;
- ``nc4`` = share of samples where the classifier and the nearest class mean (Euclidean) disagree.

NC3 and NC4 need a linear classifier reading this layer. The network's own head reads only its
last layer, so the workflow uses the layer's linear probe (see ``layeratlas.analysis.probes``).
NC1 is computed without a d x d matrix: Sigma_B^+ lives in the span of M, so only the projections of
the within-class deviations onto M's right singular vectors are needed; features are read in chunks.
NC1 is the mean over images of each image's term; its interval (``resamples`` > 0) is a seeded
percentile bootstrap over images of that mean, the class means and their basis held at their values.
"""

from __future__ import annotations

import numpy as np

from layeratlas.analysis.variance import check_finite, default_chunk_rows


def class_means(
    features: np.ndarray, labels: np.ndarray, *, chunk_rows: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted class ids, their counts and (K, d) float64 means, reading ``features`` in row chunks."""
    features, labels = np.asarray(features), np.asarray(labels)
    if features.ndim != 2 or len(features) != len(labels):
        raise ValueError(f"need features (n, d) and n labels, got {features.shape} and {labels.shape}")
    check_finite(features)
    classes, encoded = np.unique(labels, return_inverse=True)
    sums = np.zeros((len(classes), features.shape[1]))
    step = chunk_rows or default_chunk_rows(features.shape[1])
    for start in range(0, len(features), step):
        np.add.at(sums, encoded[start : start + step], np.asarray(features[start : start + step], np.float64))
    counts = np.bincount(encoded, minlength=len(classes))
    return classes, counts, sums / counts[:, None]


def neural_collapse(
    features: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    classifier_classes: np.ndarray | None = None,
    *,
    feature_scale: np.ndarray | None = None,
    chunk_rows: int | None = None,
    resamples: int = 0,
    seed: int = 0,
) -> dict[str, float]:
    """NC1-NC4 of ``features`` (n, d) grouped by ``labels``; see the module docstring.

    ``weights`` (K, d) and ``bias`` (K,) are a linear classifier whose rows follow
    ``classifier_classes`` (default: the sorted class ids); without them nc3 and nc4 are nan. With
    ``resamples``, nc1_ci_low and nc1_ci_high (see the module docstring).
    """
    from layeratlas.analysis.stats import mean_interval

    classes, counts, means = class_means(features, labels, chunk_rows=chunk_rows)
    k, d = means.shape
    nan = float("nan")
    if k < 2:
        raise ValueError(f"neural collapse needs at least two classes, got {k}")
    global_mean = counts @ means / counts.sum()  # the mean of all samples
    centred = means - global_mean  # M, (K, d)

    # NC1 via the SVD of M / sqrt(K): Sigma_B = V diag(s^2) V^T, Sigma_B^+ = V diag(s^-2) V^T.
    _, s, vt = np.linalg.svd(centred / np.sqrt(k), full_matrices=False)
    rank = int(np.sum(s > s.max() * max(k, d) * np.finfo(np.float64).eps)) if s.size and s.max() > 0 else 0
    if rank:
        basis, s = vt[:rank].T, s[:rank]  # (d, r)
        encoded = np.searchsorted(classes, np.asarray(labels))
        per_image = np.empty(len(encoded))  # sum_r (deviation . v_r)^2 / s_r^2 / K of each image
        step = chunk_rows or default_chunk_rows(d)
        for start in range(0, len(encoded), step):
            chunk = np.asarray(features[start : start + step], dtype=np.float64)
            deviations = chunk - means[encoded[start : start + step]]
            per_image[start : start + len(chunk)] = ((deviations @ basis) ** 2 / s**2).sum(axis=1) / k
        nc1 = float(per_image.mean())
        nc1_ci = mean_interval(per_image, resamples=resamples, seed=seed) if resamples else (nan, nan)
    else:
        nc1, nc1_ci = nan, (nan, nan)

    norms = np.linalg.norm(centred, axis=1)
    off = ~np.eye(k, dtype=bool)
    if np.all(norms > 0):
        unit = centred / norms[:, None]
        cos = (unit @ unit.T)[off]
        equinorm = float(np.std(norms) / np.mean(norms))
        equiangular = float(np.std(cos))
        max_angle = float(np.mean(np.abs(cos + 1.0 / (k - 1))))
    else:
        equinorm = equiangular = max_angle = nan
    out = {
        "nc1": nc1,
        "nc2_equinorm": equinorm,
        "nc2_equiangular": equiangular,
        "nc2_max_angle": max_angle,
        "nc3": nan,
        "nc4": nan,
    }
    if resamples:
        out["nc1_ci_low"], out["nc1_ci_high"] = nc1_ci
    if weights is None:
        return out

    weights = np.asarray(weights, dtype=np.float64)
    bias = np.zeros(len(weights)) if bias is None else np.asarray(bias, dtype=np.float64)
    order = classes if classifier_classes is None else np.asarray(classifier_classes)
    if weights.shape != (len(order), d) or bias.shape != (len(order),):
        raise ValueError(
            f"weights {weights.shape} / bias {bias.shape} do not fit {len(order)} classes and {d} features"
        )
    rows = np.searchsorted(order, classes)
    if np.any(rows >= len(order)) or np.any(order[np.minimum(rows, len(order) - 1)] != classes):
        raise ValueError(f"classifier classes {order.tolist()} lack some of the data's classes {classes}")
    w, m = weights[rows], centred  # aligned with M's rows
    if feature_scale is not None:
        scale = np.asarray(feature_scale, dtype=np.float64)
        if scale.shape != (d,) or np.any(scale <= 0):
            raise ValueError(f"feature_scale must be {d} positive numbers, got shape {scale.shape}")
        w, m = w * scale, m / scale
    if np.linalg.norm(w) > 0 and np.linalg.norm(m) > 0:
        out["nc3"] = float(np.sum((w / np.linalg.norm(w) - m / np.linalg.norm(m)) ** 2))

    # NC4: classifier prediction vs nearest class mean, chunk by chunk.
    sq_means = (means**2).sum(axis=1)
    disagree = 0
    step = chunk_rows or default_chunk_rows(d)
    for start in range(0, len(features), step):
        chunk = np.asarray(features[start : start + step], dtype=np.float64)
        predicted = order[np.argmax(chunk @ weights.T + bias, axis=1)]
        nearest = classes[np.argmin(sq_means - 2 * chunk @ means.T, axis=1)]
        disagree += int(np.sum(predicted != nearest))
    out["nc4"] = disagree / len(features)
    return out
