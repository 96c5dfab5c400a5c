"""Nodata: values, mask bands and alpha bands are invalid; all-nodata tiles are skipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import ColorInterp

from geoppp.geo.grid import PixelWindow, TileLayout
from geoppp.geo.raster import open_raster, read_window
from tests.geo.helpers import run_identity
from tests.rasters import random_image, write_raster

HEIGHT, WIDTH = 40, 50


def invalid_region() -> np.ndarray:
    """A block and a few scattered pixels that are nodata, as a bool ``(H, W)`` array."""
    invalid = np.zeros((HEIGHT, WIDTH), dtype=bool)
    invalid[5:15, 10:30] = True
    invalid[30, 45] = invalid[0, 0] = invalid[39, 49] = True
    return invalid


def with_nodata_value(path: Path) -> Path:
    image = random_image(HEIGHT, WIDTH, bands=3)
    image[:, invalid_region()] = 0
    return write_raster(path, image, nodata=0)


def with_mask_band(path: Path) -> Path:
    write_raster(path, random_image(HEIGHT, WIDTH, bands=3))
    with rasterio.open(path, "r+") as dataset:
        dataset.write_mask(np.where(invalid_region(), 0, 255).astype(np.uint8))
    return path


def with_alpha_band(path: Path) -> Path:
    image = random_image(HEIGHT, WIDTH, bands=4)
    image[3] = np.where(invalid_region(), 0, 255)
    write_raster(path, image)
    with rasterio.open(path, "r+") as dataset:
        dataset.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    return path


@pytest.mark.parametrize("make", [with_nodata_value, with_mask_band, with_alpha_band])
def test_read_window_validity(tmp_path: Path, make) -> None:  # noqa: ANN001
    path = make(tmp_path / "image.tif")
    invalid = invalid_region()
    with open_raster(path) as dataset:
        whole = read_window(dataset, PixelWindow(0, 0, HEIGHT, WIDTH), (1, 2, 3), (HEIGHT, WIDTH))
        np.testing.assert_array_equal(whole.valid, ~invalid)
        assert whole.values.shape == (3, HEIGHT, WIDTH)
        # A window at the bottom-right corner, padded: the padding is invalid too.
        window = PixelWindow(30, 40, 10, 10)
        part = read_window(dataset, window, (1, 2, 3), (16, 16))
    assert part.values.shape == (3, 16, 16) and part.valid.shape == (16, 16)
    np.testing.assert_array_equal(part.valid[:10, :10], ~invalid[30:40, 40:50])
    assert not part.valid[10:, :].any() and not part.valid[:, 10:].any()
    assert (part.values[:, 10:, :] == 0).all() and (part.values[:, :, 10:] == 0).all()


def test_read_window_extra_nodata_value(tmp_path: Path) -> None:
    """A value the file does not declare can be declared by the caller."""
    image = random_image(HEIGHT, WIDTH, bands=2)
    image[:, 3:6, 7:9] = 200
    image[0, 10, 10] = 200  # only one band equal to it: still valid
    path = write_raster(tmp_path / "image.tif", image)
    with open_raster(path) as dataset:
        plain = read_window(dataset, PixelWindow(0, 0, HEIGHT, WIDTH), (1, 2), (HEIGHT, WIDTH))
        declared = read_window(
            dataset, PixelWindow(0, 0, HEIGHT, WIDTH), (1, 2), (HEIGHT, WIDTH), nodata=200
        )
    assert plain.valid.all()
    expected = ~np.all(image == 200, axis=0)
    np.testing.assert_array_equal(declared.valid, expected)
    assert not declared.valid[3:6, 7:9].any() and declared.valid[10, 10]


@pytest.mark.parametrize("make", [with_nodata_value, with_mask_band, with_alpha_band])
def test_all_nodata_tile_is_skipped(tmp_path: Path, make) -> None:  # noqa: ANN001
    path = make(tmp_path / "image.tif")
    with rasterio.open(path) as dataset:
        image = dataset.read((1, 2, 3))
    invalid = invalid_region()
    # Core 4, halo 1: tile (2, 4) reads rows 7..13 and columns 15..21, all inside the block.
    core, halo = 4, 1
    out = tmp_path / "out.tif"
    stats, model, grid = run_identity(path, out, core, halo, bands=(1, 2, 3), nodata=0)
    layout = TileLayout(grid, core, halo)
    skipped = [
        tile.index for tile in layout if invalid[tile.read.row : tile.read.row_stop,
                                                 tile.read.col : tile.read.col_stop].all()
    ]
    assert (2, 4) in skipped
    assert stats.tiles == len(layout)
    assert stats.tiles_skipped == len(skipped)
    assert stats.blocks_written == len(layout) - len(skipped)
    # The model never received a tile that is all nodata, and received every other one.
    received = np.concatenate(model.valid_seen)
    assert received.shape[0] == len(layout) - len(skipped)
    assert received.reshape(received.shape[0], -1).any(axis=1).all()
    with rasterio.open(out) as dataset:
        assert dataset.nodata == 0
        result = dataset.read()
    # Nodata pixels, of skipped and of partly-valid tiles alike, are nodata in the output;
    # every other pixel is the input.
    assert (result[:, invalid] == 0).all()
    np.testing.assert_array_equal(result[:, ~invalid], image[:, ~invalid])


def test_skipped_tiles_are_nodata_with_nonzero_nodata(tmp_path: Path) -> None:
    """Blocks that are never written read back as the output's nodata value (not 0)."""
    image = random_image(HEIGHT, WIDTH, bands=1)
    image[image == 255] = 254
    invalid = invalid_region()
    image[:, invalid] = 255
    path = write_raster(tmp_path / "image.tif", image, nodata=255)
    out = tmp_path / "out.tif"
    # Core 5 does not divide the output's 16-pixel blocks: writes straddle blocks.
    stats, _, _ = run_identity(path, out, 5, 0, nodata=255)
    assert stats.tiles_skipped > 0
    with rasterio.open(out) as dataset:
        result = dataset.read(1)
        mask = dataset.read_masks(1)
    np.testing.assert_array_equal(result, image[0])
    np.testing.assert_array_equal(mask == 0, invalid)


def test_float_output_marks_nodata_as_nan(tmp_path: Path) -> None:
    path = with_nodata_value(tmp_path / "image.tif")
    out = tmp_path / "out.tif"
    run_identity(path, out, 8, 3, bands=(1,), dtype="float32")
    with rasterio.open(out) as dataset:
        assert np.isnan(dataset.nodata)
        result = dataset.read(1)
    invalid = invalid_region()
    assert np.isnan(result[invalid]).all()
    assert not np.isnan(result[~invalid]).any()
