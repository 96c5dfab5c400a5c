"""Blending the predictions of overlapping tiles into one output block (pure computation).

An output block is the core of one tile. Its value is the weighted sum of the predictions of
that tile and of the neighbours whose read windows reach into it, with the weights of
:mod:`geoppp.geo.blend`; only these few tiles are ever held for a block, so memory follows
the tile size, not the raster size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from geoppp.geo.blend import tile_weights
from geoppp.geo.grid import Tile, TileLayout


@dataclass(frozen=True, slots=True)
class Prediction:
    """A model's output over a tile's read window (padding already cropped).

    Attributes:
        values: ``(C, H, W)`` float32, e.g. class probabilities.
        valid: ``(H, W)`` bool, the input pixels that were not nodata.
    """

    values: np.ndarray
    valid: np.ndarray


@dataclass(frozen=True, slots=True)
class Block:
    """Blended values over a tile's core: ``values`` ``(C, h, w)``, ``valid`` ``(h, w)``."""

    tile: Tile
    values: np.ndarray
    valid: np.ndarray


def compose_block(
    layout: TileLayout, tile: Tile, predictions: Mapping[tuple[int, int], Prediction | None]
) -> Block | None:
    """Blend the predictions that cover ``tile``'s core.

    Args:
        layout: the tile layout the predictions were made on.
        tile: the tile whose core is the block.
        predictions: by tile index, at least ``tile`` and its neighbours; ``None`` for a tile
            that was skipped because all its pixels were nodata.

    Returns:
        The block, or ``None`` when the tile itself was skipped (its core is all nodata).
    """
    own = predictions[tile.index]
    if own is None:
        return None
    core = tile.core
    own_rows, own_cols = core.relative_to(tile.read)
    valid = own.valid[own_rows, own_cols]
    if layout.halo == 0:
        return Block(tile, own.values[:, own_rows, own_cols], valid)

    channels = own.values.shape[0]
    total = np.zeros((channels, core.height, core.width), dtype=np.float32)
    weight_sum = np.zeros((core.height, core.width), dtype=np.float32)
    for neighbour in layout.neighbours(tile):
        prediction = predictions[neighbour.index]
        overlap = core.intersection(neighbour.read)
        if prediction is None or overlap is None:
            continue
        src_rows, src_cols = overlap.relative_to(neighbour.read)
        dst_rows, dst_cols = overlap.relative_to(core)
        weights = tile_weights(layout, neighbour)[src_rows, src_cols]
        weights = weights * prediction.valid[src_rows, src_cols]
        values = np.where(
            prediction.valid[src_rows, src_cols], prediction.values[:, src_rows, src_cols], 0
        )
        total[:, dst_rows, dst_cols] += weights * values
        weight_sum[dst_rows, dst_cols] += weights
    # Weights already sum to one where every neighbour was predicted; dividing keeps the
    # blend exact next to a skipped or partly-nodata neighbour.
    np.divide(total, weight_sum, out=total, where=weight_sum > 0)
    return Block(tile, total, valid & (weight_sum > 0))
