"""Aligned reads: a 30 m EPSG:5070 raster lands on the right 1 m UTM pixels, per window."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp
from rasterio.warp import transform, transform_bounds

from geoppp.geo.grid import Grid, PixelWindow, TileLayout
from geoppp.geo.raster import AlignedSource, ResamplingName, grid_of, read_aligned, read_window
from tests.rasters import CONUS_ALBERS, PITTSBURGH_UTM, random_image, write_raster

IMAGE_HEIGHT, IMAGE_WIDTH = 230, 260  # 1 m pixels
CELL = 30.0


def write_image(directory: Path) -> Grid:
    path = write_raster(directory / "image.tif", random_image(IMAGE_HEIGHT, IMAGE_WIDTH, bands=3))
    grid = grid_of(path)
    assert grid.crs.to_epsg() == 32617
    return grid


def albers_frame(grid: Grid, margin: float) -> tuple[Affine, int, int]:
    """A 30 m lattice in EPSG:5070 covering ``grid`` plus ``margin`` metres, snapped to 30 m."""
    left, bottom, right, top = transform_bounds(grid.crs, CONUS_ALBERS, *grid.bounds)
    left = math.floor((left - margin) / CELL) * CELL + 7.0  # off the round numbers on purpose
    top = math.ceil((top + margin) / CELL) * CELL + 11.0
    width = math.ceil((right + margin - left) / CELL)
    height = math.ceil((top - (bottom - margin)) / CELL)
    return Affine(CELL, 0.0, left, 0.0, -CELL, top), width, height


def pixel_centres_in(grid: Grid, crs: str) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.mgrid[0 : grid.height, 0 : grid.width]
    xs, ys = grid.transform @ (cols.ravel() + 0.5, rows.ravel() + 0.5)
    tx, ty = transform(grid.crs, crs, xs, ys)
    shape = (grid.height, grid.width)
    return np.asarray(tx).reshape(shape), np.asarray(ty).reshape(shape)


def read_tiled(path: Path, grid: Grid, source: AlignedSource, core: int, halo: int):
    """Assemble the cores of per-window aligned reads; check reads agree where they overlap."""
    layout = TileLayout(grid, core, halo)
    values = None
    valid = np.zeros((grid.height, grid.width), dtype=bool)
    reads = []
    with rasterio.open(path) as dataset:
        for tile in layout:
            data = read_aligned(dataset, grid, tile.read, source, tile.padded_shape)
            assert data.values.shape == (len(source.bands), *tile.padded_shape)
            assert data.valid.shape == tile.padded_shape
            if values is None:
                values = np.zeros((len(source.bands), grid.height, grid.width), data.values.dtype)
            rows, cols = tile.core.relative_to(tile.read)
            core = tile.core
            values[:, core.row : core.row_stop, core.col : core.col_stop] = data.values[
                :, rows, cols
            ]
            valid[core.row : core.row_stop, core.col : core.col_stop] = data.valid[rows, cols]
            reads.append((tile.read, data))
    assert values is not None
    # Each read window, halo included, matches the assembled cores: no drift between windows.
    for read, data in reads:
        sl = (slice(read.row, read.row_stop), slice(read.col, read.col_stop))
        np.testing.assert_array_equal(data.valid[: read.height, : read.width], valid[sl])
        both = valid[sl]
        np.testing.assert_array_equal(
            data.values[:, : read.height, : read.width][:, both], values[:, sl[0], sl[1]][:, both]
        )
    return values, valid


@pytest.mark.parametrize("nodata", [None, 0])
def test_class_raster_lands_on_the_right_pixels(tmp_path: Path, nodata: int | None) -> None:
    grid = write_image(tmp_path)
    class_transform, width, height = albers_frame(grid, margin=60.0)
    classes = np.random.default_rng(7).integers(1, 10, (height, width), dtype=np.uint8)
    path = write_raster(
        tmp_path / "classes.tif",
        classes,
        crs=CONUS_ALBERS,
        transform=class_transform,
        nodata=nodata,
    )
    source = AlignedSource(path, (1,), "nearest")
    values, valid = read_tiled(path, grid, source, core=64, halo=8)
    assert valid.all()

    xs, ys = pixel_centres_in(grid, CONUS_ALBERS)
    cols, rows = ~class_transform @ (xs, ys)
    expected = classes[np.floor(rows).astype(int), np.floor(cols).astype(int)]
    # Distance in metres from each pixel centre to the nearest 30 m cell boundary.
    to_boundary = CELL * np.minimum(np.abs(cols - np.round(cols)), np.abs(rows - np.round(rows)))
    mismatch = values[0] != expected
    assert (to_boundary[mismatch] < 1.5).all()
    assert mismatch.mean() < 0.02
    # The check is not vacuous: the image spans many 30 m cells of different classes.
    assert len(np.unique(expected)) >= 5


def ramp_raster(tmp_path: Path, grid: Grid, margin: float, name: str) -> tuple[Path, Affine]:
    ramp_transform, width, height = albers_frame(grid, margin=margin)
    rows, cols = np.mgrid[0:height, 0:width]
    field = (0.3 * cols + 0.6 * rows).astype(np.float32)  # 0.01 and 0.02 per metre
    path = write_raster(
        tmp_path / name, field, crs=CONUS_ALBERS, transform=ramp_transform, nodata=-9999.0
    )
    return path, ramp_transform


def test_bilinear_resampling_is_continuous(tmp_path: Path) -> None:
    grid = write_image(tmp_path)
    path, ramp_transform = ramp_raster(tmp_path, grid, margin=90.0, name="ramp.tif")
    smooth, valid = read_tiled(path, grid, AlignedSource(path, (1,), "bilinear"), 64, 8)
    blocky, _ = read_tiled(path, grid, AlignedSource(path, (1,), "nearest"), 64, 8)
    assert valid.all()
    xs, ys = pixel_centres_in(grid, CONUS_ALBERS)
    cols, rows = ~ramp_transform @ (xs, ys)
    # Bilinear interpolation of a linear field is the field itself at the pixel centre.
    expected = 0.3 * (cols - 0.5) + 0.6 * (rows - 0.5)
    np.testing.assert_allclose(smooth[0], expected, atol=0.1)
    # Neighbouring 1 m pixels differ by about the gradient (≤ 0.0224 per metre)...
    step = max(np.abs(np.diff(smooth[0], axis=0)).max(), np.abs(np.diff(smooth[0], axis=1)).max())
    assert step < 0.05
    # ...whereas nearest neighbour jumps by whole 30 m cells (0.3 or 0.6).
    jump = max(np.abs(np.diff(blocky[0], axis=0)).max(), np.abs(np.diff(blocky[0], axis=1)).max())
    assert jump >= 0.29


def partial_source(tmp_path: Path, grid: Grid, kind: str) -> tuple[Path, Affine, int, int]:
    """A 30 m class raster in EPSG:5070 covering only the western part of the image."""
    class_transform, width, height = albers_frame(grid, margin=60.0)
    width = width // 2
    classes = np.random.default_rng(1).integers(1, 10, (height, width), dtype=np.uint8)
    path = tmp_path / f"partial-{kind}.tif"
    nodata = 0 if kind == "nodata" else None
    write_raster(path, classes, crs=CONUS_ALBERS, transform=class_transform, nodata=nodata)
    if kind == "mask":
        with rasterio.open(path, "r+") as dataset:
            dataset.write_mask(np.full((height, width), 255, dtype=np.uint8))
    if kind == "alpha":
        alpha = np.full((height, width), 255, dtype=np.uint8)
        write_raster(path, np.stack([classes, alpha]), crs=CONUS_ALBERS, transform=class_transform)
        with rasterio.open(path, "r+") as dataset:
            dataset.colorinterp = [ColorInterp.gray, ColorInterp.alpha]
    return path, class_transform, width, height


@pytest.mark.parametrize("kind", ["nodata", "none", "mask", "alpha"])
@pytest.mark.parametrize("resampling", ["nearest", "bilinear", "mode"])
def test_outside_the_footprint_is_invalid(
    tmp_path: Path, kind: str, resampling: ResamplingName
) -> None:
    grid = write_image(tmp_path)
    path, class_transform, width, height = partial_source(tmp_path, grid, kind)
    values, valid = read_tiled(path, grid, AlignedSource(path, (1,), resampling), 64, 8)
    xs, ys = pixel_centres_in(grid, CONUS_ALBERS)
    cols, rows = ~class_transform @ (xs, ys)
    margin = 1.5 / CELL + (1.0 if resampling != "nearest" else 0.0)
    inside = (cols > margin) & (cols < width - margin) & (rows > margin) & (rows < height - margin)
    outside = (cols < -1.5 / CELL) | (cols > width + 1.5 / CELL)
    assert inside.any() and outside.any()
    assert valid[inside].all()
    assert not valid[outside].any()
    assert (values[0][inside] >= 1).all() and (values[0][inside] <= 9).all()


def test_nodata_cells_inside_the_source_are_invalid(tmp_path: Path) -> None:
    grid = write_image(tmp_path)
    class_transform, width, height = albers_frame(grid, margin=60.0)
    classes = np.random.default_rng(2).integers(1, 10, (height, width), dtype=np.uint8)
    classes[2:5, 3:6] = 255
    path = write_raster(
        tmp_path / "classes.tif", classes, crs=CONUS_ALBERS, transform=class_transform, nodata=255
    )
    _, valid = read_tiled(path, grid, AlignedSource(path, (1,), "nearest"), 64, 8)
    xs, ys = pixel_centres_in(grid, CONUS_ALBERS)
    cols, rows = ~class_transform @ (xs, ys)
    hole = (cols > 3 + 0.05) & (cols < 6 - 0.05) & (rows > 2 + 0.05) & (rows < 5 - 0.05)
    assert hole.sum() > 1000
    assert not valid[hole].any()
    assert valid[~hole].mean() > 0.98


def test_same_grid_is_read_directly(tmp_path: Path) -> None:
    image = random_image(50, 60, bands=2)
    image[:, :3, :] = 0
    path = write_raster(tmp_path / "same.tif", image, nodata=0)
    grid = grid_of(path)
    window = PixelWindow(0, 10, 20, 30)
    source = AlignedSource(path, (2, 1), "bilinear")
    with rasterio.open(path) as dataset:
        aligned = read_aligned(dataset, grid, window, source, (32, 32))
        direct = read_window(dataset, window, (2, 1), (32, 32))
    np.testing.assert_array_equal(aligned.values, direct.values)
    np.testing.assert_array_equal(aligned.values[:, :20, :30], image[[1, 0], 0:20, 10:40])
    np.testing.assert_array_equal(aligned.valid, direct.valid)
    assert not aligned.valid[:3].any() and aligned.valid[3:20, :30].all()


def test_image_geometry_is_what_was_written(tmp_path: Path) -> None:
    grid = write_image(tmp_path)
    assert grid.transform == Affine(1.0, 0.0, PITTSBURGH_UTM[0], 0.0, -1.0, PITTSBURGH_UTM[1])
    assert (grid.height, grid.width) == (IMAGE_HEIGHT, IMAGE_WIDTH)
