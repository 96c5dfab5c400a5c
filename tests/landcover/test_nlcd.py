"""NLCD rasters as weak labels: raw codes or EnviroAtlas's 0-16 indices, through a table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from affine import Affine

from geoppp.config import load_region
from geoppp.geo.raster import grid_of
from geoppp.landcover.cooccurrence import NLCD_CODES, load_table, mean_of_builtin_tables
from geoppp.landcover.nlcd import detect_encoding, nlcd_code_table
from geoppp.landcover.schemes import load_scheme
from geoppp.region import weak_label_sources
from tests.rasters import CONUS_ALBERS, PITTSBURGH_UTM, random_image, write_raster

# The upper-left corner of the test imagery (Pittsburgh) in CONUS Albers, where NLCD lives.
ALBERS_X, ALBERS_Y = 1_338_374.0, 2_050_081.0
NLCD_TRANSFORM = Affine(30.0, 0.0, ALBERS_X - 60.0, 0.0, -30.0, ALBERS_Y + 60.0)
RAW_CODES = [11, 21, 22, 23, 24, 31, 41, 42, 43, 52, 71, 81, 82, 90, 95]


def write_nlcd(path: Path, codes: np.ndarray) -> Path:
    return write_raster(path, codes.astype(np.uint8), CONUS_ALBERS, NLCD_TRANSFORM)


def tiled(values: list[int], shape: tuple[int, int] = (12, 12)) -> np.ndarray:
    return np.resize(np.array(values, dtype=np.uint8), shape)


# ---------------------------------------------------------------- encoding


def test_raw_nlcd_codes_are_detected_as_raw(tmp_path: Path) -> None:
    path = write_nlcd(tmp_path / "raw.tif", tiled([0, *RAW_CODES]))

    assert detect_encoding(path) == "raw"


@pytest.mark.parametrize(
    "values",
    [list(range(17)), [0, 3, 8, 13], [8], [1, 11, 12]],
    ids=["all-indices", "some-indices", "forest-only", "water-and-11-12"],
)
def test_enviroatlas_indices_are_detected_as_indices(tmp_path: Path, values: list[int]) -> None:
    path = write_nlcd(tmp_path / "index.tif", tiled(values))

    assert detect_encoding(path) == "index"


@pytest.mark.parametrize("values", [[0, 11, 12], [11], [0, 12]])
def test_a_raster_of_only_0_11_or_12_is_read_as_raw_codes(
    tmp_path: Path, values: list[int]
) -> None:
    path = write_nlcd(tmp_path / "ambiguous.tif", tiled(values))

    assert detect_encoding(path) == "raw"


def test_the_encoding_is_detected_on_the_band_asked_for(tmp_path: Path) -> None:
    bands = np.stack([tiled(list(range(17))), tiled(RAW_CODES)])
    path = write_nlcd(tmp_path / "two.tif", bands)

    assert detect_encoding(path, band=1) == "index"
    assert detect_encoding(path, band=2) == "raw"


def test_the_encoding_is_detected_on_a_decimated_read_of_a_large_raster(tmp_path: Path) -> None:
    # Forest (index 8) in blocks of 8 × 8 pixels survives a read at one pixel in four.
    blocks = np.kron(tiled([8, 0, 13, 3], (50, 50)), np.ones((8, 8), dtype=np.uint8))
    path = write_nlcd(tmp_path / "large.tif", blocks)

    assert detect_encoding(path, sample=100) == "index"


# ---------------------------------------------------------------- code tables


@pytest.mark.parametrize("table", ["pittsburgh_pa", "phoenix_az"])
def test_index_i_has_the_probabilities_of_raw_code_nlcd_codes_i(table: str) -> None:
    scheme = load_scheme("enviroatlas-5")

    raw = nlcd_code_table(table, scheme, "raw")
    index = nlcd_code_table(table, scheme, "index")

    for i, code in enumerate(NLCD_CODES):
        np.testing.assert_array_equal(index.lookup[:, i], raw.lookup[:, code], err_msg=str(code))
    labelled = [i for i in range(len(NLCD_CODES)) if np.isfinite(index.lookup[0, i])]
    # Everything but no data (0) and perennial ice (12, in no city) carries a label.
    assert [NLCD_CODES[i] for i in labelled] == [c for c in NLCD_CODES if c not in (0, 12)]
    np.testing.assert_allclose(index.lookup[:, labelled].sum(axis=0), 1.0, atol=1e-6)
    # Only indices 0-16 are known: 21, a raw code, means nothing as an index.
    assert np.isnan(index.lookup[:, 21]).all()


def test_a_city_without_forest_gets_the_forest_prior_of_the_other_cities() -> None:
    scheme = load_scheme("enviroatlas-5")
    expected = load_table("pittsburgh_pa").fold(scheme)  # has forest: the fallback stays out
    fallback = mean_of_builtin_tables().fold(scheme)

    pittsburgh = nlcd_code_table("pittsburgh_pa", scheme, "raw")
    phoenix = nlcd_code_table("phoenix_az", scheme, "raw")

    for index, probability in expected[41].items():
        assert pittsburgh.lookup[index, 41] == pytest.approx(probability, abs=1e-6)
    for index, probability in fallback[41].items():
        assert phoenix.lookup[index, 41] == pytest.approx(probability, abs=1e-6)
    trees = scheme.names.index("trees")
    assert phoenix.lookup[trees, 41] > 0.5


def test_a_region_reads_raw_and_index_nlcd_to_the_same_weak_labels(tmp_path: Path) -> None:
    codes = np.resize(np.array(RAW_CODES, dtype=np.uint8), (8, 8))
    indices = np.vectorize(NLCD_CODES.index)(codes).astype(np.uint8)
    write_nlcd(tmp_path / "raw.tif", codes)
    write_nlcd(tmp_path / "index.tif", indices)
    transform = Affine(2.0, 0.0, PITTSBURGH_UTM[0], 0.0, -2.0, PITTSBURGH_UTM[1])
    imagery = write_raster(tmp_path / "imagery.tif", random_image(40, 40), transform=transform)

    labels = {}
    for name in ("raw", "index"):
        document = {
            "name": name,
            "imagery": {"paths": ["imagery.tif"], "bands": [1, 2, 3, 4]},
            "classes": "enviroatlas-5",
            "weak_labels": [
                {"kind": "nlcd", "path": f"{name}.tif", "table": "durham_nc", "blur": None}
            ],
        }
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(document))
        region = load_region(tmp_path / f"{name}.yaml")
        grid = grid_of(imagery)
        with weak_label_sources(region, grid, imagery).opened() as read:
            labels[name] = read(grid.full_window, (grid.height, grid.width))

    assert labels["raw"].labelled.all()
    np.testing.assert_array_equal(labels["index"].labelled, labels["raw"].labelled)
    np.testing.assert_array_equal(labels["index"].probabilities, labels["raw"].probabilities)
    # Several NLCD classes fall on the imagery: the comparison is not of one constant.
    assert len(np.unique(labels["raw"].probabilities[0])) >= 3
