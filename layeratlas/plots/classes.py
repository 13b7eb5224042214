"""Per-class figures: class variances, class-mean images and the probes' confusion grids."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from layeratlas.plots import (
    DPI,
    MANY_CLASSES,
    SEQUENTIAL,
    budget_size,
    class_axis,
    class_ticks,
    cluster_order,
    colorbar,
    image_for_display,
    many_classes,
    number_format,
    set_title,
    suptitle,
)
from layeratlas.plots.training import confusion_order, draw_confusion, most_confused_pairs, pairs_panel


def variance_heatmap(
    matrix: np.ndarray,
    class_names: Sequence[str],
    title: str,
    *,
    diagonal: np.ndarray | None = None,
    unit: str = "squared feature units",
) -> Figure:
    """Annotated heatmap of a (K, K) inter-class matrix (squared distances between class means);
    ``class_names`` labels rows and columns in order. Its zero diagonal (a class with itself) is masked,
    or shows ``diagonal`` (the intra-class variances, framed) when given. All numbers share one format.

    Above ``MANY_CLASSES`` classes: no numbers, the diagonal masked, classes ordered by a clustering of
    the matrix (near class means together) and tick labels thinned to those that fit."""
    matrix = np.asarray(matrix, dtype=np.float64)
    k = len(class_names)
    if matrix.shape != (k, k):
        raise ValueError(f"matrix shape {matrix.shape} does not match {k} class names")
    if many_classes(k):
        return _large_heatmap(matrix, class_names, title, unit)
    off = ~np.eye(k, dtype=bool)
    shown = np.where(off, matrix, np.nan)
    side = max(4.0, 0.55 * k + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1.2, side), layout="constrained")
    cmap = plt.get_cmap(SEQUENTIAL).with_extremes(bad="0.92")
    finite = shown[np.isfinite(shown)]
    norm_range = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    im = ax.imshow(np.ma.masked_invalid(shown), cmap=cmap, vmin=norm_range[0], vmax=norm_range[1])
    colorbar(fig, im, ax, f"squared distance between class means ({unit})")
    values = np.concatenate([finite, np.asarray(diagonal, float) if diagonal is not None else []])
    fmt = number_format(values)
    fontsize = 8 if k <= 12 else 6
    for i in range(k):
        for j in range(k):
            if i == j:
                if diagonal is None:
                    continue
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", lw=1))
                text, colour, style = format(float(diagonal[i]), fmt), "black", "italic"
            else:
                value = matrix[i, j]
                # viridis is dark at the low end: white text there, black on the bright end.
                dark = np.isfinite(value) and im.norm(value) < 0.5
                text, colour, style = format(value, fmt), "white" if dark else "black", "normal"
            # in_layout=False: a number inside its cell moves no margin, and constrained layout measured
            # every one of them on each of its passes (issue 22)
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                color=colour,
                fontsize=fontsize,
                style=style,
                in_layout=False,
            )
    names = [str(n) for n in class_names]
    ax.set_xticks(range(k), names, **class_ticks(names))
    ax.set_yticks(range(k), names)
    ax.set(xlabel="class", ylabel="class")
    note = "diagonal (framed, italic): intra-class variance" if diagonal is not None else "diagonal masked"
    set_title(ax, f"{title}\n({note})")
    return fig


def _large_heatmap(matrix: np.ndarray, class_names: Sequence[str], title: str, unit: str) -> Figure:
    k = len(class_names)
    order = cluster_order(matrix)
    shown = np.where(np.eye(k, dtype=bool), np.nan, matrix)[np.ix_(order, order)]
    fig, ax = plt.subplots(figsize=budget_size(10.5, 10.2), layout="constrained")
    cmap = plt.get_cmap(SEQUENTIAL).with_extremes(bad="0.92")
    im = ax.imshow(np.ma.masked_invalid(shown), cmap=cmap, interpolation="nearest")
    colorbar(fig, im, ax, f"squared distance between class means ({unit})", shrink=0.8)
    names = [str(class_names[i]) for i in order]
    class_axis(ax, "x", names, 6.5)
    class_axis(ax, "y", names, 6.5)
    set_title(
        ax,
        f"{title}\n({k} classes ordered by clustering of their means, so near classes sit together; "
        f"diagonal masked; no numbers above {MANY_CLASSES} classes: see the inter-class table)",
    )
    return fig


TOP_K = 15  # classes shown at each end of a study-scale dot plot


def intra_bar(values: np.ndarray, class_names: Sequence[str], title: str) -> Figure:
    """Bar per class of intra-class variance (``class_names`` in bar order), mean dashed; above
    ``MANY_CLASSES`` classes a sorted dot plot of the ``TOP_K`` most and least spread classes."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (len(class_names),):
        raise ValueError(f"{values.shape[0]} values for {len(class_names)} class names")
    if many_classes(len(values)):
        return top_bottom_dots(
            {"intra-class variance": values},
            class_names,
            title,
            xlabel="intra-class variance (squared feature units)",
            what="most spread",
        )
    fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(values) + 2.0), 4.0), layout="constrained")
    x = np.arange(len(values))
    ax.bar(x, values, color="tab:blue")
    mean = float(np.mean(values))
    ax.axhline(
        mean, color="black", linestyle="--", linewidth=1, label=f"mean = {mean:{number_format(values)}}"
    )
    names = [str(n) for n in class_names]
    ax.set_xticks(x, names, **class_ticks(names))
    ax.set(xlabel="class", ylabel="intra-class variance (squared feature units)")
    set_title(ax, title)
    ax.margins(y=0.15)  # headroom so the legend does not cover the bars
    ax.legend(loc="upper right")
    return fig


def top_bottom_dots(
    series: Mapping[str, np.ndarray],
    class_names: Sequence[str],
    title: str,
    *,
    xlabel: str,
    what: str,
    k: int = TOP_K,
    colours: Sequence[str] = ("tab:blue", "tab:orange"),
) -> Figure:
    """A sorted dot plot of the ``k`` classes with the largest and the ``k`` with the smallest value of the
    first of ``series`` (name -> per-class values, class-id order), the classes between summarised in
    one row (their count and range); every series as dots on each row, its mean over all classes dashed."""
    names = [str(n) for n in class_names]
    first = np.asarray(next(iter(series.values())), dtype=np.float64)
    order = np.argsort(-np.nan_to_num(first, nan=-np.inf), kind="stable")
    n = len(order)
    shown = list(order) if n <= 2 * k else [*order[:k], -1, *order[-k:]]
    rows = len(shown)
    fig, ax = plt.subplots(figsize=(7.5, 0.17 * rows + 1.6), layout="constrained")
    y = np.arange(rows)
    for (name, values), colour in zip(series.items(), colours, strict=False):
        values = np.asarray(values, dtype=np.float64)
        xs = [values[i] if i >= 0 else np.nan for i in shown]
        ax.plot(xs, y, "o", color=colour, markersize=4, label=name)
        mean = float(np.nanmean(values))
        ax.axvline(mean, color=colour, linestyle="--", linewidth=1, label=f"{name}: mean over {n} classes")
    labels = [names[i] if i >= 0 else "" for i in shown]
    if -1 in shown:
        middle = shown.index(-1)
        rest = first[order[k:-k]]
        fmt = number_format(first)
        ax.axhspan(middle - 0.5, middle + 0.5, color="0.93", zorder=0)
        between = f"{n - 2 * k} classes between, {rest.min():{fmt}} to {rest.max():{fmt}}"
        ax.text(0.5, middle, between, transform=ax.get_yaxis_transform(), ha="center", va="center",
                fontsize=7, style="italic")  # fmt: skip
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_ylim(rows - 0.5, -0.5)  # largest on top
    ax.grid(axis="x", alpha=0.3)
    ax.set(xlabel=xlabel, ylabel=f"class (the {k} {what} on top, the {k} least at the bottom)")
    ax.legend(loc="lower right", fontsize=7)
    suptitle(fig, title)  # over the figure: long class names push the axes to the right
    return fig


def _short(name: str, chars: int) -> str:
    """A class name for a small title: wrapped at '_', '-' or ' ' into two lines, then cut with '…'."""
    name = str(name)
    if len(name) <= chars:
        return name
    cut = max((name.rfind(c, 0, chars + 1) for c in "_- "), default=-1)
    first, rest = (name[: cut + 1], name[cut + 1 :]) if cut > 0 else (name[:chars], name[chars:])
    return first + "\n" + (rest if len(rest) <= chars else rest[: chars - 1] + "…")


MAX_MEAN_IMAGES = 100


def class_mean_images(means: np.ndarray, class_names: Sequence[str], title: str) -> Figure:
    """Grid of class-mean images (K, H, W[, C]), in ``class_names`` order (the first
    ``MAX_MEAN_IMAGES``); above ``MANY_CLASSES`` smaller titles, long names wrapped onto two lines."""
    total = len(means)
    means, class_names = means[:MAX_MEAN_IMAGES], list(class_names)[:MAX_MEAN_IMAGES]
    k = len(means)
    cols = min(k, 10)
    rows = -(-k // cols)
    many = many_classes(k)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=budget_size(1.3 * cols, (1.55 if many else 1.4) * rows + 0.8),
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, name in zip(axes.ravel(), means, class_names, strict=False):
        image, cmap = image_for_display(image)
        ax.imshow(image.astype(np.float64) / 255.0 if image.ndim == 3 else image, cmap=cmap)
        ax.set_title(_short(name, 22) if many else str(name), fontsize=6 if many else 8)
    if total > k:
        title = f"{title} (the first {k} of {total} classes)"
    suptitle(fig, title)
    return fig


def confusion_grid(
    matrices: Mapping[str, np.ndarray],
    class_names: Sequence[str],
    title: str,
    accuracies: Mapping[str, float],
) -> Figure:
    """One row-normalised confusion matrix (rows: true class) per classifier, side by side.

    Above ``MANY_CLASSES`` classes every panel orders the classes alike (clustered on the most accurate
    classifier's confusions), without numbers, and a last panel lists that classifier's most confused
    pairs."""
    k = len(class_names)
    n = len(matrices)
    if n == 0:
        raise ValueError("no confusion matrices to draw")
    many = many_classes(k)
    panels = n + 1 if many else n
    side = 4.4 if many else max(3.0, 0.3 * k + 1.5)
    cols = min(panels, 3)
    rows = -(-panels // cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=budget_size(side * cols + 1, (side + 0.5) * rows + 0.6),
        layout="constrained",
        squeeze=False,
    )
    for ax in axes.ravel()[panels:]:
        ax.set_visible(False)
    order = best = None
    if many:
        best = max(matrices, key=lambda m: accuracies.get(m, float("nan")) if m in accuracies else -1)
        order = confusion_order(matrices[best])
    for i, (ax, (name, matrix)) in enumerate(zip(axes.ravel(), matrices.items(), strict=False)):
        try:
            im = draw_confusion(
                ax,
                matrix,
                class_names,
                max_annotated=12,
                fontsize=7,
                order=order,
                side_inches=side - 0.6,
                labelled="y" if i % cols == 0 else "",  # one order in every panel: labels once per row
            )
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from None
        for text in ax.texts:  # the counts inside the cells move no margin: constrained layout skips them
            text.set_in_layout(False)
        set_title(ax, f"{name}: accuracy {accuracies.get(name, float('nan')):.3f}")
    label = "fraction of the true class" + (" (square-root scale)" if many else "")
    colorbar(fig, im, axes.ravel()[:n].tolist(), label, shrink=0.6)
    if many:
        pairs_panel(
            axes.ravel()[n], most_confused_pairs(matrices[best], class_names), f"most confused pairs ({best})"
        )
        title = (
            f"{title}\n({k} classes in one order in every panel, often confused ones together; "
            f"no numbers above {MANY_CLASSES} classes)"
        )
    suptitle(fig, title)
    return fig


def _montage(images: np.ndarray, slots: int) -> np.ndarray:
    """``images`` (n, H, W[, C]) side by side in ``slots`` places, white gaps and empty places."""
    images = np.asarray(images)
    h, w = images.shape[1:3]
    gap = max(1, h // 16)
    shape = (h, slots * w + (slots - 1) * gap, *images.shape[3:])
    strip = np.full(shape, 255, dtype=np.uint8)
    for i, image in enumerate(images[:slots]):
        strip[:, i * (w + gap) : i * (w + gap) + w] = image
    return strip


EXAMPLE_FONT = 7  # points: class names beside the examples of many classes
EXAMPLES_DPI = 100  # the examples grid of many classes: 32-px images at about their own pixels


def class_examples(examples: Sequence[np.ndarray], class_names: Sequence[str], title: str) -> Figure:
    """Example images of every class: ``examples[c]`` (n, H, W[, C], uint8) beside class ``c``'s name.

    Up to ``MANY_CLASSES`` classes one row per class; above, the classes run down several columns, a few
    images each, so that 100 classes fit one page (save it at ``EXAMPLES_DPI``: images near their own
    pixels). Every class is shown. The axes are placed by hand from the measured width of the longest
    name (constrained layout left the longest names a few pixels outside the canvas)."""
    k = len(class_names)
    if len(examples) != k:
        raise ValueError(f"{len(examples)} example sets for {k} classes")
    slots = max(len(e) for e in examples)
    h, w = np.asarray(examples[0]).shape[1:3]
    many = many_classes(k)
    font = EXAMPLE_FONT if many else 9
    fig = plt.figure()
    probe, renderer, widest = fig.text(0, 0, "", fontsize=font), fig.canvas.get_renderer(), 0.0
    for name in class_names:  # the widest as drawn (not the one of most characters)
        probe.set_text(str(name))
        widest = max(widest, probe.get_window_extent(renderer).width / fig.dpi)
    probe.remove()
    name_w = widest + 0.12  # + the label's pad
    # inches: an image strip's height and width, a class's cell, the title's band
    image_h, row_gap, col_gap, title_h = (0.34, 0.06, 0.25, 0.55) if many else (0.85, 0.1, 0.2, 0.6)
    strip_w = image_h * (slots * w + (slots - 1) * max(1, h // 16)) / h
    cell_w = name_w + strip_w + col_gap
    cols = max(1, min(k, int(15.0 // cell_w))) if many else 1
    rows = -(-k // cols)
    width, height = cols * cell_w + 0.1, rows * (image_h + row_gap) + title_h
    scale = budget_size(width, height, EXAMPLES_DPI if many else DPI)[0] / width
    fig.set_size_inches(width * scale, height * scale)
    for c, (images, name) in enumerate(zip(examples, class_names, strict=True)):
        row, col = c % rows, c // rows  # down the columns: the classes in reading order
        left = (col * cell_w + name_w + 0.05) / width
        bottom = 1 - (title_h + (row + 1) * (image_h + row_gap) - row_gap / 2) / height
        ax = fig.add_axes((left, bottom, strip_w / width, image_h / height))
        strip, cmap = image_for_display(_montage(images, slots))
        ax.imshow(strip, cmap=cmap, vmin=0, vmax=255, interpolation="antialiased", aspect="auto")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(str(name), rotation=0, ha="right", va="center", fontsize=font * scale, labelpad=4)
    suptitle(fig, title, y=1 - 0.1 / height, va="top")
    return fig
