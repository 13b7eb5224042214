"""The CIFAR-10-C corruptions (Hendrycks & Dietterich, ICLR 2019) generated for any dataset.

Written with numpy, scipy and Pillow, with the severity parameters of the CIFAR-10-C generator
(``make_cifar_c.py`` in hendrycks/robustness), because the ``imagecorruptions`` package no longer imports
with this stack (it needs ``pkg_resources``, ``np.float_``, scikit-image's removed ``multichannel``
argument and OpenCV, and uses the ImageNet-C parameters meant for 224-pixel images).

Sizes given in pixels for 32x32 CIFAR images (elastic displacement, fog map) scale with the image side.
``motion_blur`` and ``snow`` use a one-sided Gaussian line kernel in place of ImageMagick's motion blur.
``frost`` (needs the frost photographs) and ``spatter`` (an OpenCV pipeline) are not generated; the
published CIFAR-10-C arrays have them (source ``cifar10_c``).

Every image draws its randomness from ``(seed, corruption, severity, sample_id)``, so an image is
corrupted the same way whatever else is in the batch, and a rerun gives identical bytes.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np

NOISE = ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise")
BLUR = ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "gaussian_blur")
WEATHER = ("snow", "fog", "brightness")
DIGITAL = ("contrast", "elastic_transform", "pixelate", "jpeg_compression", "saturate")
CORRUPTIONS = NOISE + BLUR + WEATHER + DIGITAL
FAMILIES = {"noise": NOISE, "blur": BLUR, "weather": WEATHER, "digital": DIGITAL}
SEVERITIES = (1, 2, 3, 4, 5)

Corruption = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


# --- helpers -------------------------------------------------------------------------------------------


def _ndimage():  # noqa: ANN202 - imported on first use: importing layeratlas.data.datasets stays light
    from scipy import ndimage

    return ndimage


def _gray(x: np.ndarray) -> np.ndarray:
    """Luma (ITU-R 601) of an (H, W, C) image, as (H, W, 1)."""
    if x.shape[-1] == 1:
        return x
    return (x[..., :3] @ np.array([0.299, 0.587, 0.114]))[..., None]


def _per_channel(x: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    return np.stack([fn(x[..., c]) for c in range(x.shape[-1])], axis=-1)


def _gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    return _per_channel(x, lambda ch: _ndimage().gaussian_filter(ch, sigma, mode="nearest", truncate=4.0))


def _clipped_zoom(x: np.ndarray, factor: float) -> np.ndarray:
    """Zoom into the centre by ``factor`` and crop back to the original size."""
    h, w = x.shape[:2]
    ch, cw = int(np.ceil(h / factor)), int(np.ceil(w / factor))
    top, left = (h - ch) // 2, (w - cw) // 2
    zoomed = _ndimage().zoom(x[top : top + ch, left : left + cw], (factor, factor, 1), order=1)
    th, tw = (zoomed.shape[0] - h) // 2, (zoomed.shape[1] - w) // 2
    return zoomed[th : th + h, tw : tw + w]


def _motion_kernel(radius: float, sigma: float, angle: float) -> np.ndarray:
    """A one-sided line of Gaussian weights of length ``radius`` pointing at ``angle`` degrees."""
    r = int(np.ceil(radius))
    kernel = np.zeros((2 * r + 1, 2 * r + 1))
    dy, dx = np.sin(np.deg2rad(angle)), np.cos(np.deg2rad(angle))
    for d in range(r + 1):
        kernel[int(round(r + d * dy)), int(round(r + d * dx))] += np.exp(-(d**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def _motion(x: np.ndarray, radius: float, sigma: float, angle: float) -> np.ndarray:
    kernel = _motion_kernel(radius, sigma, angle)
    return _per_channel(x, lambda ch: _ndimage().correlate(ch, kernel, mode="nearest"))


def _plasma_fractal(size: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    """Diamond-square height map in [0, 1] of side ``size`` (a power of two)."""
    out = np.zeros((size, size))
    step, wibble = size, 100.0

    def wibbled(a: np.ndarray) -> np.ndarray:
        return a / 4 + wibble * rng.uniform(-wibble, wibble, a.shape)

    while step >= 2:
        half = step // 2
        corners = out[0:size:step, 0:size:step]
        square = corners + np.roll(corners, -1, axis=0)
        square = square + np.roll(square, -1, axis=1)
        out[half:size:step, half:size:step] = wibbled(square)
        centres = out[half:size:step, half:size:step]
        corners = out[0:size:step, 0:size:step]
        lt = centres + np.roll(centres, 1, axis=0) + corners + np.roll(corners, -1, axis=1)
        out[0:size:step, half:size:step] = wibbled(lt)
        tt = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=0)
        out[half:size:step, 0:size:step] = wibbled(tt)
        step //= 2
        wibble /= decay
    out -= out.min()
    return out / out.max()


def _hsv_apply(x: np.ndarray, channel: int, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    from matplotlib.colors import hsv_to_rgb, rgb_to_hsv

    if x.shape[-1] == 1:  # grayscale: value is the image itself, saturation is always 0
        return fn(x) if channel == 2 else x
    hsv = rgb_to_hsv(np.clip(x, 0, 1))
    hsv[..., channel] = np.clip(fn(hsv[..., channel]), 0, 1)
    return hsv_to_rgb(hsv)


def _pil(x: np.ndarray):  # noqa: ANN202
    from PIL import Image

    u8 = np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)
    return Image.fromarray(u8[..., 0] if u8.shape[-1] == 1 else u8)


def _from_pil(img, channels: int) -> np.ndarray:  # noqa: ANN001
    return np.asarray(img, dtype=np.float64).reshape(img.size[1], img.size[0], channels) / 255.0


# --- the corruptions (x: float (H, W, C) in [0, 1]) -----------------------------------------------------


def gaussian_noise(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.04, 0.06, 0.08, 0.09, 0.10][s - 1]
    return x + rng.normal(scale=c, size=x.shape)


def shot_noise(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    c = [500, 250, 100, 75, 50][s - 1]
    return rng.poisson(np.clip(x, 0, 1) * c) / c


def impulse_noise(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.01, 0.02, 0.03, 0.05, 0.07][s - 1]
    hit = rng.random(x.shape) < c
    salt = rng.random(x.shape) < 0.5
    return np.where(hit, salt.astype(float), x)


def speckle_noise(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.06, 0.1, 0.12, 0.16, 0.2][s - 1]
    return x + x * rng.normal(scale=c, size=x.shape)


def gaussian_blur(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    return _gaussian(x, [0.4, 0.6, 0.7, 0.8, 1.0][s - 1])


def glass_blur(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    sigma, delta, iterations = [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)][s - 1]
    x = np.floor(np.clip(_gaussian(x, sigma), 0, 1) * 255) / 255
    h, w = x.shape[:2]
    for _ in range(iterations):  # locally shuffle pixels
        rows, cols = range(h - delta, delta, -1), range(w - delta, delta, -1)
        offsets = rng.integers(-delta, delta, size=(len(rows), len(cols), 2))
        for i, r in enumerate(rows):
            for j, c in enumerate(cols):
                dx, dy = offsets[i, j]
                r2, c2 = r + dy, c + dx
                x[[r, r2], [c, c2]] = x[[r2, r], [c2, c]]
    return _gaussian(x, sigma)


def defocus_blur(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    radius, alias = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)][s - 1]
    grid = np.arange(-8, 9)
    xx, yy = np.meshgrid(grid, grid)
    disk = ((xx**2 + yy**2) <= radius**2).astype(float)
    disk /= disk.sum()
    g = np.exp(-(np.arange(-1, 2) ** 2) / (2 * alias**2))
    g /= g.sum()
    kernel = _ndimage().correlate(disk, np.outer(g, g), mode="mirror")  # anti-alias the disk (3x3 Gaussian)
    return _per_channel(x, lambda ch: _ndimage().correlate(ch, kernel, mode="mirror"))


def motion_blur(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    radius, sigma = [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)][s - 1]
    return _motion(x, radius, sigma, rng.uniform(-45, 45))


def zoom_blur(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    top = [1.06, 1.11, 1.16, 1.21, 1.26][s - 1]
    factors = np.arange(1, top, 0.01)
    out = sum(_clipped_zoom(x, f) for f in factors)
    return (x + out) / (len(factors) + 1)


def snow(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    loc, scale, zoom, threshold, radius, sigma, blend = [
        (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
        (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
    ][s - 1]
    layer = rng.normal(loc=loc, scale=scale, size=(*x.shape[:2], 1))
    layer = _clipped_zoom(layer, zoom)
    layer[layer < threshold] = 0
    layer = np.floor(np.clip(layer, 0, 1) * 255) / 255
    layer = _motion(layer, radius, sigma, rng.uniform(-135, -45))
    x = blend * x + (1 - blend) * np.maximum(x, _gray(x) * 1.5 + 0.5)
    return x + layer + np.rot90(layer, k=2)


def fog(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    strength, decay = [(0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)][s - 1]
    h, w = x.shape[:2]
    size = max(32, 1 << int(np.ceil(np.log2(max(h, w)))))
    peak = x.max()
    x = x + strength * _plasma_fractal(size, decay, rng)[:h, :w, None]
    return x * peak / (peak + strength)


def brightness(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.05, 0.1, 0.15, 0.2, 0.3][s - 1]
    return _hsv_apply(x, 2, lambda v: v + c)


def contrast(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.75, 0.5, 0.4, 0.3, 0.15][s - 1]
    means = x.mean(axis=(0, 1), keepdims=True)
    return (x - means) * c + means


def saturate(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    """Scales colour saturation; grayscale images have none, so they are returned unchanged."""
    scale, shift = [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)][s - 1]
    return _hsv_apply(x, 1, lambda sat: sat * scale + shift)


def jpeg_compression(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image

    buffer = io.BytesIO()
    _pil(x).save(buffer, "JPEG", quality=[80, 65, 58, 50, 40][s - 1])
    return _from_pil(Image.open(buffer), x.shape[-1])


def pixelate(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image

    c = [0.95, 0.9, 0.85, 0.75, 0.65][s - 1]
    h, w = x.shape[:2]
    img = _pil(x).resize((max(1, int(w * c)), max(1, int(h * c))), Image.Resampling.BOX)
    return _from_pil(img.resize((w, h), Image.Resampling.BOX), x.shape[-1])


def elastic_transform(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    side = min(x.shape[:2])
    alpha, sigma, affine = (
        np.array(
            [(0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)][s - 1]
        )
        * side
    )
    h, w, ch = x.shape
    # random affine: move three points around the centre by up to `affine` pixels
    centre, third = np.array([h, w], dtype=float) // 2, side // 3
    src = np.array([centre + third, [centre[0] + third, centre[1] - third], centre - third])
    dst = src + rng.uniform(-affine, affine, size=src.shape)
    # (row, col) of the source pixel for each output pixel: inverse of the src -> dst affine map
    a = np.linalg.solve(np.c_[dst, np.ones(3)], src)  # 3x2: [r, c, 1] @ a = source (r, c)
    dr = (
        _ndimage().gaussian_filter(rng.uniform(-1, 1, size=(h, w)), sigma, mode="reflect", truncate=3) * alpha
    )
    dc = (
        _ndimage().gaussian_filter(rng.uniform(-1, 1, size=(h, w)), sigma, mode="reflect", truncate=3) * alpha
    )
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    rows, cols = rows + dr, cols + dc  # elastic displacement, then the affine warp
    src_r = rows * a[0, 0] + cols * a[1, 0] + a[2, 0]
    src_c = rows * a[0, 1] + cols * a[1, 1] + a[2, 1]
    return _per_channel(x, lambda c: _ndimage().map_coordinates(c, [src_r, src_c], order=1, mode="mirror"))


FUNCTIONS: dict[str, Corruption] = {name: globals()[name] for name in CORRUPTIONS}


def _check(name: str, severity: int) -> None:
    if name not in FUNCTIONS:
        raise ValueError(f"unknown corruption {name!r}; choose one of {', '.join(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"corruption severity must be one of 1..5, not {severity!r}")


def corrupt_image(image: np.ndarray, name: str, severity: int, rng: np.random.Generator) -> np.ndarray:
    """One uint8 (H, W, C) image under corruption ``name`` at ``severity`` (1..5)."""
    _check(name, severity)
    x = image.astype(np.float64) / 255.0
    out = FUNCTIONS[name](x, severity, rng)
    return np.clip(np.rint(np.clip(out, 0, 1) * 255), 0, 255).astype(np.uint8).reshape(image.shape)


def corrupt_images(
    images: np.ndarray,
    name: str,
    severity: int,
    seed: int,
    sample_ids: np.ndarray | None = None,
) -> np.ndarray:
    """uint8 (N, H, W, C) images corrupted one by one; image i draws from (seed, name, severity, id_i)."""
    from tqdm import tqdm

    _check(name, severity)
    ids = np.arange(len(images)) if sample_ids is None else np.asarray(sample_ids)
    out = np.empty_like(images)
    key = CORRUPTIONS.index(name)
    for i in tqdm(range(len(images)), desc=f"{name} {severity}", unit="image", mininterval=5):
        rng = np.random.default_rng([seed, key, severity, int(ids[i])])
        out[i] = corrupt_image(images[i], name, severity, rng)
    return out
