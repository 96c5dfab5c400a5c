"""Blending weights that make overlapping tile predictions a partition of unity.

Across a border between two cores, the tile on one side ramps down as cos² and the other
ramps up as sin² over the ``2 × halo`` pixels centred on the border, so the weights of
neighbours sum to one at every pixel (a periodic Hann window, split at the border). At the
raster's own edges there is no neighbour, so there is no ramp: the weight stays one.
"""

from __future__ import annotations

import numpy as np

from geoppp.geo.grid import Tile, TileLayout


def ramp_profile(
    read_start: int,
    read_size: int,
    core_start: int,
    core_stop: int,
    halo: int,
    extent: int,
) -> np.ndarray:
    """1-D weights along one axis of a read window.

    Args:
        read_start: first pixel of the read window along the axis.
        read_size: read window length along the axis, in pixels.
        core_start: first pixel of the tile's core.
        core_stop: one past the last pixel of the core.
        halo: half-width of the ramp, in pixels; 0 gives a hard cut at the core.
        extent: raster size along the axis; no ramp is made at 0 or at ``extent``.

    Returns:
        ``(read_size,)`` float32 weights in [0, 1].
    """
    centres = np.arange(read_start, read_start + read_size, dtype=np.float64) + 0.5
    weight = ((centres >= core_start) & (centres < core_stop)).astype(np.float64)
    if halo > 0:
        if core_start > 0:
            rising = np.clip((centres - (core_start - halo)) / (2 * halo), 0.0, 1.0)
            band = np.abs(centres - core_start) < halo
            weight[band] = np.sin(0.5 * np.pi * rising[band]) ** 2
        if core_stop < extent:
            falling = np.clip((centres - (core_stop - halo)) / (2 * halo), 0.0, 1.0)
            band = np.abs(centres - core_stop) < halo
            weight[band] = np.cos(0.5 * np.pi * falling[band]) ** 2
    return weight.astype(np.float32)


def tile_weights(layout: TileLayout, tile: Tile) -> np.ndarray:
    """2-D blending weights of ``tile`` over its read window, ``(height, width)`` float32."""
    rows = ramp_profile(
        tile.read.row,
        tile.read.height,
        tile.core.row,
        tile.core.row_stop,
        layout.halo,
        layout.grid.height,
    )
    cols = ramp_profile(
        tile.read.col,
        tile.read.width,
        tile.core.col,
        tile.core.col_stop,
        layout.halo,
        layout.grid.width,
    )
    return np.outer(rows, cols)
