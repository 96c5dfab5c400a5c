"""Bad rasters are refused with errors that say what is wrong and with which file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from geoppp.errors import (
    BandError,
    GeopppError,
    MissingCRSError,
    NoOverlapError,
    RasterOpenError,
)
from geoppp.geo.raster import describe, grid_of, open_raster, require_bands, require_overlap
from tests.rasters import CONUS_ALBERS, PITTSBURGH_UTM, random_image, write_raster


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.tif"
    with pytest.raises(RasterOpenError, match=r"nowhere\.tif") as caught:
        grid_of(missing)
    assert isinstance(caught.value, OSError) and isinstance(caught.value, GeopppError)
    assert str(missing) in str(caught.value)
    with pytest.raises(RasterOpenError, match=r"nowhere\.tif"), open_raster(missing):
        pass


def test_text_file_is_not_a_raster(tmp_path: Path) -> None:
    path = tmp_path / "notes.tif"
    path.write_text("these are my notes, not a GeoTIFF\n")
    with pytest.raises(RasterOpenError, match=r"notes\.tif"):
        grid_of(path)
    with pytest.raises(RasterOpenError, match="not a raster"), open_raster(path):
        pass


def test_raster_without_crs(tmp_path: Path) -> None:
    path = write_raster(
        tmp_path / "nocrs.tif",
        random_image(8, 8, bands=1),
        crs=None,
        transform=Affine(1.0, 0.0, 10.0, 0.0, -1.0, 20.0),
    )
    with pytest.raises(MissingCRSError, match=r"nocrs\.tif") as caught:
        grid_of(path)
    assert isinstance(caught.value, ValueError)
    assert not describe(path).has_crs
    other = write_raster(tmp_path / "ok.tif", random_image(8, 8, bands=1))
    with pytest.raises(MissingCRSError, match=r"nocrs\.tif"):
        require_overlap(path, grid_of(other), "labels")


def test_rasters_that_do_not_overlap(tmp_path: Path) -> None:
    image = write_raster(tmp_path / "image.tif", random_image(20, 20))
    x0, y0 = PITTSBURGH_UTM
    beside = write_raster(
        tmp_path / "beside.tif",
        random_image(20, 20, bands=1),
        transform=Affine(1.0, 0.0, x0 + 25.0, 0.0, -1.0, y0),
    )
    with pytest.raises(NoOverlapError, match=r"beside\.tif") as caught:
        require_overlap(beside, grid_of(image), "weak labels")
    assert "weak labels" in str(caught.value)
    assert isinstance(caught.value, ValueError)
    # Another CRS, far away on the ground (0, 0 in CONUS Albers is in Kansas).
    far = write_raster(
        tmp_path / "far.tif",
        random_image(20, 20, bands=1),
        crs=CONUS_ALBERS,
        transform=Affine(30.0, 0.0, 0.0, 0.0, -30.0, 0.0),
    )
    with pytest.raises(NoOverlapError, match=r"far\.tif"):
        require_overlap(far, grid_of(image), "weak labels")


def test_overlap_fraction(tmp_path: Path) -> None:
    image = write_raster(tmp_path / "image.tif", random_image(20, 20))
    x0, y0 = PITTSBURGH_UTM
    half = write_raster(
        tmp_path / "half.tif",
        random_image(40, 40, bands=1),
        transform=Affine(1.0, 0.0, x0 + 10.0, 0.0, -1.0, y0 + 10.0),
    )
    # Covers columns 10..19 of the 20×20 image, every row: half of it.
    assert require_overlap(half, grid_of(image), "labels") == pytest.approx(0.5)
    assert require_overlap(image, grid_of(image), "labels") == pytest.approx(1.0)


def test_missing_band(tmp_path: Path) -> None:
    path = write_raster(tmp_path / "four.tif", random_image(8, 8, bands=4))
    require_bands(path, [1, 2, 3, 4], "imagery")
    with pytest.raises(BandError, match=r"four\.tif") as caught:
        require_bands(path, [1, 5], "imagery")
    message = str(caught.value)
    assert "4 band" in message and "[5]" in message and "imagery" in message
    assert isinstance(caught.value, ValueError)
    with pytest.raises(BandError):
        require_bands(path, [0], "imagery")


def test_describe(tmp_path: Path) -> None:
    path = write_raster(tmp_path / "d.tif", np.zeros((2, 4, 4), dtype=np.int16), nodata=-1)
    info = describe(path)
    assert (info.count, info.dtype, info.nodata, info.has_crs) == (2, "int16", -1.0, True)
