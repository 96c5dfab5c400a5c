"""Nodata: values, mask bands and alpha bands are invalid; all-nodata tiles are skipped."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import ColorInterp

from geoppp.geo.engine import TileInputs, run_tiles
from geoppp.geo.grid import PixelWindow, Tile, TileLayout
from geoppp.geo.output import OutputOptions, ValueOutput
from geoppp.geo.raster import grid_of, open_raster, read_valid, read_window
from tests.geo.helpers import ImageReader, run_identity
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
        dataset.colorinterp = [
            ColorInterp.red,
            ColorInterp.green,
            ColorInterp.blue,
            ColorInterp.alpha,
        ]
    return path


@pytest.mark.parametrize("make", [with_nodata_value, with_mask_band, with_alpha_band])
def test_read_window_validity(tmp_path: Path, make) -> None:
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
def test_all_nodata_tile_is_skipped(tmp_path: Path, make) -> None:
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
        tile.index
        for tile in layout
        if invalid[tile.read.row : tile.read.row_stop, tile.read.col : tile.read.col_stop].all()
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


def test_model_nan_makes_pixels_nodata(tmp_path: Path) -> None:
    """Where the model answers NaN, the output is nodata, even where tiles overlap."""
    image = random_image(HEIGHT, WIDTH, bands=1)
    path = write_raster(tmp_path / "image.tif", image)
    unanswered = image[0] > 230

    def model(arrays: dict[str, np.ndarray], valid: np.ndarray) -> np.ndarray:
        values = arrays["image"].astype(np.float32)
        values[values > 230] = np.nan
        return values

    grid = grid_of(path)
    layout = TileLayout(grid, 8, 4)
    out = tmp_path / "out.tif"
    with ValueOutput(OutputOptions(out), grid, 1, "uint8", nodata=0, block_size=16) as sink:
        run_tiles(layout, ImageReader(path, (1,)), model, [sink], progress=False)
    with rasterio.open(out) as dataset:
        result = dataset.read(1)
    assert unanswered.any()
    assert (result[unanswered] == 0).all()
    np.testing.assert_array_equal(result[~unanswered], image[0][~unanswered])


class CheckerboardReader(ImageReader):
    """Reads the image and flags every other tile, for a model that gives up on those."""

    def __call__(self, tiles: Sequence[Tile]) -> list[TileInputs]:
        inputs = super().__call__(tiles)
        for tile, tile_inputs in zip(tiles, inputs, strict=True):
            give_up = (tile.index[0] + tile.index[1]) % 2 == 1
            flag = np.full((1, *tile.padded_shape), give_up, dtype=np.float32)
            tile_inputs.arrays["give_up"] = flag
        return inputs


def test_blend_is_exact_next_to_a_neighbour_without_answers(tmp_path: Path) -> None:
    """Next to a tile whose prediction is all nodata, the remaining weights are renormalised:
    the blend of an identity model is still the input, not the input times a ramp."""
    image = random_image(HEIGHT, WIDTH, bands=1)
    path = write_raster(tmp_path / "image.tif", image)

    def model(arrays: dict[str, np.ndarray], valid: np.ndarray) -> np.ndarray:
        values = arrays["image"].astype(np.float32)
        values[arrays["give_up"] > 0] = np.nan
        return values

    grid = grid_of(path)
    layout = TileLayout(grid, 10, 5)
    out = tmp_path / "out.tif"
    with ValueOutput(OutputOptions(out), grid, 1, "float32", block_size=16) as sink:
        stats = run_tiles(layout, CheckerboardReader(path, (1,)), model, [sink], progress=False)
    assert stats.tiles_skipped == 0
    with rasterio.open(out) as dataset:
        result = dataset.read(1)
    for tile in layout:
        core = result[tile.core.row : tile.core.row_stop, tile.core.col : tile.core.col_stop]
        if (tile.index[0] + tile.index[1]) % 2 == 1:
            assert np.isnan(core).all()
        else:
            expected = image[
                0, tile.core.row : tile.core.row_stop, tile.core.col : tile.core.col_stop
            ]
            np.testing.assert_allclose(core, expected, atol=1e-3)


def test_a_data_band_flagged_as_alpha_is_data(tmp_path: Path) -> None:
    """NAIP files often flag NIR (band 4) as alpha: asked for as data, it is not a mask."""
    image = random_image(40, 40, bands=4)
    image[3, :10, :] = 0  # dark NIR, e.g. water
    image[:, 30:, :] = 0  # real nodata, all bands 0
    path = write_raster(tmp_path / "naip.tif", image, nodata=None, photometric="RGB", alpha="YES")
    with rasterio.open(path) as dataset:
        assert dataset.colorinterp[3] == ColorInterp.alpha
        window = PixelWindow(0, 0, 40, 40)
        as_data = read_window(dataset, window, [1, 2, 3, 4], (40, 40), nodata=0)
        as_mask = read_window(dataset, window, [1, 2, 3], (40, 40))
        only_data = read_valid(dataset, window, [1, 2, 3, 4], (40, 40))
    assert as_data.valid[:10].all()  # NIR 0 alone does not make a pixel nodata
    assert not as_data.valid[30:].any()  # the configured nodata value still does
    assert not as_mask.valid[:10].any()  # used as a mask (band 4 not asked for), it masks
    assert only_data.all()  # without a nodata value, every pixel of the data bands is valid
