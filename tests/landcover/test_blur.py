"""The Gaussian blur of weak-label probabilities, alone and as NLCD sources read it per window."""

from __future__ import annotations

from math import erf, sqrt
from pathlib import Path

import numpy as np
import pytest
import yaml
from affine import Affine
from rasterio.crs import CRS

from geoppp.config import load_region
from geoppp.geo.grid import Grid, PixelWindow
from geoppp.landcover.nlcd import nlcd_code_table
from geoppp.landcover.schemes import load_scheme
from geoppp.landcover.weak_labels import (
    Blur,
    CodeRaster,
    WeakLabels,
    WeakLabelSources,
    blur_probabilities,
)
from geoppp.region import weak_label_sources
from tests.rasters import CONUS_ALBERS, PITTSBURGH_UTM, UTM_17N, random_image, write_raster

X0, Y0 = PITTSBURGH_UTM
SIZE = 120
# NLCD, 30 m in CONUS Albers, over the grid and beyond it (the grid's corner in Albers is
# about (1 338 375, 2 050 081)).
NLCD_TRANSFORM = Affine(30.0, 0.0, 1_338_375.0 - 90.0, 0.0, -30.0, 2_050_081.0 + 90.0)
NLCD_CODES_USED = np.array([11, 21, 22, 23, 24, 41, 52, 71, 81, 82, 90], dtype=np.uint8)


def random_probabilities(classes: int, shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    values = np.random.default_rng(seed).random((classes, *shape)).astype(np.float32)
    return values / values.sum(axis=0)


def holes(shape: tuple[int, int], seed: int = 1) -> np.ndarray:
    """A labelled mask with a block and scattered pixels unlabelled."""
    labelled = np.random.default_rng(seed).random(shape) > 0.1
    labelled[5:15, 20:30] = False
    return labelled


# ---------------------------------------------------------------- blur_probabilities


def test_blurred_columns_sum_to_one_on_labelled_pixels() -> None:
    probabilities = random_probabilities(4, (40, 50))
    labelled = holes((40, 50))

    blurred = blur_probabilities(probabilities, labelled, Blur(sigma=3.0, radius=9))

    assert blurred.shape == probabilities.shape
    assert blurred.dtype == np.float32
    np.testing.assert_allclose(blurred.sum(axis=0)[labelled], 1.0, atol=1e-5)
    assert (blurred >= 0).all()
    # It did blur: random noise is much smoother afterwards.
    assert blurred[0][labelled].std() < 0.3 * probabilities[0][labelled].std()


def test_unlabelled_pixels_stay_zero() -> None:
    probabilities = random_probabilities(3, (40, 50))
    probabilities[:, ~holes((40, 50))] = np.nan  # as a code table marks unknown codes
    labelled = holes((40, 50))

    blurred = blur_probabilities(probabilities, labelled, Blur(sigma=4.0, radius=12))

    assert (blurred[:, ~labelled] == 0).all()
    assert np.isfinite(blurred).all()  # no NaN leaks into labelled neighbours


def test_a_constant_field_is_unchanged_next_to_holes_and_borders() -> None:
    column = np.array([0.2, 0.5, 0.3], dtype=np.float32)
    probabilities = np.broadcast_to(column[:, None, None], (3, 30, 40)).copy()
    labelled = holes((30, 40))

    blurred = blur_probabilities(probabilities, labelled, Blur(sigma=5.0, radius=15))

    np.testing.assert_allclose(blurred[:, labelled], probabilities[:, labelled], atol=1e-6)


def step_profile(sigma: float, width: int = 200) -> np.ndarray:
    """Class 0's blurred probability across a step from class 0 (left) to class 1 (right)."""
    probabilities = np.zeros((2, 5, width), dtype=np.float32)
    probabilities[0, :, : width // 2] = 1.0
    probabilities[1, :, width // 2 :] = 1.0
    labelled = np.ones((5, width), dtype=bool)
    blurred = blur_probabilities(probabilities, labelled, Blur(sigma, round(4 * sigma)))
    return blurred[0, 2]


def test_a_step_edge_becomes_a_gaussian_ramp_whose_width_grows_with_sigma() -> None:
    widths = {}
    for sigma in (2.0, 6.0):
        profile = step_profile(sigma)
        # The ramp is 1 - Φ(x / σ) around the edge between pixels 99 and 100.
        expected = [0.5 * (1 - erf((x - 99.5) / (sigma * sqrt(2)))) for x in range(200)]
        np.testing.assert_allclose(profile, expected, atol=0.01)
        assert (np.diff(profile) <= 1e-6).all()
        assert profile[:50] == pytest.approx(1.0) and profile[150:] == pytest.approx(0.0, abs=1e-6)
        widths[sigma] = int(np.count_nonzero((profile > 0.05) & (profile < 0.95)))

    assert widths[2.0] >= 5  # about 3.3 σ between 5% and 95%
    assert 2.5 < widths[6.0] / widths[2.0] < 3.5


# ---------------------------------------------------------------- NLCD sources per window


@pytest.fixture
def grid() -> Grid:
    """120 × 120 pixels of 1 m in UTM 17N."""
    return Grid(CRS.from_string(UTM_17N), Affine(1.0, 0.0, X0, 0.0, -1.0, Y0), SIZE, SIZE)


@pytest.fixture
def nlcd(tmp_path: Path) -> Path:
    """Random NLCD codes at 30 m in CONUS Albers, nodata 0 in one cell inside the grid."""
    codes = np.random.default_rng(3).choice(NLCD_CODES_USED, size=(12, 12))
    codes[4, 4] = 0
    return write_raster(tmp_path / "nlcd.tif", codes, CONUS_ALBERS, NLCD_TRANSFORM, nodata=0)


def blurred_sources(grid: Grid, nlcd: Path, blur: Blur | None) -> WeakLabelSources:
    table = nlcd_code_table("pittsburgh_pa", load_scheme("enviroatlas-5"), "raw")
    return WeakLabelSources(grid, 5, [CodeRaster(nlcd, 1, table, blur)])


def read(sources: WeakLabelSources, window: PixelWindow, pad_to: tuple[int, int]) -> WeakLabels:
    with sources.opened() as reader:
        return reader(window, pad_to)


@pytest.mark.parametrize(
    "window",
    [
        PixelWindow(40, 50, 32, 24),  # in the middle: the halo is read on every side
        PixelWindow(0, 0, 30, 30),  # at a corner: the halo stops at the grid
        PixelWindow(100, 10, 20, 64),  # along the bottom edge
    ],
    ids=["middle", "corner", "bottom"],
)
def test_a_window_is_blurred_as_if_the_whole_raster_were(
    grid: Grid, nlcd: Path, window: PixelWindow
) -> None:
    blur = Blur(sigma=8.0, radius=24)
    sources = blurred_sources(grid, nlcd, blur)
    full = read(sources, grid.full_window, (SIZE, SIZE))
    rows, cols = window.relative_to(grid.full_window)

    part = read(sources, window, (window.height, window.width))

    np.testing.assert_allclose(part.probabilities, full.probabilities[:, rows, cols], atol=1e-5)
    np.testing.assert_array_equal(part.labelled, full.labelled[rows, cols])
    # The halo matters: blurring the window's own pixels alone gives other values.
    sharp = read(blurred_sources(grid, nlcd, None), window, (window.height, window.width))
    alone = blur_probabilities(sharp.probabilities, sharp.labelled, blur)
    assert np.abs(alone - part.probabilities).max() > 1e-3


def test_blur_keeps_labels_where_nlcd_has_them_and_pads_with_nothing(
    grid: Grid, nlcd: Path
) -> None:
    sharp = read(blurred_sources(grid, nlcd, None), grid.full_window, (SIZE + 8, SIZE + 8))
    blurred = read(
        blurred_sources(grid, nlcd, Blur(8.0, 24)), grid.full_window, (SIZE + 8, SIZE + 8)
    )

    np.testing.assert_array_equal(blurred.labelled, sharp.labelled)
    assert not sharp.labelled.all() and sharp.labelled.mean() > 0.5  # the nodata cell shows
    assert (blurred.probabilities[:, ~blurred.labelled] == 0).all()
    assert not blurred.labelled[SIZE:].any() and not blurred.labelled[:, SIZE:].any()
    sums = blurred.probabilities.sum(axis=0)[blurred.labelled]
    np.testing.assert_allclose(sums, 1.0, atol=1e-5)
    # Sharp NLCD has a handful of distinct columns; blurred, nearly every pixel differs.
    assert len(np.unique(sharp.probabilities[3])) <= len(NLCD_CODES_USED) + 1
    assert len(np.unique(blurred.probabilities[3])) > 1000


def write_region(folder: Path, resolution: float, blur: object) -> Path:
    transform = Affine(resolution, 0.0, X0, 0.0, -resolution, Y0)
    write_raster(folder / "imagery.tif", random_image(30, 30), transform=transform)
    source: dict[str, object] = {"kind": "nlcd", "path": "nlcd.tif", "table": "pittsburgh_pa"}
    if blur != "default":
        source["blur"] = blur
    document = {
        "name": "blurred",
        "imagery": {"paths": ["imagery.tif"], "bands": [1, 2, 3, 4]},
        "classes": "enviroatlas-5",
        "weak_labels": [source],
    }
    path = folder / "region.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize(
    ("resolution", "blur", "expected"),
    [
        (2.0, {"sigma": 12.0, "radius": 24.0}, Blur(6.0, 12)),
        (0.5, {"sigma": 3.0, "radius": 10.0}, Blur(6.0, 20)),
        (1.0, "default", Blur(31.0, 50)),  # Rolf et al.: σ 31 px, kernel 101 px at 1 m
        (1.0, None, None),
    ],
)
def test_a_region_gives_the_blur_in_ground_units_converted_to_pixels(
    tmp_path: Path, nlcd: Path, resolution: float, blur: object, expected: Blur | None
) -> None:
    region = load_region(write_region(tmp_path, resolution, blur))
    imagery = region.imagery.paths[0]
    transform = Affine(resolution, 0.0, X0, 0.0, -resolution, Y0)
    grid = Grid(CRS.from_string(UTM_17N), transform, 30, 30)

    sources = weak_label_sources(region, grid, imagery)

    (source,) = sources.rasters
    assert isinstance(source, CodeRaster)
    assert source.path == nlcd
    assert source.blur == expected
