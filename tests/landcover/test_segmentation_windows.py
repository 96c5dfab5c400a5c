"""Training windows drawn from images in memory (:class:`ArraySampler`)."""

from __future__ import annotations

import numpy as np
import pytest

from geoppp.landcover.normalisation import Normalisation
from geoppp.landcover.segmentation_windows import ArraySampler
from geoppp.landcover.settings import IGNORE
from tests.rasters import random_image

NORMALISATION = Normalisation((500.0, 500.0), (1000.0, 1000.0))
"""Wide enough that no value of 0–255 is clipped: ``invert`` gives the image back."""


def class_of(values: np.ndarray) -> np.ndarray:
    """A label that is a function of band 1, so a window's label can be checked."""
    return (np.rint(values) // 64).astype(np.int64)


def test_windows_keep_labels_on_their_pixels() -> None:
    images = [random_image(40, 50, bands=2, seed=1), random_image(60, 36, bands=2, seed=2)]
    labels = [class_of(image[0].astype(np.float64)) for image in images]
    labels[0][:, :10] = IGNORE
    sampler = ArraySampler(images, labels, 32, 16, NORMALISATION)
    batch, batch_labels = sampler(np.random.default_rng(0))
    assert batch.shape == (16, 2, 32, 32) and batch.dtype == np.float32
    assert batch_labels.shape == (16, 32, 32) and batch_labels.dtype == np.int64
    assert np.abs(batch).max() <= 1.0  # normalised
    values = NORMALISATION.invert(batch)
    labelled = batch_labels != IGNORE
    assert 0 < labelled.mean() < 1  # some windows reach the unlabelled strip
    # Flips and rotations move image and labels together.
    np.testing.assert_array_equal(batch_labels[labelled], class_of(values[:, 0])[labelled])


def test_an_image_smaller_than_a_window_is_padded_as_nodata() -> None:
    image = random_image(20, 24, bands=2, seed=3)
    labels = class_of(image[0].astype(np.float64))
    sampler = ArraySampler([image], [labels], 32, 4, NORMALISATION)
    batch, batch_labels = sampler(np.random.default_rng(1))
    assert ((batch_labels != IGNORE).sum(axis=(1, 2)) == 20 * 24).all()
    assert (np.moveaxis(batch, 1, 0)[:, batch_labels == IGNORE] == 0).all()  # zero padding
    assert sorted(np.unique(batch_labels[batch_labels != IGNORE])) == sorted(np.unique(labels))


def test_labels_must_match_their_images() -> None:
    image = random_image(20, 24, bands=2)
    with pytest.raises(ValueError, match="label array per"):
        ArraySampler([image], [np.zeros((24, 20), np.int64)], 32, 4, NORMALISATION)
    with pytest.raises(ValueError, match="label array per"):
        ArraySampler([image, image], [np.zeros((20, 24), np.int64)], 32, 4, NORMALISATION)


def test_colour_jitter_scales_and_shifts_each_band_of_each_window() -> None:
    flat = np.full((2, 40, 40), 700.0, dtype=np.float32)
    level = float(NORMALISATION.apply(flat)[0, 0, 0])
    labels = np.zeros((40, 40), np.int64)
    plain, _ = ArraySampler([flat], [labels], 32, 8, NORMALISATION)(np.random.default_rng(0))
    np.testing.assert_allclose(plain, level, atol=1e-6)
    jittered, jittered_labels = ArraySampler(
        [flat], [labels], 32, 8, NORMALISATION, colour_jitter=0.1
    )(np.random.default_rng(0))
    assert jittered.dtype == np.float32
    np.testing.assert_array_equal(jittered_labels, 0)  # labels are not touched
    per_band = jittered.reshape(8, 2, -1)
    assert np.ptp(per_band, axis=2).max() < 1e-6  # one gain and offset per window and band
    values = per_band[:, :, 0]
    assert (np.abs(values - level) <= abs(level) * 0.1 + 0.1 + 1e-6).all()
    assert np.abs(values - level).max() > 0.01
    assert len(np.unique(values.round(6))) == values.size  # drawn anew each time
