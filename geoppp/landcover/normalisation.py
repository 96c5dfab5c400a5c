"""Per-band normalisation of imagery (mean and spread of each band over its valid pixels),
shared by the priors' patches and the segmentation networks, which store it with the model.
Numpy and rasterio only: reading a network's metadata (``geoppp validate``) needs no torch."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine

from geoppp.errors import GeopppError
from geoppp.geo.grid import Grid
from geoppp.geo.raster import AlignedSource, grid_of, open_raster, read_aligned

SIGMAS = 3.0
"""Band values ``SIGMAS`` standard deviations from the mean map to ±1 (then clipped): with
3, about 99 % of a roughly normal band is kept unclipped while the bulk of it still spans
most of [-1, 1]."""


STATISTICS_PIXELS = 1 << 22
"""Pixels per file read for band statistics (a decimated read above that): 4 M pixels."""


class PatchError(GeopppError, ValueError):
    """No patch can be drawn from a region, or patches do not have the expected layout."""


@dataclass(frozen=True)
class Normalisation:
    """Per-band statistics that map image values to about [-1, 1].

    ``apply`` is ``clip((x - mean) / (sigmas · std), -1, 1)``; ``invert`` undoes it (values
    that were clipped come back at mean ± sigmas · std).

    Attributes:
        mean: per-band mean of the valid pixels, image units.
        std: per-band standard deviation, image units (> 0).
        sigmas: standard deviations that map to ±1.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    sigmas: float = SIGMAS

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std) or not self.mean:
            raise ValueError(
                f"normalisation needs one mean and one std per band, got {len(self.mean)} "
                f"means and {len(self.std)} stds"
            )
        if any(not s > 0 for s in self.std) or not self.sigmas > 0:
            raise ValueError(f"std and sigmas must be positive, got {self.std}, {self.sigmas}")
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))

    @property
    def bands(self) -> int:
        return len(self.mean)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """``(..., bands, H, W)`` image values → float32 in [-1, 1] (NaN stays NaN)."""
        mean, scale = self._broadcast(image)
        return np.clip((image - mean) / scale, -1.0, 1.0).astype(np.float32)

    def invert(self, normalised: np.ndarray) -> np.ndarray:
        """``(..., bands, H, W)`` normalised values → float32 image values, for display."""
        mean, scale = self._broadcast(normalised)
        return (np.asarray(normalised, np.float64) * scale + mean).astype(np.float32)

    def _broadcast(self, array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if array.ndim < 3 or array.shape[-3] != self.bands:
            raise ValueError(
                f"expected shape (..., {self.bands}, H, W) for {self.bands} bands, "
                f"got {tuple(array.shape)}"
            )
        mean = np.asarray(self.mean, np.float64)[:, None, None]
        scale = self.sigmas * np.asarray(self.std, np.float64)[:, None, None]
        return mean, scale

    def to_dict(self) -> dict[str, Any]:
        return {"mean": list(self.mean), "std": list(self.std), "sigmas": self.sigmas}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Normalisation:
        return cls(tuple(data["mean"]), tuple(data["std"]), float(data.get("sigmas", SIGMAS)))


def band_statistics(
    imagery: Sequence[Path],
    bands: Sequence[int],
    nodata: float | None = None,
    max_pixels: int = STATISTICS_PIXELS,
) -> Normalisation:
    """Mean and standard deviation of each band over the valid pixels of all ``imagery``.

    A file of more than ``max_pixels`` pixels is read decimated (nearest, every d-th pixel
    each way), so memory stays at about ``max_pixels × bands`` values per file.

    Args:
        imagery: the region's imagery files.
        bands: 1-based bands.
        nodata: a nodata value the files do not declare (their own is always honoured).
        max_pixels: pixels read per file at most.

    Raises:
        PatchError: no valid pixel in any file.
    """
    moments = _BandMoments(len(bands))
    for path in imagery:
        grid = grid_of(path)
        step = max(1, math.ceil(math.sqrt(grid.width * grid.height / max_pixels)))
        if step > 1:
            grid = Grid(
                grid.crs,
                grid.transform @ Affine.scale(step),
                max(1, grid.width // step),
                max(1, grid.height // step),
            )
        with open_raster(path) as dataset:
            data = read_aligned(
                dataset,
                grid,
                grid.full_window,
                AlignedSource(path, tuple(bands), "nearest"),
                (grid.height, grid.width),
            )
        valid = data.valid
        if nodata is not None:
            valid &= ~np.all(data.values == nodata, axis=0)
        moments.add(data.values, valid)
    if moments.count == 0:
        raise PatchError(
            f"no valid pixel in bands {list(bands)} of {[str(p) for p in imagery]}; check "
            "the imagery's nodata value"
        )
    return moments.normalisation()


def array_statistics(images: Sequence[np.ndarray], valid: Sequence[np.ndarray]) -> Normalisation:
    """Mean and standard deviation of each band over the valid pixels of images in memory.

    Args:
        images: ``(bands, H, W)`` image values, one array per image.
        valid: ``(H, W)`` bool of each image, True where it has data.

    Raises:
        PatchError: no valid pixel in any image.
    """
    moments = _BandMoments(images[0].shape[0])
    for image, mask in zip(images, valid, strict=True):
        moments.add(image, mask)
    if moments.count == 0:
        raise PatchError(f"no valid pixel in {len(images)} image(s)")
    return moments.normalisation()


class _BandMoments:
    """Running count, sum and sum of squares of each band's valid values."""

    def __init__(self, bands: int) -> None:
        self.count = 0
        self.sums = np.zeros(bands, np.float64)
        self.squares = np.zeros(bands, np.float64)

    def add(self, image: np.ndarray, valid: np.ndarray) -> None:
        """Add the ``valid`` pixels of a ``(bands, H, W)`` image."""
        self.count += int(valid.sum())
        for index, band in enumerate(image):
            values = band[valid].astype(np.float64)
            self.sums[index] += values.sum()
            self.squares[index] += np.dot(values, values)

    def normalisation(self) -> Normalisation:
        mean = self.sums / self.count
        std = np.sqrt(np.maximum(self.squares / self.count - mean**2, 0.0))
        # A constant band has no spread; 1 keeps it at 0 instead of dividing by zero.
        return Normalisation(tuple(mean), tuple(np.where(std > 1e-6, std, 1.0)))
