"""Blending weights: a partition of unity, no taper at the raster's edges, no seams."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import rasterio
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from geoppp.geo.blend import ramp_profile, tile_weights
from geoppp.geo.engine import TileInputs, run_tiles
from geoppp.geo.grid import Tile, TileLayout
from geoppp.geo.output import OutputOptions, ValueOutput
from tests.geo.helpers import run_identity
from tests.geo.test_grid import make_grid
from tests.rasters import write_raster


def weight_sum(layout: TileLayout) -> np.ndarray:
    grid = layout.grid
    total = np.zeros((grid.height, grid.width), dtype=np.float64)
    for tile in layout:
        weights = tile_weights(layout, tile)
        assert weights.shape == (tile.read.height, tile.read.width)
        assert weights.dtype == np.float32
        assert weights.min() >= 0.0 and weights.max() <= 1.0
        total[tile.read.row : tile.read.row_stop, tile.read.col : tile.read.col_stop] += weights
    return total


@settings(max_examples=60, deadline=None)
@given(
    height=st.integers(1, 90),
    width=st.integers(1, 90),
    core=st.integers(1, 40),
    data=st.data(),
)
def test_weights_sum_to_one_everywhere(height: int, width: int, core: int, data: st.DataObject):
    halo = data.draw(st.integers(0, core // 2), label="halo")
    layout = TileLayout(make_grid(height, width), core, halo)
    assume(len(layout) <= 1500)
    np.testing.assert_allclose(weight_sum(layout), 1.0, atol=1e-5)


def test_weights_are_zero_outside_core_plus_halo() -> None:
    layout = TileLayout(make_grid(60, 60), core=20, halo=6)
    tile = layout.tile(1, 1)
    weights = tile_weights(layout, tile)
    rows, cols = np.nonzero(weights)
    assert rows.min() + tile.read.row >= tile.core.row - layout.halo
    assert rows.max() + tile.read.row < tile.core.row_stop + layout.halo
    assert cols.min() + tile.read.col >= tile.core.col - layout.halo
    assert cols.max() + tile.read.col < tile.core.col_stop + layout.halo
    # Deep inside the core the weight is exactly one.
    inner = (tile.core.row + layout.halo, tile.core.col + layout.halo)
    assert weights[inner[0] - tile.read.row, inner[1] - tile.read.col] == 1.0


def ramp_band(extent: int, core: int, halo: int) -> np.ndarray:
    """Pixels whose centre is within ``halo`` of an internal core border (none at the ends)."""
    centres = np.arange(extent) + 0.5
    borders = np.arange(core, extent, core)
    if halo == 0 or borders.size == 0:
        return np.zeros(extent, dtype=bool)
    return (np.abs(centres[:, None] - borders[None, :]) < halo).any(axis=1)


@pytest.mark.parametrize(
    ("height", "width", "core", "halo"),
    [(50, 70, 16, 8), (33, 41, 10, 3), (48, 48, 16, 8), (20, 9, 8, 4)],
)
def test_no_taper_at_raster_edges(height: int, width: int, core: int, halo: int) -> None:
    layout = TileLayout(make_grid(height, width), core, halo)
    own = np.full((height, width), np.nan)
    for tile in layout:
        rows, cols = tile.core.relative_to(tile.read)
        own[tile.core.row : tile.core.row_stop, tile.core.col : tile.core.col_stop] = tile_weights(
            layout, tile
        )[rows, cols]
    in_band = ramp_band(height, core, halo)[:, None] | ramp_band(width, core, halo)[None, :]
    # Outside the ramps around internal borders, a pixel belongs wholly to its own tile; this
    # includes every edge pixel that is not next to an internal border (there is no ramp at
    # the raster's own edges, where no neighbour exists).
    np.testing.assert_array_equal(own[~in_band], 1.0)
    assert not in_band[0, :].all() and not in_band[:, 0].all()
    assert own[0, 0] == 1.0
    # Inside the ramps the weight is shared with a neighbour.
    assert (own[in_band] < 1.0).all()


def test_single_tile_raster_has_unit_weights() -> None:
    layout = TileLayout(make_grid(9, 13), core=16, halo=8)
    assert len(layout) == 1
    np.testing.assert_array_equal(tile_weights(layout, layout.tile(0, 0)), 1.0)


def test_ramp_profile_is_a_hann_split_at_the_border() -> None:
    left = ramp_profile(0, 16, 0, 8, halo=4, extent=16)
    right = ramp_profile(0, 16, 8, 16, halo=4, extent=16)
    np.testing.assert_allclose(left + right, 1.0, atol=1e-6)
    assert (left[:4] == 1.0).all() and (right[12:] == 1.0).all()
    assert (left[12:] == 0.0).all() and (right[:4] == 0.0).all()
    assert np.all(np.diff(left[3:13]) < 0) and np.all(np.diff(right[3:13]) > 0)
    hard = ramp_profile(0, 16, 0, 8, halo=0, extent=16)
    np.testing.assert_array_equal(hard, [1.0] * 8 + [0.0] * 8)


@pytest.mark.parametrize(
    ("height", "width", "core", "halo"),
    [(67, 59, 16, 8), (67, 59, 20, 3), (40, 40, 13, 6), (10, 70, 16, 5)],
)
def test_no_seam_on_a_smooth_ramp(
    tmp_path: Path, height: int, width: int, core: int, halo: int
) -> None:
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = (100.0 + 0.37 * rows - 0.21 * cols + 0.002 * rows * cols).astype(np.float32)
    source = write_raster(tmp_path / "ramp.tif", ramp)
    out = tmp_path / "out.tif"
    run_identity(source, out, core, halo, dtype="float32")
    with rasterio.open(out) as dataset:
        result = dataset.read(1)
    np.testing.assert_allclose(result, ramp, rtol=0, atol=1e-4)


class OffsetReader:
    """Gives each tile a constant image equal to its own offset, ``(1, H, W)``."""

    def __init__(self, offsets: np.ndarray) -> None:
        self.offsets = offsets

    def __call__(self, tiles: Sequence[Tile]) -> list[TileInputs]:
        inputs = []
        for tile in tiles:
            shape = tile.padded_shape
            image = np.full((1, *shape), self.offsets[tile.index], dtype=np.float32)
            valid = np.zeros(shape, dtype=bool)
            valid[: tile.read.height, : tile.read.width] = True
            inputs.append(TileInputs({"image": image}, valid))
        return inputs


def offset_model(arrays: dict[str, np.ndarray], valid: np.ndarray) -> np.ndarray:
    return arrays["image"].astype(np.float32)


def blended_offsets(tmp_path: Path, halo: int, core: int = 16) -> tuple[np.ndarray, np.ndarray]:
    grid = make_grid(70, 75)
    layout = TileLayout(grid, core, halo)
    offsets = np.random.default_rng(3).uniform(-50, 50, layout.shape).astype(np.float32)
    out = tmp_path / f"offsets-{halo}.tif"
    with ValueOutput(OutputOptions(out), grid, 1, "float32") as sink:
        run_tiles(layout, OffsetReader(offsets), offset_model, [sink], progress=False)
    with rasterio.open(out) as dataset:
        return dataset.read(1), offsets


def max_adjacent_offset_step(offsets: np.ndarray) -> float:
    return float(
        max(np.abs(np.diff(offsets, axis=0)).max(), np.abs(np.diff(offsets, axis=1)).max())
    )


@pytest.mark.parametrize("halo", [4, 8])
def test_per_tile_offsets_blend_continuously(tmp_path: Path, halo: int) -> None:
    core = 16
    result, offsets = blended_offsets(tmp_path, halo, core)
    delta = max_adjacent_offset_step(offsets)
    # A sin² ramp over 2·halo pixels rises by at most π / (4·halo) from one pixel to the next,
    # so a step of delta between two tiles becomes at most delta·π/(4·halo) per pixel.
    bound = delta * math.pi / (4 * halo) + 1e-3
    steps_down = np.abs(np.diff(result, axis=0))
    steps_across = np.abs(np.diff(result, axis=1))
    assert steps_down.max() <= bound
    assert steps_across.max() <= bound
    # The ramp actually spreads the step: far from borders each core keeps its own offset.
    for (r, c), offset in np.ndenumerate(offsets):
        row0, col0 = r * core, c * core
        inner = result[
            row0 + (halo if r > 0 else 0) : row0 + core - halo,
            col0 + (halo if c > 0 else 0) : col0 + core - halo,
        ]
        if inner.size:
            np.testing.assert_allclose(inner, offset, atol=1e-4)


def test_hard_cut_without_halo_shows_the_step(tmp_path: Path) -> None:
    """The continuity bound above is meaningful: with no halo the full step appears."""
    result, offsets = blended_offsets(tmp_path, halo=0)
    delta = max_adjacent_offset_step(offsets)
    steps = max(np.abs(np.diff(result, axis=0)).max(), np.abs(np.diff(result, axis=1)).max())
    assert steps == pytest.approx(delta, abs=1e-3)
    assert steps > delta * math.pi / (4 * 4)
