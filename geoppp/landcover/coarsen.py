"""Imagery and labels averaged onto a coarser grid: the ground sampling distance of patches.

A diffusion prior works on small patches (64 × 64 at 4 m for EnviroAtlas, from 256 × 256
crops at 1 m). Each imagery file is read once, in strips, and every ``gsd`` × ``gsd`` cell
gets the average of its valid imagery pixels, the fraction of its labelled pixels in each
class (the average of the one-hot map, so labels are soft at the coarse resolution) and the
fraction of its fine pixels that are both valid and labelled.

When ``gsd`` is a whole multiple of the imagery's pixel size the cells are blocks of imagery
pixels. Otherwise (NAIP at 0.6 m, ``gsd`` 4 m) the imagery is first resampled (nearest) onto
the finest grid whose pixel divides ``gsd`` and is no larger than the imagery's, and that
grid is averaged: an approximation of an area-weighted average that keeps every class
fraction a true fraction.

Memory: a strip of about :data:`STRIP_PIXELS` fine pixels at a time, plus the result,
``4 × (bands + classes + 3)`` bytes per coarse cell (float32).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine

from geoppp.errors import GeopppError
from geoppp.geo.grid import Grid, PixelWindow
from geoppp.geo.raster import AlignedSource, WindowData, grid_of, open_raster, read_aligned

STRIP_PIXELS = 1 << 21
"""Fine pixels read at once (about 2 M: 8 MiB per uint8 band and 8 MiB per float32 array)."""


class GsdError(GeopppError, ValueError):
    """A ground sampling distance that the imagery cannot be averaged to."""


@dataclass(frozen=True)
class CoarseGrid:
    """How a raster's grid is averaged to ``gsd``.

    Attributes:
        fine: the grid that is read (the imagery grid itself when ``gsd`` is a whole multiple
            of its pixel size; otherwise a grid of ``gsd / factor`` pixels over it).
        factor: fine pixels a side per coarse cell.
        height, width: coarse cells; a partial row or column of cells at the bottom or right
            edge is dropped.
        transform: affine transform of the coarse grid.
    """

    fine: Grid
    factor: int
    height: int
    width: int
    transform: Affine


def coarse_grid(imagery: Grid, gsd: float, path: Path) -> CoarseGrid:
    """The coarse grid of ``gsd`` (CRS units, metres for a projected CRS) over ``imagery``.

    Raises:
        GsdError: ``gsd`` is not positive, the CRS is geographic (degrees), or the pixels are
            rotated or not square.
    """
    if not gsd > 0:
        raise GsdError(f"gsd must be a positive distance in metres, got {gsd}")
    if imagery.crs.is_geographic:
        raise GsdError(
            f"{path} is in a geographic CRS ({imagery.crs.to_string()}), whose units are "
            f"degrees; gsd {gsd} is in metres. Reproject the imagery to a projected CRS "
            "(e.g. its UTM zone) first."
        )
    transform = imagery.transform
    res_x, res_y = abs(transform.a), abs(transform.e)
    if transform.b != 0 or transform.d != 0 or not math.isclose(res_x, res_y, rel_tol=1e-6):
        raise GsdError(
            f"{path} has rotated or non-square pixels ({res_x} × {res_y}); patches need a "
            "north-up grid of square pixels. Warp it to one first (e.g. `gdalwarp -tr`)."
        )
    ratio = gsd / res_x
    if abs(ratio - round(ratio)) < 1e-6 and round(ratio) >= 1:
        factor = round(ratio)
        fine = imagery
    else:
        factor = max(1, math.ceil(ratio))
        scale = gsd / factor / res_x
        fine = Grid(
            imagery.crs,
            transform @ Affine.scale(scale),
            math.floor(imagery.width / scale + 1e-6),
            math.floor(imagery.height / scale + 1e-6),
        )
    return CoarseGrid(
        fine,
        factor,
        fine.height // factor,
        fine.width // factor,
        fine.transform @ Affine.scale(factor),
    )


@dataclass(frozen=True)
class CoarseLabels:
    """Where a raster of class codes is and how its codes map to classes.

    Attributes:
        path: the label raster, on any grid (read onto the imagery's with nearest).
        band: its 1-based band.
        class_of_code: an integer array of at least 65536 entries, code → class index, -1 for
            codes that are no class (unlabelled).
        n_classes: number of classes.
    """

    path: Path
    band: int
    class_of_code: np.ndarray
    n_classes: int


@dataclass(frozen=True)
class CoarseRaster:
    """One imagery file (and its labels) averaged to a coarse grid.

    Attributes:
        grid: the coarse grid.
        image: ``(bands, h, w)`` float32 average of the valid imagery pixels of each cell,
            NaN where a cell has none; ``None`` when the imagery was not read.
        image_valid: ``(h, w)`` float32 fraction of each cell's fine pixels that are valid.
        labels: ``(classes, h, w)`` float32 fraction of each cell's labelled pixels in each
            class (they sum to 1), NaN where none is labelled; ``None`` without labels.
        labelled: ``(h, w)`` float32 fraction of fine pixels that carry a class.
        valid: ``(h, w)`` float32 fraction of fine pixels that are valid in everything read.
    """

    grid: CoarseGrid
    image: np.ndarray | None
    image_valid: np.ndarray
    labels: np.ndarray | None
    labelled: np.ndarray | None
    valid: np.ndarray


def coarsen(
    imagery: Path,
    bands: Sequence[int],
    gsd: float,
    *,
    nodata: float | None = None,
    labels: CoarseLabels | None = None,
    read_image: bool = True,
) -> CoarseRaster:
    """Average ``imagery`` (and ``labels``, if given) to cells of ``gsd`` metres.

    Args:
        imagery: the imagery file; its grid defines the coarse grid.
        bands: 1-based imagery bands.
        gsd: size of a coarse cell, in the imagery CRS's units (metres).
        nodata: an imagery nodata value that the file does not declare; the file's own
            nodata, mask or alpha band is always honoured.
        labels: a label raster to turn into class fractions.
        read_image: whether to average the imagery's values; without, only its validity is
            kept (enough for label-only patches).

    Returns:
        The averages; ``valid`` counts the imagery's validity and, with labels, labelledness.
    """
    grid = coarse_grid(grid_of(imagery), gsd, imagery)
    factor, height, width = grid.factor, grid.height, grid.width
    image = np.full((len(bands), height, width), np.nan, np.float32) if read_image else None
    image_valid = np.zeros((height, width), np.float32)
    fractions = (
        None if labels is None else np.full((labels.n_classes, height, width), np.nan, np.float32)
    )
    labelled = None if labels is None else np.zeros((height, width), np.float32)
    valid = np.zeros((height, width), np.float32)
    rows_per_strip = max(1, STRIP_PIXELS // max(1, width * factor * factor))
    with open_raster(imagery) as image_dataset, _maybe_open(labels) as label_dataset:
        for row in range(0, height, rows_per_strip):
            rows = slice(row, min(row + rows_per_strip, height))
            window = PixelWindow(row * factor, 0, (rows.stop - rows.start) * factor, width * factor)
            pixels = _read(
                image_dataset, grid.fine, window, AlignedSource(imagery, tuple(bands), "nearest")
            )
            pixel_valid = pixels.valid
            if nodata is not None:
                pixel_valid &= ~np.all(pixels.values == nodata, axis=0)
            counts = _block_sum(pixel_valid, factor)
            image_valid[rows] = counts / factor**2
            if image is not None:
                sums = _block_sum(np.where(pixel_valid, pixels.values, 0), factor)
                with np.errstate(invalid="ignore", divide="ignore"):
                    image[:, rows] = np.where(counts > 0, sums / counts, np.nan)
            both = pixel_valid
            if labels is not None and fractions is not None and labelled is not None:
                classes = _read_classes(label_dataset, grid.fine, window, labels)
                per_class = np.stack(
                    [_block_sum(classes == index, factor) for index in range(labels.n_classes)]
                )
                total = per_class.sum(axis=0)
                with np.errstate(invalid="ignore", divide="ignore"):
                    fractions[:, rows] = np.where(total > 0, per_class / total, np.nan)
                labelled[rows] = total / factor**2
                both = pixel_valid & (classes >= 0)
            valid[rows] = _block_sum(both, factor) / factor**2
    return CoarseRaster(
        grid,
        image,
        image_valid,
        fractions,
        labelled,
        valid,
    )


def _maybe_open(labels: CoarseLabels | None) -> AbstractContextManager[Any]:
    return nullcontext() if labels is None else open_raster(labels.path)


def _read(dataset: Any, fine: Grid, window: PixelWindow, source: AlignedSource) -> WindowData:
    return read_aligned(dataset, fine, window, source, (window.height, window.width))


def _read_classes(
    dataset: Any, fine: Grid, window: PixelWindow, labels: CoarseLabels
) -> np.ndarray:
    """``(H, W)`` class indices of ``window``, -1 where unlabelled or nodata."""
    data = _read(dataset, fine, window, AlignedSource(labels.path, (labels.band,), "nearest"))
    codes = data.values[0]
    table = labels.class_of_code
    if codes.dtype.kind == "f":
        codes = np.where(np.isfinite(codes), codes, -1)
    codes = codes.astype(np.int64)
    inside = (codes >= 0) & (codes < len(table))
    classes = np.where(inside, table[np.where(inside, codes, 0)], -1)
    return np.where(data.valid, classes, -1)


def _block_sum(array: np.ndarray, factor: int) -> np.ndarray:
    """Sum ``(..., H, W)`` over ``factor`` × ``factor`` blocks → ``(..., H/f, W/f)`` float32."""
    *lead, height, width = array.shape
    blocks = array.reshape(*lead, height // factor, factor, width // factor, factor)
    return blocks.sum(axis=(-3, -1), dtype=np.float32)
