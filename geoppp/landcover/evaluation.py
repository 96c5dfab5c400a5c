"""Scoring a class map against ground truth, block by block (memory follows the block)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from geoppp.geo.grid import TileLayout
from geoppp.geo.raster import AlignedSource, grid_of, open_raster, read_aligned, read_window
from geoppp.landcover.metrics import Scores, confusion_matrix


def value_lookup(index_of_value: Mapping[int, int]) -> np.ndarray:
    """A 65536-entry table from uint8/uint16 pixel values to class indices (-1: none)."""
    lookup = np.full(65536, -1, dtype=np.int64)
    for value, index in index_of_value.items():
        lookup[value] = index
    return lookup


def evaluate_map(
    class_map: Path,
    truth: Path,
    truth_band: int,
    map_classes: np.ndarray,
    truth_classes: np.ndarray,
    n_classes: int,
    block: int = 1024,
) -> Scores:
    """Accuracy and IoU of ``class_map`` against ``truth`` read onto the map's grid.

    Args:
        class_map: a class map written by geoppp (uint8 class values, nodata).
        truth: ground-truth raster on any grid (reprojected with nearest).
        truth_band: 1-based band of ``truth``.
        map_classes: :func:`value_lookup` of the map's class values.
        truth_classes: :func:`value_lookup` of the ground truth's codes.
        n_classes: number of classes.
        block: pixels a side read at once.
    """
    grid = grid_of(class_map)
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    truth_pixels = 0
    with open_raster(class_map) as predicted, open_raster(truth) as labels:
        for tile in TileLayout(grid, block, 0):
            shape = (tile.core.height, tile.core.width)
            mapped = read_window(predicted, tile.core, [1], shape)
            aligned = read_aligned(
                labels, grid, tile.core, AlignedSource(truth, (truth_band,), "nearest"), shape
            )
            guess = np.where(mapped.valid, map_classes[mapped.values[0]], -1)
            codes = np.clip(aligned.values[0].astype(np.int64), 0, len(truth_classes) - 1)
            actual = np.where(aligned.valid, truth_classes[codes], -1)
            confusion += confusion_matrix(guess, actual, n_classes)
            truth_pixels += int(np.count_nonzero((actual >= 0) & (actual < n_classes)))
    return Scores.from_confusion(confusion, truth_pixels)
