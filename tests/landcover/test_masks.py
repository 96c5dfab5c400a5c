"""Mask rasters as weak labels: non-zero pixels are one class, grown by a buffer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject

from geoppp.config import HARD_LABEL_CONFIDENCE, load_region
from geoppp.errors import ConfigError
from geoppp.geo.grid import Grid, PixelWindow
from geoppp.landcover.weak_labels import (
    CodeRaster,
    CodeTable,
    MaskBurn,
    WeakLabels,
    WeakLabelSources,
)
from geoppp.region import weak_label_sources
from tests.rasters import CONUS_ALBERS, PITTSBURGH_UTM, UTM_17N, random_image, write_raster

X0, Y0 = PITTSBURGH_UTM
SIZE = 48
WATER, IMPERVIOUS, TREES = 0, 1, 2


@pytest.fixture
def grid() -> Grid:
    """48 × 48 pixels of 1 m in UTM 17N."""
    return Grid(CRS.from_string(UTM_17N), Affine(1.0, 0.0, X0, 0.0, -1.0, Y0), SIZE, SIZE)


def read(sources: WeakLabelSources, window: PixelWindow | None = None) -> WeakLabels:
    window = window or PixelWindow(0, 0, SIZE, SIZE)
    with sources.opened() as reader:
        return reader(window, (window.height, window.width))


def disk(shape: tuple[int, int], row: int, col: int, radius: float) -> np.ndarray:
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    return np.hypot(rows - row, cols - col) <= radius


def test_non_zero_mask_pixels_become_one_hot_of_the_class(tmp_path: Path, grid: Grid) -> None:
    # Trees everywhere from a code raster; the mask (any non-zero value) says impervious.
    trees = write_raster(tmp_path / "trees.tif", np.full((SIZE, SIZE), 7, np.uint8))
    table = CodeTable.from_mapping({7: {TREES: 0.8, WATER: 0.2}}, 3)
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[10:20, 5:9] = 1
    mask[30, 30:40] = 255
    path = write_raster(tmp_path / "roads.tif", mask)

    labels = read(
        WeakLabelSources(grid, 3, [CodeRaster(trees, 1, table)], masks=[MaskBurn(path, 1, 1)])
    )

    burnt = mask != 0
    assert labels.labelled.all()
    np.testing.assert_array_equal(labels.probabilities[:, burnt].T, [[0, 1, 0]] * burnt.sum())
    np.testing.assert_allclose(labels.probabilities[:, ~burnt].T, [[0.2, 0, 0.8]] * (~burnt).sum())


def test_a_mask_alone_labels_only_its_pixels(tmp_path: Path, grid: Grid) -> None:
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[:, 20:23] = 3
    path = write_raster(tmp_path / "water.tif", mask)

    labels = read(WeakLabelSources(grid, 3, [], masks=[MaskBurn(path, 1, WATER)]))

    np.testing.assert_array_equal(labels.labelled, mask != 0)
    assert (labels.probabilities[WATER] == (mask != 0)).all()
    assert (labels.probabilities[1:] == 0).all()


@pytest.mark.parametrize("buffer", [1, 3, 5])
def test_a_buffer_grows_the_mask_by_a_disk_of_that_many_pixels(
    tmp_path: Path, grid: Grid, buffer: int
) -> None:
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[20, 24] = 1
    mask[30:33, 10] = 1
    path = write_raster(tmp_path / "buildings.tif", mask)

    labels = read(WeakLabelSources(grid, 3, [], masks=[MaskBurn(path, 1, IMPERVIOUS, buffer)]))

    expected = disk((SIZE, SIZE), 20, 24, buffer)
    for row in (30, 31, 32):
        expected |= disk((SIZE, SIZE), row, 10, buffer)
    np.testing.assert_array_equal(labels.labelled, expected)
    assert (labels.probabilities[IMPERVIOUS][expected] == 1).all()


def test_a_buffered_mask_is_read_per_window_as_on_the_whole_grid(
    tmp_path: Path, grid: Grid
) -> None:
    # A pixel just outside the window still grows into it.
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[15, 18] = mask[40, 40] = 1
    sources = WeakLabelSources(
        grid, 3, [], masks=[MaskBurn(write_raster(tmp_path / "m.tif", mask), 1, WATER, 4)]
    )
    window = PixelWindow(16, 20, 24, 18)

    part = read(sources, window)

    full = read(sources)
    rows, cols = window.relative_to(grid.full_window)
    assert part.labelled.any()
    np.testing.assert_array_equal(part.labelled, full.labelled[rows, cols])
    np.testing.assert_array_equal(part.probabilities, full.probabilities[:, rows, cols])


def test_a_mask_on_another_crs_and_resolution_is_reprojected_nearest(
    tmp_path: Path, grid: Grid
) -> None:
    # 3 m pixels in CONUS Albers around the grid (its corner is near (1 338 375, 2 050 081)).
    transform = Affine(3.0, 0.0, 1_338_375.0 - 30.0, 0.0, -3.0, 2_050_081.0 + 30.0)
    mask = (np.random.default_rng(4).random((40, 40)) > 0.6).astype(np.uint8) * 9
    path = write_raster(tmp_path / "albers.tif", mask, CONUS_ALBERS, transform)

    labels = read(WeakLabelSources(grid, 3, [], masks=[MaskBurn(path, 1, TREES)]))

    expected = np.zeros((SIZE, SIZE), np.uint8)
    with rasterio.open(path) as dataset:
        reproject(
            rasterio.band(dataset, 1),
            expected,
            dst_transform=grid.transform,
            dst_crs=grid.crs,
            resampling=Resampling.nearest,
        )
    assert set(np.unique(expected)) == {0, 9}  # nearest: no value but the mask's own
    mismatch = np.mean(labels.labelled != (expected != 0))
    assert mismatch < 0.005, f"{mismatch:.2%} of pixels differ from rasterio's nearest reprojection"
    assert 0.2 < labels.labelled.mean() < 0.6
    assert (labels.probabilities[TREES] == labels.labelled).all()


def write_region(folder: Path, resolution: float, mask: dict[str, object]) -> Path:
    transform = Affine(resolution, 0.0, X0, 0.0, -resolution, Y0)
    write_raster(folder / "imagery.tif", random_image(24, 24), transform=transform)
    document = {
        "name": "masks",
        "imagery": {"paths": ["imagery.tif"], "bands": [1, 2, 3, 4]},
        "classes": "enviroatlas-5",
        "weak_labels": [{"kind": "mask", "path": "roads.tif", **mask}],
    }
    path = folder / "region.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_a_region_mask_buffer_in_metres_becomes_pixels_of_the_imagery(tmp_path: Path) -> None:
    # 2 m imagery, a 6 m buffer: 3 pixels. The mask is on the imagery grid.
    transform = Affine(2.0, 0.0, X0, 0.0, -2.0, Y0)
    mask = np.zeros((24, 24), np.uint8)
    mask[12, 12] = 1
    write_raster(tmp_path / "roads.tif", mask, transform=transform)
    region = load_region(write_region(tmp_path, 2.0, {"class": "impervious", "buffer": 6.0}))
    grid = Grid(CRS.from_string(UTM_17N), transform, 24, 24)

    sources = weak_label_sources(region, grid, region.imagery.paths[0])

    (burn,) = sources.masks
    impervious = region.classes.names.index("impervious")
    assert burn == MaskBurn(tmp_path / "roads.tif", 1, impervious, 3, HARD_LABEL_CONFIDENCE)
    with sources.opened() as reader:
        labels = reader(grid.full_window, (24, 24))
    np.testing.assert_array_equal(labels.labelled, disk((24, 24), 12, 12, 3))
    # A mask is sure, not certain: its class at the default confidence, the rest spread.
    burnt = labels.probabilities[:, labels.labelled]
    np.testing.assert_allclose(burnt[impervious], HARD_LABEL_CONFIDENCE)
    others = np.delete(burnt, impervious, axis=0)
    np.testing.assert_allclose(others, (1 - HARD_LABEL_CONFIDENCE) / 4, rtol=1e-6)


def test_a_mask_of_confidence_one_is_one_hot(tmp_path: Path) -> None:
    write_raster(tmp_path / "roads.tif", np.ones((8, 8), np.uint8))
    region = load_region(write_region(tmp_path, 1.0, {"class": "water", "confidence": 1.0}))
    grid = Grid(CRS.from_string(UTM_17N), Affine(1.0, 0.0, X0, 0.0, -1.0, Y0), 8, 8)
    with weak_label_sources(region, grid, region.imagery.paths[0]).opened() as reader:
        labels = reader(grid.full_window, (8, 8))
    water = region.classes.names.index("water")
    assert (labels.probabilities[water] == 1).all()
    assert (np.delete(labels.probabilities, water, axis=0) == 0).all()


def test_a_region_mask_must_name_a_class_of_the_scheme(tmp_path: Path) -> None:
    path = write_region(tmp_path, 1.0, {"class": "roads"})

    with pytest.raises(ConfigError, match=r"roads\.tif names class\(es\) \['roads'\]"):
        load_region(path)
