"""TileLayout: cores partition the grid, read windows are fixed-size and hold core ± halo."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from rasterio.crs import CRS

from geoppp.errors import TilingError
from geoppp.geo.grid import Grid, PixelWindow, TileLayout
from tests.rasters import PITTSBURGH_UTM, UTM_17N


def make_grid(height: int, width: int, transform: Affine | None = None) -> Grid:
    if transform is None:
        transform = Affine(1.0, 0.0, PITTSBURGH_UTM[0], 0.0, -1.0, PITTSBURGH_UTM[1])
    return Grid(CRS.from_string(UTM_17N), transform, width, height)


@st.composite
def layouts(draw: st.DrawFn, max_size: int = 100) -> TileLayout:
    height = draw(st.integers(1, max_size))
    width = draw(st.integers(1, max_size))
    core = draw(st.integers(1, 40))
    halo = draw(st.integers(0, core // 2))
    layout = TileLayout(make_grid(height, width), core, halo)
    assume(len(layout) <= 1500)
    return layout


@settings(max_examples=60, deadline=None)
@given(layouts())
def test_cores_partition_the_grid(layout: TileLayout) -> None:
    grid = layout.grid
    covered = np.zeros((grid.height, grid.width), dtype=np.int32)
    tiles = list(layout)
    assert len(tiles) == len(layout) == layout.shape[0] * layout.shape[1]
    for tile in tiles:
        core = tile.core
        assert core.height >= 1 and core.width >= 1
        assert core.height <= layout.core and core.width <= layout.core
        covered[core.row : core.row_stop, core.col : core.col_stop] += 1
    assert (covered == 1).all()
    # Row-major order, indices matching positions.
    assert [tile.index for tile in tiles] == [
        (r, c) for r in range(layout.shape[0]) for c in range(layout.shape[1])
    ]


@settings(max_examples=60, deadline=None)
@given(layouts())
def test_read_windows_fixed_size_inside_raster_and_hold_core_plus_halo(
    layout: TileLayout,
) -> None:
    grid = layout.grid
    size = layout.window_size
    for tile in layout:
        read, core = tile.read, tile.core
        assert tile.padded_shape == (size, size)
        # Inside the raster.
        assert read.row >= 0 and read.row_stop <= grid.height
        assert read.col >= 0 and read.col_stop <= grid.width
        # Fixed size, unless the raster is smaller than a window along that axis.
        assert read.height == min(size, grid.height)
        assert read.width == min(size, grid.width)
        # Contains the core grown by the halo, clipped to the raster.
        assert read.row <= max(0, core.row - layout.halo)
        assert read.col <= max(0, core.col - layout.halo)
        assert read.row_stop >= min(grid.height, core.row_stop + layout.halo)
        assert read.col_stop >= min(grid.width, core.col_stop + layout.halo)
        assert core.intersection(read) == core


def test_read_window_pulled_inside_at_edges() -> None:
    layout = TileLayout(make_grid(50, 50), core=20, halo=5)
    first, last = layout.tile(0, 0), layout.tile(2, 2)
    assert first.read == PixelWindow(0, 0, 30, 30)
    assert last.core == PixelWindow(40, 40, 10, 10)
    assert last.read == PixelWindow(20, 20, 30, 30)
    middle = layout.tile(1, 1)
    assert middle.read == PixelWindow(15, 15, 30, 30)


def test_raster_smaller_than_a_window_reads_whole_raster() -> None:
    layout = TileLayout(make_grid(7, 30), core=8, halo=4)
    assert layout.shape == (1, 4)
    for tile in layout:
        assert tile.read.row == 0 and tile.read.height == 7
        assert tile.read.width == 16
        assert tile.padded_shape == (16, 16)


def test_neighbours() -> None:
    layout = TileLayout(make_grid(30, 30), core=10, halo=2)
    middle = layout.tile(1, 1)
    assert {t.index for t in layout.neighbours(middle)} == {
        (r, c) for r in range(3) for c in range(3)
    }
    corner = layout.tile(0, 0)
    assert {t.index for t in layout.neighbours(corner)} == {(0, 0), (0, 1), (1, 0), (1, 1)}
    with pytest.raises(IndexError):
        layout.tile(3, 0)


@pytest.mark.parametrize(
    ("core", "halo"),
    [(0, 0), (-3, 0), (10, -1), (10, 6), (1, 1), (5, 3)],
)
def test_invalid_parameters_raise_tiling_error(core: int, halo: int) -> None:
    with pytest.raises(TilingError) as caught:
        TileLayout(make_grid(20, 20), core, halo)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(("core", "halo"), [(1, 0), (10, 5), (11, 5), (64, 0)])
def test_valid_parameters_accepted(core: int, halo: int) -> None:
    layout = TileLayout(make_grid(20, 20), core, halo)
    assert layout.window_size == core + 2 * halo


def test_grid_bounds_and_window_transform() -> None:
    grid = make_grid(10, 20)
    x0, y0 = PITTSBURGH_UTM
    assert grid.bounds == (x0, y0 - 10, x0 + 20, y0)
    assert grid.window_transform(PixelWindow(3, 4, 2, 2)) @ (0, 0) == (x0 + 4, y0 - 3)


@pytest.mark.parametrize(
    "transform",
    [
        Affine(2.0, 0.0, 100.0, 0.0, 3.0, 200.0),  # south-up
        Affine(-2.0, 0.0, 100.0, 0.0, -3.0, 200.0),  # x flipped
        Affine.translation(100.0, 200.0) @ Affine.rotation(30.0) @ Affine.scale(2.0, -3.0),
        Affine.translation(100.0, 200.0) @ Affine.rotation(45.0) @ Affine.scale(2.0, -2.0),
    ],
)
def test_grid_bounds_cover_every_corner(transform: Affine) -> None:
    grid = make_grid(10, 20, transform)
    corners = [transform @ (c, r) for c in (0, 20) for r in (0, 10)]
    xs, ys = zip(*corners, strict=True)
    assert grid.bounds == pytest.approx((min(xs), min(ys), max(xs), max(ys)))
