"""Scoring a class map against ground truth, block by block (memory follows the block)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geoppp.errors import ClassMapError, NoOverlapError
from geoppp.geo.grid import TileLayout
from geoppp.geo.raster import (
    AlignedSource,
    describe,
    extent_covered,
    grid_of,
    on_grid,
    open_raster,
    read_aligned,
    read_window,
    require_overlap,
)
from geoppp.landcover.metrics import Scores, confusion_matrix

CLASS_MAP_DTYPES = ("uint8", "uint16")
"""Pixel types a class map may have: :func:`value_lookup` covers every value of both."""


def value_lookup(index_of_value: Mapping[int, int]) -> np.ndarray:
    """A 65536-entry table from uint8/uint16 pixel values to class indices (-1: none)."""
    lookup = np.full(65536, -1, dtype=np.int64)
    for value, index in index_of_value.items():
        lookup[value] = index
    return lookup


@dataclass(frozen=True, kw_only=True)
class MapScores(Scores):
    """:class:`Scores` of a class map, and what they were computed over, so that a map of a
    sliver of the ground, or of mostly nodata, does not pass for a good one (``coverage``:
    the share of the map's pixels with ground truth that were scored)."""

    map_nodata: int
    """Of ``truth_pixels``, those that are nodata in the map (left out)."""
    map_unknown: int
    """Of ``truth_pixels``, those whose map value is no class of the scheme (left out)."""
    truth_resampled: bool
    """Whether the ground truth was on another grid, resampled (nearest) onto the map's."""
    truth_extent_covered: float
    """Fraction of the ground truth's extent that the map covers, 0..1."""


def evaluate_map(
    class_map: Path,
    truth: Path,
    truth_band: int,
    map_classes: np.ndarray,
    truth_classes: np.ndarray,
    n_classes: int,
    block: int = 1024,
) -> MapScores:
    """Accuracy and IoU of ``class_map`` against ``truth`` read onto the map's grid.

    Args:
        class_map: a class map of uint8 or uint16 class values (geoppp writes uint8).
        truth: ground-truth raster on any grid (reprojected with nearest).
        truth_band: 1-based band of ``truth``.
        map_classes: :func:`value_lookup` of the map's class values.
        truth_classes: :func:`value_lookup` of the ground truth's codes.
        n_classes: number of classes.
        block: pixels a side read at once.

    Raises:
        ClassMapError: the map's pixels are not integer class values (e.g. float32).
        NoOverlapError: the map and the ground truth share no pixel with a class in both.
    """
    dtype = describe(class_map).dtype
    if dtype not in CLASS_MAP_DTYPES:
        raise ClassMapError(
            f"class map {class_map} holds {dtype} values, but a class map holds integer class "
            f"values ({' or '.join(CLASS_MAP_DTYPES)}, as `geoppp segment` writes); convert it "
            "(e.g. `gdal_translate -ot Byte`) or pass the class map rather than probabilities"
        )
    grid = grid_of(class_map)
    require_overlap(truth, grid, "ground truth", f"class map {class_map}")
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    truth_pixels = map_nodata = map_unknown = 0
    with open_raster(class_map) as predicted, open_raster(truth) as labels:
        resampled = not on_grid(labels, grid)
        for tile in TileLayout(grid, block, 0):
            shape = (tile.core.height, tile.core.width)
            mapped = read_window(predicted, tile.core, [1], shape)
            aligned = read_aligned(
                labels, grid, tile.core, AlignedSource(truth, (truth_band,), "nearest"), shape
            )
            guess = np.where(mapped.valid, map_classes[mapped.values[0]], -1)
            codes = np.clip(aligned.values[0].astype(np.int64), 0, len(truth_classes) - 1)
            actual = np.where(aligned.valid, truth_classes[codes], -1)
            known = actual >= 0
            truth_pixels += int(known.sum())
            map_nodata += int((known & ~mapped.valid).sum())
            map_unknown += int((known & mapped.valid & (guess < 0)).sum())
            confusion += confusion_matrix(guess, actual, n_classes)
    scores = Scores.from_confusion(confusion, truth_pixels)
    if scores.pixels == 0:
        raise NoOverlapError(
            f"class map {class_map} and ground truth {truth} share no pixel with a class in "
            f"both: of {truth_pixels} pixels with ground truth under the map, {map_nodata} are "
            f"nodata in the map and {map_unknown} hold values of no class of the scheme. "
            "Check that the map is of this region and uses its class values"
        )
    return MapScores(
        **vars(scores),
        map_nodata=map_nodata,
        map_unknown=map_unknown,
        truth_resampled=resampled,
        truth_extent_covered=extent_covered(truth, grid, "ground truth"),
    )
