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
    """A model's output over a tile's read window (padding cropped), ready to blend.

    Attributes:
        weighted: ``(C, H, W)`` float32, the output times ``weight`` (0 where invalid).
        weight: ``(H, W)`` float32, the tile's blending weight, 0 where the pixel is invalid.
        valid: ``(H, W)`` bool, the pixels that were not nodata and got an answer.
    """

    weighted: np.ndarray
    weight: np.ndarray
    valid: np.ndarray


def weigh(layout: TileLayout, tile: Tile, values: np.ndarray, valid: np.ndarray) -> Prediction:
    """Premultiply a tile's output ``(C, H, W)`` by its blending weights, once per tile.

    With no halo there is nothing to blend: the output is kept as it is, weight one.
    """
    if layout.halo == 0:
        return Prediction(values, valid.astype(np.float32), valid)
    weight = tile_weights(layout, tile) * valid
    weighted = values * weight
    weighted[:, ~valid] = 0.0  # NaN answers times a zero weight are still NaN
    return Prediction(weighted, weight, valid)


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
        predictions: by tile index, at least ``tile`` and its neighbours (made by
            :func:`weigh`); ``None`` for a tile skipped because all its pixels were nodata.

    Returns:
        The block, or ``None`` when the tile itself was skipped (its core is all nodata).
    """
    own = predictions[tile.index]
    if own is None:
        return None
    core = tile.core
    own_rows, own_cols = core.relative_to(tile.read)
    if layout.halo == 0:
        return Block(tile, own.weighted[:, own_rows, own_cols], own.valid[own_rows, own_cols])

    total = np.zeros((own.weighted.shape[0], core.height, core.width), dtype=np.float32)
    weight_sum = np.zeros((core.height, core.width), dtype=np.float32)
    for neighbour in layout.neighbours(tile):
        prediction = predictions[neighbour.index]
        overlap = core.intersection(neighbour.read)
        if prediction is None or overlap is None:
            continue
        src_rows, src_cols = overlap.relative_to(neighbour.read)
        dst_rows, dst_cols = overlap.relative_to(core)
        total[:, dst_rows, dst_cols] += prediction.weighted[:, src_rows, src_cols]
        weight_sum[dst_rows, dst_cols] += prediction.weight[src_rows, src_cols]
    # Weights already sum to one where every neighbour was predicted; dividing keeps the
    # blend exact next to a skipped or partly-nodata neighbour.
    np.divide(total, weight_sum, out=total, where=weight_sum > 0)
    return Block(tile, total, own.valid[own_rows, own_cols] & (weight_sum > 0))
