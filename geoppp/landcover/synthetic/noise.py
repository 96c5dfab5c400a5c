"""Smooth random fields, the raw material of canopy, texture and NLCD sub-types."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

COARSE_SIGMA = 4.0
"""A broad field is drawn on a grid coarse enough that its blur spans this many cells."""


def smooth_noise(shape: tuple[int, int], scale: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian-smoothed white noise with zero mean and unit standard deviation.

    A broad field is drawn on a coarser grid and zoomed up: it looks the same as one blurred
    at full resolution, at a small fraction of the cost of a wide kernel.

    Args:
        shape: (H, W) of the field.
        scale: standard deviation of the Gaussian, pixels.
        rng: the random generator to draw from.

    Returns:
        (H, W) float32.
    """
    step = max(1, int(scale // COARSE_SIGMA))
    coarse = (-(-shape[0] // step) + 1, -(-shape[1] // step) + 1)
    field = ndimage.gaussian_filter(rng.standard_normal(coarse, dtype=np.float32), scale / step)
    if step > 1:
        field = ndimage.zoom(field, step, order=1, grid_mode=False)
    field = field[: shape[0], : shape[1]]
    return ((field - field.mean()) / (field.std() + 1e-12)).astype(np.float32)
