"""Generated CIFAR-10-C corruptions: deterministic for a seed, per image, and more damaging with severity."""

from __future__ import annotations

import numpy as np
import pytest

from layeratlas.data.corruptions import CORRUPTIONS, FAMILIES, corrupt_images
from layeratlas.data.datasets import build_dataset

# Families whose parameters grow monotonically with severity in the CIFAR-10-C generator; the others
# (glass_blur, elastic_transform, saturate, motion_blur's random angle, fog) are not monotonic there either.
MONOTONIC = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "speckle_noise",
    "gaussian_blur",
    "defocus_blur",
    "zoom_blur",
    "snow",
    "brightness",
    "contrast",
    "pixelate",
    "jpeg_compression",
)


@pytest.fixture(scope="module")
def photos() -> np.ndarray:
    """Real photographs (scikit-image's astronaut and cat), downscaled to CIFAR's 32x32."""
    from PIL import Image
    from skimage.data import astronaut, chelsea, coffee

    return np.stack(
        [np.asarray(Image.fromarray(a).resize((32, 32))) for a in (astronaut(), chelsea(), coffee())]
    )


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(float) - b.astype(float)).mean())


def test_every_family_is_covered():
    assert set(CORRUPTIONS) == {c for family in FAMILIES.values() for c in family}
    assert len(CORRUPTIONS) == 17


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_deterministic_per_seed_and_image(photos, name):
    a = corrupt_images(photos, name, 3, seed=0, sample_ids=np.array([10, 11, 12]))
    b = corrupt_images(photos, name, 3, seed=0, sample_ids=np.array([10, 11, 12]))
    assert a.dtype == np.uint8 and a.shape == photos.shape
    assert np.array_equal(a, b)
    alone = corrupt_images(photos[1:2], name, 3, seed=0, sample_ids=np.array([11]))
    assert np.array_equal(alone[0], a[1])  # an image's corruption does not depend on its batch
    assert _distance(a, photos) > 0.5  # it changes the image
    gray = corrupt_images(photos[..., :1], name, 3, seed=0)
    assert gray.shape == (3, 32, 32, 1)


@pytest.mark.parametrize(
    "name", ["gaussian_noise", "impulse_noise", "motion_blur", "fog", "elastic_transform"]
)
def test_random_corruptions_follow_the_seed(photos, name):
    a = corrupt_images(photos, name, 4, seed=0)
    assert not np.array_equal(a, corrupt_images(photos, name, 4, seed=1))


@pytest.mark.parametrize("name", MONOTONIC)
def test_damage_grows_with_severity(photos, name):
    distances = [_distance(corrupt_images(photos, name, s, seed=0), photos) for s in range(1, 6)]
    assert all(b > a for a, b in zip(distances, distances[1:], strict=False)), distances


def test_unknown_corruption_and_severity_are_refused(photos):
    with pytest.raises(ValueError, match="unknown corruption 'blur'; choose one of gaussian_noise"):
        corrupt_images(photos, "blur", 1, 0)
    with pytest.raises(ValueError, match="severity must be one of 1..5"):
        corrupt_images(photos, "fog", 6, 0)


def test_corrupted_dataset_pairs_with_the_clean_one():
    split = {"train": 0.5, "val": 0.2, "test": 0.3}
    spec = {"source": "sklearn_digits", "max_per_class": 10, "split": split}
    clean = build_dataset("digits", spec, seed=0)
    blurred = build_dataset(
        "digits-b",
        {**spec, "corruption": {"name": "gaussian_blur", "severity": 3}, "splits": ["test"]},
        seed=0,
    )
    test = clean.split == "test"
    assert np.array_equal(blurred.sample_ids, clean.sample_ids[test])
    assert np.array_equal(blurred.labels, clean.labels[test])
    assert not np.array_equal(blurred.images, clean.images[test])
    assert blurred.info["corruption"] == {"name": "gaussian_blur", "severity": 3}
