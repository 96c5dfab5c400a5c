"""The geo engine on real GeoTIFFs from ``../shared/data`` (skipped where it is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Compression
from rasterio.warp import transform, transform_bounds

from geoppp.errors import NoOverlapError
from geoppp.geo.grid import Grid, TileLayout
from geoppp.geo.raster import AlignedSource, grid_of, read_aligned, require_overlap
from tests.geo.helpers import run_identity
from tests.rasters import write_raster

pytestmark = pytest.mark.realdata

NAIP = "chesapeake/tile/m_3907833_nw_17_1_naip-new.tif"
NLCD_FREDERICK = "rasters/nlcd_2016_frederick_md.tif"


@pytest.mark.parametrize(
    ("name", "count", "nodata"),
    [
        ("RGB.byte.tif", 3, 0.0),
        ("cogeo.tif", 3, None),
        ("shade.tif", 1, 255.0),
        ("nlcd_2016_frederick_md.tif", 1, None),
    ],
)
def test_identity_on_real_rasters(
    shared_data: Path, tmp_path: Path, name: str, count: int, nodata: float | None
) -> None:
    source = shared_data / "rasters" / name
    with rasterio.open(source) as dataset:
        assert dataset.count == count and dataset.nodata == nodata
        dtype = dataset.dtypes[0]
        # What rasterio reads (for JPEG-compressed cogeo.tif, the decoded pixels).
        expected = dataset.read()
        valid = dataset.dataset_mask() > 0
        crs, affine = dataset.crs, dataset.transform
    out = tmp_path / f"identity-{name}"
    stats, model, grid = run_identity(
        source, out, core=256, halo=16, bands=tuple(range(1, count + 1)), dtype=dtype, nodata=nodata
    )
    layout = TileLayout(grid, 256, 16)
    assert stats.tiles == len(layout)
    assert stats.blocks_written == len(layout) - stats.tiles_skipped
    with rasterio.open(out) as dataset:
        assert dataset.crs == crs
        assert dataset.transform == affine
        assert dataset.nodata == nodata
        assert dataset.dtypes == (dtype,) * count
        result = dataset.read()
    np.testing.assert_array_equal(result[:, valid], expected[:, valid])
    if nodata is not None:
        assert (~valid).any()  # these files do have nodata pixels
        assert (result[:, ~valid] == nodata).all()
    else:
        assert valid.all()
        assert stats.tiles_skipped == 0
        received = np.concatenate(model.valid_seen)
        # Every pixel the model saw inside the raster was valid (padding aside).
        for tile, seen in zip(layout, received, strict=True):
            assert seen[: tile.read.height, : tile.read.width].all()


def test_cogeo_is_jpeg_without_nodata_or_mask_holes(shared_data: Path) -> None:
    with rasterio.open(shared_data / "rasters" / "cogeo.tif") as dataset:
        assert dataset.compression == Compression.jpeg
        assert dataset.nodata is None
        assert (dataset.dataset_mask() == 255).all()
        assert dataset.overviews(1)


def test_wrong_crs_of_real_nlcd_is_reported_as_no_overlap(shared_data: Path) -> None:
    nlcd = shared_data / NLCD_FREDERICK
    naip_grid = grid_of(shared_data / NAIP)
    with pytest.raises(NoOverlapError, match=r"nlcd_2016_frederick_md\.tif") as caught:
        require_overlap(nlcd, naip_grid, "weak labels")
    assert "weak labels" in str(caught.value)


def test_the_stored_crs_is_the_cause(shared_data: Path, tmp_path: Path) -> None:
    """The same pixels with the right CRS (EPSG:5070) land on Frederick, MD, and overlap a
    grid there; with the stored CRS (an Albers at lat_0=0, lon_0=0) they are in Africa."""
    nlcd = shared_data / NLCD_FREDERICK
    with rasterio.open(nlcd) as dataset:
        stored_crs, bounds = dataset.crs, dataset.bounds
        pixels, affine = dataset.read(1), dataset.transform
    west, south, east, north = transform_bounds(stored_crs, "EPSG:4326", *bounds)
    assert 0 < west < 30 and 0 < south < 30  # Africa
    west, south, east, north = transform_bounds("EPSG:5070", "EPSG:4326", *bounds)
    assert west < -77.42 < east and south < 39.42 < north  # Frederick, MD
    # A 1 m UTM 18N grid of 500 × 500 m at Frederick.
    (x,), (y,) = transform("EPSG:4326", "EPSG:32618", [-77.42], [39.42])
    frederick = Grid(CRS.from_epsg(32618), Affine(1.0, 0.0, x, 0.0, -1.0, y), 500, 500)
    with pytest.raises(NoOverlapError):
        require_overlap(nlcd, frederick, "weak labels")
    fixed = write_raster(tmp_path / "nlcd-5070.tif", pixels, crs="EPSG:5070", transform=affine)
    assert require_overlap(fixed, frederick, "weak labels") == pytest.approx(1.0)
    # Read onto that grid, the 30 m classes are real NLCD codes.
    with rasterio.open(fixed) as dataset:
        data = read_aligned(
            dataset,
            frederick,
            frederick.full_window,
            AlignedSource(fixed, (1,), "nearest"),
            (500, 500),
        )
    assert data.valid.all()
    nlcd_codes = {11, 12, 21, 22, 23, 24, 31, 41, 42, 43, 52, 71, 81, 82, 90, 95}
    assert set(np.unique(data.values).tolist()) <= nlcd_codes


def test_chesapeake_layers_share_the_naip_grid(shared_data: Path) -> None:
    naip_grid = grid_of(shared_data / NAIP)
    nlcd = shared_data / "chesapeake/tile/m_3907833_nw_17_1_nlcd.tif"
    assert require_overlap(nlcd, naip_grid, "weak labels") == pytest.approx(1.0)
    layout = TileLayout(naip_grid, 100, 10)
    with rasterio.open(nlcd) as dataset:
        whole = dataset.read(1)
        for tile in layout:
            data = read_aligned(
                dataset,
                naip_grid,
                tile.read,
                AlignedSource(nlcd, (1,), "nearest"),
                tile.padded_shape,
            )
            read = tile.read
            np.testing.assert_array_equal(
                data.values[0, : read.height, : read.width],
                whole[read.row : read.row_stop, read.col : read.col_stop],
            )
