"""Tiled regions: wildcards in imagery paths, and `{tile}` in the paths of each tile's data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from affine import Affine

from geoppp.config import ImageryConfig, load_region
from geoppp.errors import ConfigError
from geoppp.geo.raster import grid_of
from geoppp.pipeline import check_file
from geoppp.region import for_tile, weak_label_sources
from tests.rasters import CONUS_ALBERS, PITTSBURGH_UTM, random_image, write_raster

X0, Y0 = PITTSBURGH_UTM
TILE = 32
# 30 m NLCD in CONUS Albers over both tiles (their corner is near (1 338 375, 2 050 081)).
NLCD_TRANSFORM = Affine(30.0, 0.0, 1_338_375.0 - 150.0, 0.0, -30.0, 2_050_081.0 + 150.0)
TILE_NLCD = {"a": 11, "b": 41}  # water in tile a, deciduous forest in tile b


def write_tiles(folder: Path) -> None:
    """Two imagery tiles side by side, each with its own NLCD, and a stray file."""
    tiles = folder / "tiles"
    tiles.mkdir()
    for offset, (tile, code) in enumerate(TILE_NLCD.items()):
        transform = Affine(1.0, 0.0, X0 + offset * TILE, 0.0, -1.0, Y0)
        image = random_image(TILE, TILE, seed=offset)
        write_raster(tiles / f"{tile}_naip.tif", image, transform=transform)
        nlcd = np.full((12, 12), code, dtype=np.uint8)
        write_raster(tiles / f"{tile}_nlcd.tif", nlcd, CONUS_ALBERS, NLCD_TRANSFORM)
    write_raster(tiles / "c_other.tif", random_image(4, 4))  # matched by no pattern below


def region_document(paths: list[str], **imagery: Any) -> dict[str, Any]:
    return {
        "name": "tiled",
        "imagery": {"paths": paths, "bands": [1, 2, 3, 4], **imagery},
        "classes": "enviroatlas-5",
        "weak_labels": [
            {"kind": "nlcd", "path": "tiles/{tile}_nlcd.tif", "table": "durham_nc", "blur": None}
        ],
    }


def write_region(folder: Path, document: dict[str, Any]) -> Path:
    path = folder / "region.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_a_wildcard_finds_the_tiles_and_each_tile_finds_its_own_nlcd(tmp_path: Path) -> None:
    write_tiles(tmp_path)
    path = write_region(tmp_path, region_document(["tiles/*_naip.tif"], tile_suffix="_naip"))

    region = load_region(path)

    tiles = tmp_path / "tiles"
    assert region.imagery.paths == [tiles / "a_naip.tif", tiles / "b_naip.tif"]
    assert [region.imagery.tile_of(p) for p in region.imagery.paths] == ["a", "b"]
    nlcd = region.weak_labels[0].path
    for imagery, tile in zip(region.imagery.paths, "ab", strict=True):
        assert for_tile(nlcd, region, imagery) == tiles / f"{tile}_nlcd.tif"
    water, trees = region.classes.names.index("water"), region.classes.names.index("trees")
    argmax = {}
    for imagery in region.imagery.paths:
        grid = grid_of(imagery)
        with weak_label_sources(region, grid, imagery).opened() as read:
            labels = read(grid.full_window, (TILE, TILE))
        assert labels.labelled.all()
        argmax[imagery.name] = set(np.unique(np.argmax(labels.probabilities, axis=0)).tolist())
    assert argmax == {"a_naip.tif": {water}, "b_naip.tif": {trees}}
    assert "2 imagery file(s)" in check_file(path)[0]


def test_without_a_tile_suffix_the_tile_is_the_whole_file_name(tmp_path: Path) -> None:
    imagery = ImageryConfig(paths=[tmp_path / "x.tif"], bands=[1])
    suffixed = ImageryConfig(paths=[tmp_path / "x.tif"], bands=[1], tile_suffix="_naip")

    assert imagery.tile_of(tmp_path / "3743_a_naip.tif") == "3743_a_naip"
    assert suffixed.tile_of(tmp_path / "3743_a_naip.tif") == "3743_a"
    assert suffixed.tile_of(tmp_path / "3743_a_nlcd.tif") == "3743_a_nlcd"  # no suffix to drop


def test_a_tile_whose_own_data_is_missing_is_reported(tmp_path: Path) -> None:
    write_tiles(tmp_path)
    (tmp_path / "tiles" / "b_nlcd.tif").unlink()
    path = write_region(tmp_path, region_document(["tiles/*_naip.tif"], tile_suffix="_naip"))

    with pytest.raises(OSError, match=r"b_nlcd\.tif"):
        check_file(path)


def test_wildcards_and_plain_paths_mix_in_order(tmp_path: Path) -> None:
    write_tiles(tmp_path)
    document = region_document(["tiles/c_other.tif", "tiles/?_naip.tif"], tile_suffix="_naip")

    region = load_region(write_region(tmp_path, document))

    assert [p.name for p in region.imagery.paths] == ["c_other.tif", "a_naip.tif", "b_naip.tif"]


def test_a_wildcard_that_matches_nothing_is_a_config_error_naming_it(tmp_path: Path) -> None:
    write_tiles(tmp_path)
    path = write_region(tmp_path, region_document(["tiles/*_naip.tiff"]))

    with pytest.raises(ConfigError) as error:
        load_region(path)

    message = str(error.value)
    assert "`imagery.paths`" in message
    assert "no file matches" in message
    assert str(tmp_path / "tiles" / "*_naip.tiff") in message
