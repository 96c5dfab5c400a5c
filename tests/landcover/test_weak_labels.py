"""Weak labels on the imagery grid: code tables, probability rasters, vector burn-in, averaging."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import yaml
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject
from shapely.geometry import LineString, box

from geoppp.config import load_region
from geoppp.errors import BandError, NoOverlapError
from geoppp.geo.grid import Grid, PixelWindow
from geoppp.landcover.weak_labels import (
    CodeRaster,
    CodeTable,
    ProbabilityRaster,
    VectorBurn,
    WeakLabels,
    WeakLabelSources,
)
from geoppp.region import weak_label_sources
from tests.rasters import PITTSBURGH_UTM, UTM_17N, write_raster

X0, Y0 = PITTSBURGH_UTM
SIZE = 40


@pytest.fixture
def grid() -> Grid:
    """A 40 × 40 grid of 1 m pixels in UTM 17N."""
    return Grid(CRS.from_string(UTM_17N), Affine(1.0, 0.0, X0, 0.0, -1.0, Y0), SIZE, SIZE)


def read_all(sources: WeakLabelSources, pad: int = 0) -> WeakLabels:
    with sources.opened() as read:
        return read(PixelWindow(0, 0, SIZE, SIZE), (SIZE + pad, SIZE + pad))


def pixel_box(col: int, row: int, col_stop: int, row_stop: int) -> box:
    """The ground footprint of pixels [row, row_stop) × [col, col_stop) of the grid."""
    return box(X0 + col, Y0 - row_stop, X0 + col_stop, Y0 - row)


def write_vector(path: Path, geometries: list[object], crs: str = UTM_17N) -> Path:
    gpd.GeoDataFrame(geometry=geometries, crs=crs).to_file(path)
    return path


def assert_every_pixel(probabilities: np.ndarray, expected: list[float]) -> None:
    """``probabilities`` ``(C, N)`` holds ``expected`` at each of its N > 0 pixels."""
    assert probabilities.shape[1] > 0
    column = np.asarray(expected, dtype=np.float32)[:, np.newaxis]
    np.testing.assert_allclose(
        probabilities, np.broadcast_to(column, probabilities.shape), atol=1e-6
    )


# ---------------------------------------------------------------- code tables


def test_a_code_table_normalises_each_row() -> None:
    table = CodeTable.from_mapping({1: {0: 2.0, 1: 6.0}, 3: {2: 5.0}}, n_classes=3)

    probabilities = table(np.array([[1, 3]]))

    assert probabilities.shape == (3, 1, 2)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities[:, 0, 0], [0.25, 0.75, 0.0])
    np.testing.assert_allclose(probabilities[:, 0, 1], [0.0, 0.0, 1.0])


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32])
def test_unknown_codes_and_codes_beyond_the_table_are_unlabelled(dtype: type) -> None:
    table = CodeTable.from_mapping({1: {0: 1.0}, 3: {1: 1.0}}, n_classes=2)
    codes = np.array([[0, 1, 2, 3, 4, 5, 127]], dtype=dtype)
    if np.issubdtype(dtype, np.signedinteger):
        codes = np.concatenate([codes, [[-1, -5, 1, 3, 4, 100, 3]]]).astype(dtype)

    probabilities = table(codes)

    known = (codes == 1) | (codes == 3)
    assert np.isnan(probabilities[:, ~known]).all()
    assert np.isfinite(probabilities[:, known]).all()
    np.testing.assert_array_equal(probabilities[0][codes == 1], 1.0)
    np.testing.assert_array_equal(probabilities[1][codes == 3], 1.0)


def test_a_code_table_refuses_negative_codes_and_empty_rows() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        CodeTable.from_mapping({-1: {0: 1.0}}, n_classes=2)
    with pytest.raises(ValueError, match="code 4 has no positive class probability"):
        CodeTable.from_mapping({4: {0: 0.0, 1: 0.0}}, n_classes=2)


# ---------------------------------------------------------------- probability rasters


def test_a_probability_raster_is_read_bilinear_onto_the_grid(tmp_path: Path, grid: Grid) -> None:
    # 10 m cells, 6 × 6 of them around the grid, a ramp from west to east.
    ramp = np.tile(np.linspace(0.0, 1.0, 6, dtype=np.float32), (6, 1))
    transform = Affine(10.0, 0.0, X0 - 10.0, 0.0, -10.0, Y0 + 10.0)
    path = write_raster(tmp_path / "p.tif", np.stack([ramp, 1 - ramp]), UTM_17N, transform)

    labels = read_all(WeakLabelSources(grid, 2, [ProbabilityRaster(path, (1, 2))]))

    expected = np.zeros((2, SIZE, SIZE), dtype=np.float32)
    with rasterio.open(path) as dataset:
        for band in (1, 2):
            reproject(
                rasterio.band(dataset, band),
                expected[band - 1],
                dst_transform=grid.transform,
                dst_crs=grid.crs,
                resampling=Resampling.bilinear,
            )
    assert labels.labelled.all()
    np.testing.assert_allclose(labels.probabilities, expected, atol=1e-5)
    # Bilinear, not nearest: far more values than the six of the source, smooth across columns.
    assert len(np.unique(labels.probabilities[0])) > 20
    assert (np.diff(labels.probabilities[0], axis=1) >= -1e-6).all()
    np.testing.assert_allclose(labels.probabilities.sum(axis=0), 1.0, atol=1e-5)


def test_probability_bands_are_read_in_the_order_given(tmp_path: Path, grid: Grid) -> None:
    bands = np.stack([np.full((SIZE, SIZE), value, np.float32) for value in (0.1, 0.3, 0.6)])
    path = write_raster(tmp_path / "p.tif", bands, UTM_17N)

    labels = read_all(WeakLabelSources(grid, 2, [ProbabilityRaster(path, (3, 1))]))

    # Bands 3 and 1, in that order, normalised to sum to one per pixel.
    np.testing.assert_allclose(labels.probabilities[:, 5, 5], [0.6 / 0.7, 0.1 / 0.7], rtol=1e-6)


def test_scaled_priors_are_normalised(tmp_path: Path, grid: Grid) -> None:
    """An EnviroAtlas-style uint8 prior (255 = certain) reads as probabilities."""
    bands = np.stack([np.full((SIZE, SIZE), value, np.uint8) for value in (51, 204)])
    path = write_raster(tmp_path / "p.tif", bands, UTM_17N)

    labels = read_all(WeakLabelSources(grid, 2, [ProbabilityRaster(path, (1, 2))]))

    np.testing.assert_allclose(labels.probabilities[:, 5, 5], [0.2, 0.8], rtol=1e-6)


def test_the_probability_bands_must_match_the_classes(tmp_path: Path, grid: Grid) -> None:
    path = write_raster(tmp_path / "p.tif", np.full((2, 8, 8), 0.5, np.float32), UTM_17N)

    with pytest.raises(ValueError, match="gives 2 bands for 3 classes") as raised:
        WeakLabelSources(grid, 3, [ProbabilityRaster(path, (1, 2))])
    assert str(path) in str(raised.value)
    with pytest.raises(BandError, match=r"has 2 band\(s\)"):
        WeakLabelSources(grid, 3, [ProbabilityRaster(path, (1, 2, 3))])


def test_pixels_with_zero_probability_or_nodata_are_unlabelled(tmp_path: Path, grid: Grid) -> None:
    bands = np.full((2, SIZE, SIZE), 0.5, np.float32)
    bands[:, :10] = 0.0  # no probability at all: no label
    bands[:, 30:] = -1.0  # the file's nodata
    path = write_raster(tmp_path / "p.tif", bands, UTM_17N, nodata=-1.0)

    labels = read_all(WeakLabelSources(grid, 2, [ProbabilityRaster(path, (1, 2))]))

    assert not labels.labelled[:10].any()
    assert not labels.labelled[30:].any()
    assert labels.labelled[10:30].all()
    assert (labels.probabilities[:, 30:] == 0).all()


# ---------------------------------------------------------------- vector burn-in


def test_vectors_override_raster_labels_with_their_class(tmp_path: Path, grid: Grid) -> None:
    codes = np.full((SIZE, SIZE // 2), 7, np.uint8)  # covers the western half only
    raster = write_raster(tmp_path / "codes.tif", codes, UTM_17N, nodata=0)
    table = CodeTable.from_mapping({7: {0: 0.7, 1: 0.3}}, n_classes=3)
    buildings = write_vector(tmp_path / "b.gpkg", [pixel_box(10, 5, 30, 15)])

    labels = read_all(
        WeakLabelSources(grid, 3, [CodeRaster(raster, 1, table)], [VectorBurn(buildings, 2)])
    )

    burnt = np.zeros((SIZE, SIZE), bool)
    burnt[5:15, 10:30] = True
    west = np.zeros((SIZE, SIZE), bool)
    west[:, : SIZE // 2] = True
    np.testing.assert_array_equal(labels.labelled, west | burnt)
    assert_every_pixel(labels.probabilities[:, burnt], [0.0, 0.0, 1.0])
    assert_every_pixel(labels.probabilities[:, west & ~burnt], [0.7, 0.3, 0.0])
    assert (labels.probabilities[:, ~west & ~burnt] == 0).all()


def test_a_later_vector_wins_and_a_buffer_widens_lines(tmp_path: Path, grid: Grid) -> None:
    raster = write_raster(tmp_path / "codes.tif", np.full((SIZE, SIZE), 1, np.uint8), UTM_17N)
    table = CodeTable.from_mapping({1: {0: 1.0}}, n_classes=3)
    row_20 = Y0 - 20.0
    road = write_vector(tmp_path / "road.gpkg", [LineString([(X0, row_20), (X0 + SIZE, row_20)])])
    water = write_vector(tmp_path / "water.gpkg", [pixel_box(0, 0, 5, SIZE)])

    labels = read_all(
        WeakLabelSources(
            grid,
            3,
            [CodeRaster(raster, 1, table)],
            [VectorBurn(road, 1, buffer=3.0), VectorBurn(water, 2)],
        )
    )

    classes = np.argmax(labels.probabilities, axis=0)
    road_rows = np.flatnonzero(classes[:, 20] == 1)
    np.testing.assert_array_equal(road_rows, np.arange(17, 23))  # 3 m each side of the line
    assert (classes[:, :5] == 2).all()  # water is burnt after the road, over it
    assert (classes[:, 5:][~np.isin(np.arange(SIZE), road_rows)] == 0).all()


def test_padding_beyond_the_window_is_never_labelled(tmp_path: Path, grid: Grid) -> None:
    raster = write_raster(tmp_path / "codes.tif", np.full((SIZE, SIZE), 1, np.uint8), UTM_17N)
    table = CodeTable.from_mapping({1: {0: 1.0}}, n_classes=2)
    everywhere = write_vector(tmp_path / "v.gpkg", [pixel_box(-10, -10, 60, 60)])

    labels = read_all(
        WeakLabelSources(grid, 2, [CodeRaster(raster, 1, table)], [VectorBurn(everywhere, 1)]),
        pad=8,
    )

    assert labels.labelled.shape == (SIZE + 8, SIZE + 8)
    assert labels.labelled[:SIZE, :SIZE].all()
    assert not labels.labelled[SIZE:].any()
    assert not labels.labelled[:, SIZE:].any()


# ---------------------------------------------------------------- several raster sources


def test_raster_sources_are_averaged_where_both_label_a_pixel(tmp_path: Path, grid: Grid) -> None:
    table = CodeTable.from_mapping({1: {0: 0.8, 1: 0.2}, 2: {1: 1.0}}, n_classes=2)
    everywhere = write_raster(tmp_path / "a.tif", np.full((SIZE, SIZE), 1, np.uint8), UTM_17N)
    # 2 m cells, code 2 in the northern half, nodata (0) in the southern, 9 (not in the table)
    # in a western strip of the northern half.
    codes = np.zeros((SIZE // 2, SIZE // 2), np.uint8)
    codes[: SIZE // 4] = 2
    codes[: SIZE // 4, :5] = 9
    coarse = Affine(2.0, 0.0, X0, 0.0, -2.0, Y0)
    north = write_raster(tmp_path / "b.tif", codes, UTM_17N, coarse, nodata=0)

    labels = read_all(
        WeakLabelSources(grid, 2, [CodeRaster(everywhere, 1, table), CodeRaster(north, 1, table)])
    )

    assert labels.labelled.all()
    both = np.zeros((SIZE, SIZE), bool)
    both[: SIZE // 2, 10:] = True
    assert_every_pixel(labels.probabilities[:, both], [0.4, 0.6])
    assert_every_pixel(labels.probabilities[:, ~both], [0.8, 0.2])


def test_pixels_no_source_labels_are_unlabelled_with_zero_probability(
    tmp_path: Path, grid: Grid
) -> None:
    table = CodeTable.from_mapping({1: {0: 1.0}}, n_classes=2)
    codes = np.zeros((SIZE, SIZE), np.uint8)
    codes[:, :25] = 1
    path = write_raster(tmp_path / "a.tif", codes, UTM_17N, nodata=0)

    labels = read_all(WeakLabelSources(grid, 2, [CodeRaster(path, 1, table)]))

    assert labels.labelled[:, :25].all()
    assert not labels.labelled[:, 25:].any()
    assert (labels.probabilities[:, :, 25:] == 0).all()
    assert labels.probabilities.dtype == np.float32


def test_sources_are_checked_when_built(tmp_path: Path, grid: Grid) -> None:
    table = CodeTable.from_mapping({1: {0: 1.0}}, n_classes=2)
    far = Affine(30.0, 0.0, 300_000.0, 0.0, -30.0, 3_000_000.0)
    away = write_raster(tmp_path / "far.tif", np.ones((4, 4), np.uint8), UTM_17N, far)

    with pytest.raises(ValueError, match="at least one weak-label source"):
        WeakLabelSources(grid, 2, [])
    with pytest.raises(NoOverlapError, match="does not overlap"):
        WeakLabelSources(grid, 2, [CodeRaster(away, 1, table)])
    with pytest.raises(BandError):
        WeakLabelSources(grid, 2, [CodeRaster(away, 2, table)])


def test_a_code_naming_one_class_carries_the_stated_confidence(tmp_path: Path) -> None:
    write_raster(tmp_path / "imagery.tif", np.full((4, SIZE, SIZE), 100, np.uint8), UTM_17N)
    codes = np.full((SIZE, SIZE), 3, np.uint8)
    codes[:, :10] = 7
    write_raster(tmp_path / "codes.tif", codes, UTM_17N, nodata=0)
    for confidence, expected in ((None, 0.8), (0.95, 0.95), (1.0, 1.0)):
        source: dict[str, object] = {
            "kind": "class_codes",
            "path": "codes.tif",
            "table": {3: "trees", 7: {"water": 0.5, "grass": 0.5}},
        }
        if confidence is not None:
            source["confidence"] = confidence
        document = {
            "name": "codes",
            "imagery": {"paths": ["imagery.tif"], "bands": [1, 2, 3, 4]},
            "classes": "enviroatlas-5",
            "weak_labels": [source],
        }
        (tmp_path / "region.yaml").write_text(yaml.safe_dump(document))
        region = load_region(tmp_path / "region.yaml")
        grid = Grid(CRS.from_string(UTM_17N), Affine(1.0, 0.0, X0, 0.0, -1.0, Y0), SIZE, SIZE)
        with weak_label_sources(region, grid, region.imagery.paths[0]).opened() as read:
            labels = read(grid.full_window, (SIZE, SIZE))
        trees = region.classes.names.index("trees")
        named = labels.probabilities[:, :, 10:].reshape(5, -1)
        rest = [(1 - expected) / 4] * 5
        assert_every_pixel(named, [*rest[:trees], expected, *rest[trees + 1 :]])
        # A code given as probabilities keeps them as they are.
        spread = labels.probabilities[:, :, :10].reshape(5, -1)
        assert_every_pixel(spread, [0.5, 0.0, 0.0, 0.0, 0.5])
