"""Vector layers (GeoPackage, GeoJSON, Shapefile) burnt onto a UTM grid window by window."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from affine import Affine
from rasterio.crs import CRS
from shapely.geometry import LineString, Polygon, box

from geoppp.errors import MissingCRSError, NoOverlapError, VectorOpenError
from geoppp.geo.grid import Grid, PixelWindow, TileLayout
from geoppp.geo.vector import VectorLayer
from tests.rasters import CONUS_ALBERS, PITTSBURGH_UTM, UTM_17N

X0, Y0 = PITTSBURGH_UTM
SIZE = 200
DRIVERS = {"gpkg": "GPKG", "geojson": "GeoJSON", "shp": "ESRI Shapefile"}


def utm_grid(transform: Affine | None = None) -> Grid:
    if transform is None:
        transform = Affine(1.0, 0.0, X0, 0.0, -1.0, Y0)
    return Grid(CRS.from_string(UTM_17N), transform, SIZE, SIZE)


# A 40 m square covering pixels rows 30..69, columns 30..69 of the north-up grid, and a
# horizontal line along the centres of row 150, from column 20 to column 180.
SQUARE = box(X0 + 30, Y0 - 70, X0 + 70, Y0 - 30)
LINE = LineString([(X0 + 20, Y0 - 150.5), (X0 + 180, Y0 - 150.5)])


def write_layers(directory: Path, fmt: str, crs: str, geometries: list) -> list[Path]:
    """Write ``geometries`` (UTM coordinates) reprojected to ``crs``; one file per geometry
    type for a Shapefile, which cannot mix them, else one file."""
    frame = gpd.GeoDataFrame(
        {"name": [f"feature{i}" for i in range(len(geometries))]},
        geometry=geometries,
        crs=UTM_17N,
    ).to_crs(crs)
    if fmt == "shp":
        groups = [frame[frame.geom_type == kind] for kind in frame.geom_type.unique()]
    else:
        groups = [frame]
    paths = []
    for number, group in enumerate(groups):
        path = directory / f"layer{number}.{fmt}"
        group.to_file(path, driver=DRIVERS[fmt])
        paths.append(path)
    return paths


def burn(layers: list[VectorLayer], grid: Grid, core: int = 64, halo: int = 8) -> np.ndarray:
    """Burn ``layers`` window by window and assemble the cores into a full mask."""
    layout = TileLayout(grid, core, halo)
    full = np.zeros((grid.height, grid.width), dtype=bool)
    reads = []
    for tile in layout:
        mask = np.zeros(tile.padded_shape, dtype=bool)
        for layer in layers:
            part = layer.rasterize(tile.read, tile.padded_shape)
            assert part.shape == tile.padded_shape and part.dtype == bool
            mask |= part
        assert not mask[tile.read.height :, :].any() and not mask[:, tile.read.width :].any()
        rows, cols = tile.core.relative_to(tile.read)
        core_window = tile.core
        full[core_window.row : core_window.row_stop, core_window.col : core_window.col_stop] = mask[
            rows, cols
        ]
        reads.append((tile.read, mask))
    # Read windows overlap; where they do, they burn the same pixels.
    for read, mask in reads:
        np.testing.assert_array_equal(
            mask[: read.height, : read.width],
            full[read.row : read.row_stop, read.col : read.col_stop],
        )
    return full


@pytest.mark.parametrize("crs", ["EPSG:4326", CONUS_ALBERS])
@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "shp"])
def test_polygon_and_line_burn_where_expected(tmp_path: Path, fmt: str, crs: str) -> None:
    grid = utm_grid()
    paths = write_layers(tmp_path, fmt, crs, [SQUARE, LINE])
    assert len(paths) == (2 if fmt == "shp" else 1)
    layers = [VectorLayer.open(path, grid) for path in paths]
    assert all(layer.frame.crs == grid.crs for layer in layers)
    burnt = burn(layers, grid)
    # The square: its centre is burnt, its inside fully, nothing a few pixels outside it.
    assert burnt[50, 50]
    assert burnt[31:69, 31:69].all()
    square_area = burnt[:100].sum()
    assert abs(square_area - 40 * 40) <= 40
    assert not burnt[:28].any() and not burnt[72:140].any()
    assert not burnt[:100, :28].any() and not burnt[:100, 72:].any()
    # The line: a thin run of pixels along row 150 from column 20 to 180.
    assert burnt[150, 21:179].all()
    assert not burnt[140:149].any() and not burnt[152:160].any()
    assert not burnt[145:156, :19].any() and not burnt[145:156, 182:].any()
    assert burnt[140:160].sum() <= 2 * 162
    # A far pixel is not burnt.
    assert not burnt[10, 190] and not burnt[190, 10]


@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "shp"])
def test_buffer_widens_a_line(tmp_path: Path, fmt: str) -> None:
    grid = utm_grid()
    (path,) = write_layers(tmp_path, fmt, "EPSG:4326", [LINE])
    thin = burn([VectorLayer.open(path, grid)], grid)
    wide = burn([VectorLayer.open(path, grid, buffer=5.2)], grid)
    assert (thin <= wide).all()
    thin_rows = np.nonzero(thin[:, 100])[0]
    wide_rows = np.nonzero(wide[:, 100])[0]
    assert len(thin_rows) <= 2 and 150 in thin_rows
    # 5.2 m on either side of row 150's centre line: rows 145..155.
    np.testing.assert_array_equal(wide_rows, np.arange(145, 156))
    # The buffer also rounds the ends: 5 m past column 180 and before column 20.
    assert wide[150, 16:184].all() and not wide[150, :14].any() and not wide[150, 186:].any()


def test_window_without_features_is_empty_and_padding_is_never_burnt(tmp_path: Path) -> None:
    grid = utm_grid()
    (path,) = write_layers(tmp_path, "gpkg", CONUS_ALBERS, [SQUARE, LINE])
    layer = VectorLayer.open(path, grid)
    empty = layer.rasterize(PixelWindow(0, 100, 50, 50), (64, 64))
    assert empty.shape == (64, 64) and not empty.any()
    # The window's lower-right corner holds the line; padding beyond the window stays clear
    # even though the line continues there on the ground.
    window = PixelWindow(140, 100, 12, 12)
    part = layer.rasterize(window, (32, 32))
    assert part[10, :12].all()
    assert not part[12:].any() and not part[:, 12:].any()


ORIENTED = {
    "south-up": Affine(1.0, 0.0, X0, 0.0, 1.0, Y0 - SIZE),
    "x-flipped": Affine(-1.0, 0.0, X0 + SIZE, 0.0, -1.0, Y0),
    "rotated-30": Affine.translation(X0 + 40, Y0 - 20)
    @ Affine.rotation(-30.0)
    @ Affine.scale(1.0, -1.0),
    "rotated-45": Affine.translation(X0, Y0 - 100.3)
    @ Affine.rotation(45.0)
    @ Affine.scale(1.0, -1.0),
}


@pytest.mark.parametrize("orientation", sorted(ORIENTED))
def test_burning_follows_any_transform_orientation(tmp_path: Path, orientation: str) -> None:
    """Every window burns the pixels whose centre is in a feature, whatever the orientation."""
    grid = utm_grid(ORIENTED[orientation])
    # Features over the whole grid: a checkerboard of 25 m squares.
    squares = [
        box(X0 - 100 + 50 * i, Y0 - 300 + 50 * j, X0 - 75 + 50 * i, Y0 - 275 + 50 * j)
        for i in range(8)
        for j in range(8)
    ]
    (path,) = write_layers(tmp_path, "gpkg", "EPSG:4326", squares)
    layer = VectorLayer.open(path, grid)
    burnt = burn([layer], grid, core=32, halo=4)
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    xs, ys = grid.transform @ (cols + 0.5, rows + 0.5)
    union = shapely.union_all(layer.frame.geometry.values)
    inside = shapely.contains_xy(union, xs, ys)
    boundary_distance = shapely.distance(union.boundary, shapely.points(xs, ys))
    assert inside.sum() > 1000
    mismatch = burnt != inside
    assert (boundary_distance[mismatch] < 0.75).all()
    assert mismatch.mean() < 0.02


def test_missing_file_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.gpkg"
    with pytest.raises(VectorOpenError, match=r"nowhere\.gpkg") as caught:
        VectorLayer.open(missing, utm_grid())
    assert isinstance(caught.value, OSError)


def test_file_that_is_not_a_vector_layer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.geojson"
    path.write_text("this is not GeoJSON\n")
    with pytest.raises(VectorOpenError, match=r"notes\.geojson"):
        VectorLayer.open(path, utm_grid())


def test_far_away_layer_is_refused(tmp_path: Path) -> None:
    far = gpd.GeoDataFrame(
        {"name": ["paris"]},
        geometry=[Polygon([(2.3, 48.8), (2.4, 48.8), (2.4, 48.9), (2.3, 48.9)])],
        crs="EPSG:4326",
    )
    path = tmp_path / "paris.gpkg"
    far.to_file(path, driver="GPKG")
    with pytest.raises(NoOverlapError, match=r"paris\.gpkg") as caught:
        VectorLayer.open(path, utm_grid())
    assert isinstance(caught.value, ValueError)


def test_layer_without_crs_is_refused(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"name": ["a"]}, geometry=[SQUARE], crs=None)
    path = tmp_path / "nocrs.shp"
    with pytest.warns(UserWarning, match="crs"):
        frame.to_file(path, driver="ESRI Shapefile")
    assert not path.with_suffix(".prj").exists()
    with pytest.raises(MissingCRSError, match=r"nocrs\.shp"):
        VectorLayer.open(path, utm_grid())
