"""Regions in torchgeo's EnviroAtlas and Chesapeake layouts, on files written by script."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import yaml
from torchgeo.datasets import ChesapeakeCVPR, EnviroAtlas

from geoppp.config import RegionConfig, load_region
from geoppp.errors import ConfigError
from geoppp.geo.raster import grid_of
from geoppp.landcover.layouts import CHESAPEAKE, ENVIROATLAS, expand_layout
from geoppp.pipeline import run_pipeline
from geoppp.region import for_tile, weak_label_sources
from tests.landcover import layout_data
from tests.landcover.layout_data import (
    BUILDINGS,
    CHESAPEAKE_TEST,
    ENVIROATLAS_TEST,
    ROADS,
    WATERBODIES,
    WATERWAYS,
    mask_of,
)
from tests.regions import pipeline_document, write_yaml

REGIONS = Path(__file__).resolve().parents[2] / "regions"
EA_CLASSES = ["water", "impervious", "barren", "trees", "grass"]
CC_CLASSES = ["water", "forest", "field", "impervious"]


@pytest.fixture(scope="module")
def enviroatlas_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return layout_data.write_enviroatlas(tmp_path_factory.mktemp("enviroatlas"))


@pytest.fixture(scope="module")
def chesapeake_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return layout_data.write_chesapeake(tmp_path_factory.mktemp("chesapeake"))


def region_yaml(folder: Path, layout: dict[str, Any], classes: str = "enviroatlas-5") -> Path:
    document = {"name": "layout-region", "layout": layout, "classes": classes}
    return write_yaml(folder / "regions" / "region.yaml", document)


def enviroatlas_region(folder: Path, root: Path, **layout: str) -> RegionConfig:
    """A region YAML in ``folder/regions`` whose `layout.root` is relative to it."""
    relative = os.path.relpath(root, folder / "regions")
    document = {"kind": "enviroatlas", "root": relative, "split": ENVIROATLAS_TEST}
    return load_region(region_yaml(folder, {**document, **layout}))


def weak_argmax(region: RegionConfig, imagery: Path) -> np.ndarray:
    """``(H, W)`` class index of the largest weak-label probability over a whole tile."""
    grid = grid_of(imagery)
    with weak_label_sources(region, grid, imagery).opened() as read:
        labels = read(grid.full_window, (grid.height, grid.width))
    assert labels.labelled.all()
    return np.asarray(labels.probabilities.argmax(axis=0))


def test_layer_file_names_are_torchgeos() -> None:
    # Each layer's file ending appears in the files torchgeo checks for.
    for layout, dataset in ((ENVIROATLAS, EnviroAtlas), (CHESAPEAKE, ChesapeakeCVPR)):
        assert set(layout.suffixes) == set(dataset.valid_layers)
        for suffix in layout.suffixes.values():
            assert any(name.endswith(suffix) for name in dataset._files), suffix


@pytest.mark.filterwarnings("ignore:The inplace keyword")
def test_torchgeo_finds_the_same_tiles(enviroatlas_root: Path, chesapeake_root: Path) -> None:
    # The script-made files are a layout torchgeo itself reads, tile for tile.
    dataset = EnviroAtlas(enviroatlas_root, splits=[ENVIROATLAS_TEST], layers=["naip", "lc"])
    found = expand_layout("enviroatlas", enviroatlas_root, ENVIROATLAS_TEST, "nlcd")
    folder = enviroatlas_root / "enviroatlas_lotp"
    assert [str(folder / name) for name in dataset.index["naip"]] == found["imagery"]["paths"]

    chesapeake = ChesapeakeCVPR(chesapeake_root, splits=[CHESAPEAKE_TEST], layers=["naip-new"])
    found = expand_layout("chesapeake", chesapeake_root, CHESAPEAKE_TEST, "nlcd")
    paths = [str(chesapeake_root / name) for name in chesapeake.index["naip-new"]]
    assert paths == found["imagery"]["paths"]


def test_enviroatlas_lists_the_tiles_of_the_split_only(enviroatlas_root: Path) -> None:
    found = expand_layout("enviroatlas", enviroatlas_root, ENVIROATLAS_TEST, "nlcd")
    names = [Path(path).name for path in found["imagery"]["paths"]]
    assert names == ["4007924_ne_a_naip.tif", "4007924_nw_a_naip.tif"]
    assert found["imagery"]["tile_suffix"] == "_a_naip"
    assert set(found) == {"imagery", "weak_labels", "ground_truth"}
    nlcd = found["weak_labels"][0]
    assert (nlcd["kind"], nlcd["table"], nlcd["encoding"]) == ("nlcd", "pittsburgh_pa", "index")
    assert found["ground_truth"]["table"] == {
        10: "water",
        20: "impervious",
        30: "barren",
        40: "trees",
        52: "trees",
        70: "grass",
        80: "grass",
        82: "trees",
        91: "trees",
        92: "grass",
    }


def test_region_with_layout_finds_each_tiles_files(enviroatlas_root: Path, tmp_path: Path) -> None:
    region = enviroatlas_region(tmp_path, enviroatlas_root)
    assert region.classes.names == EA_CLASSES
    assert len(region.imagery.paths) == 2
    assert region.ground_truth is not None
    for imagery in region.imagery.paths:
        tile = imagery.name.removesuffix("_a_naip.tif")
        truth = for_tile(region.ground_truth.path, region, imagery)
        assert truth.name == f"{tile}_h_highres_labels.tif"
        assert truth.is_file()
        for source in region.weak_labels:
            assert for_tile(source.path, region, imagery).is_file()


def test_nlcd_weak_labels_burn_in_roads_buildings_and_water(
    enviroatlas_root: Path, tmp_path: Path
) -> None:
    region = enviroatlas_region(tmp_path, enviroatlas_root)
    classes = weak_argmax(region, region.imagery.paths[1])
    impervious, water = EA_CLASSES.index("impervious"), EA_CLASSES.index("water")
    assert (classes[mask_of(ROADS, BUILDINGS) == 1] == impervious).all()
    assert (classes[mask_of(WATERBODIES, WATERWAYS) == 1] == water).all()
    # Waterways, 1-pixel lines, are grown by 2 m; the NLCD forest around them is trees.
    assert (classes[WATERWAYS[0], 28:33] == water).all()
    assert (classes[20:36, 26] == EA_CLASSES.index("trees")).all()


def test_prior_weak_labels_are_the_prior_layer(enviroatlas_root: Path, tmp_path: Path) -> None:
    region = enviroatlas_region(tmp_path, enviroatlas_root, weak_labels="prior")
    (source,) = region.weak_labels
    assert source.kind == "probabilities"
    imagery = region.imagery.paths[0]
    prior_path = for_tile(source.path, region, imagery)
    assert prior_path.name == "4007924_ne_prior_from_cooccurrences_101_31.tif"
    with rasterio.open(prior_path) as dataset:
        prior = dataset.read()
    assert prior.shape[0] == len(EA_CLASSES)
    np.testing.assert_array_equal(weak_argmax(region, imagery), prior.argmax(axis=0))


def test_chesapeake_region(chesapeake_root: Path, tmp_path: Path) -> None:
    layout = {"kind": "chesapeake", "root": str(chesapeake_root), "split": CHESAPEAKE_TEST}
    region = load_region(region_yaml(tmp_path, layout, "chesapeake-4"))
    assert [path.name for path in region.imagery.paths] == [
        "m_3907833_nw_17_1_naip-new.tif",
        "m_3907833_ne_17_1_naip-new.tif",
    ]
    nlcd, buildings = region.weak_labels
    assert (nlcd.kind, nlcd.table, nlcd.encoding) == ("nlcd", "pittsburgh_pa", "raw")
    assert (buildings.kind, buildings.class_name) == ("mask", "impervious")
    assert region.ground_truth is not None
    assert region.ground_truth.table == {
        1: "water",
        2: "forest",
        3: "field",
        4: "impervious",
        5: "impervious",
        6: "impervious",
    }
    classes = weak_argmax(region, region.imagery.paths[0])
    assert (classes[BUILDINGS] == CC_CLASSES.index("impervious")).all()

    prior = load_region(region_yaml(tmp_path, {**layout, "weak_labels": "prior"}, "chesapeake-4"))
    (source,) = prior.weak_labels
    assert source.kind == "probabilities"
    classes = weak_argmax(prior, prior.imagery.paths[0])
    assert (classes[WATERBODIES] == CC_CLASSES.index("water")).all()
    assert (classes[ROADS] == CC_CLASSES.index("impervious")).all()


def test_weak_argmax_pipeline_maps_each_tile(enviroatlas_root: Path, tmp_path: Path) -> None:
    enviroatlas_region(tmp_path, enviroatlas_root)  # writes regions/region.yaml
    (tmp_path / "out").mkdir()
    pipeline = write_yaml(
        tmp_path / "pipeline.yaml",
        pipeline_document("regions/region.yaml", class_map="out/{imagery}.tif"),
    )
    (report,) = run_pipeline(pipeline, log=lambda line: None)
    maps = sorted((tmp_path / "out").glob("*.tif"))
    assert [path.name for path in maps] == ["4007924_ne_a_naip.tif", "4007924_nw_a_naip.tif"]
    assert len(report.results) == 2
    with rasterio.open(maps[0]) as dataset:
        classes = dataset.read(1)
        assert dataset.crs.to_epsg() == 26917
    assert (classes[ROADS] == 2).all()  # impervious is value 2 of enviroatlas-5
    assert (classes[WATERBODIES] == 1).all()


def problem(path: Path) -> str:
    with pytest.raises(ConfigError) as error:
        load_region(path)
    return str(error.value)


def test_missing_root_says_which_folder_to_give(tmp_path: Path) -> None:
    layout = {"kind": "enviroatlas", "root": "../nowhere", "split": ENVIROATLAS_TEST}
    message = problem(region_yaml(tmp_path, layout))
    assert "region.yaml" in message
    assert str(tmp_path / "nowhere") in message
    assert "enviroatlas_lotp/" in message

    (tmp_path / "empty").mkdir()
    message = problem(region_yaml(tmp_path, {**layout, "root": "../empty"}))
    assert str(tmp_path / "empty" / "enviroatlas_lotp" / "spatial_index.geojson") in message
    assert "enviroatlas_lotp.zip" in message

    layout = {"kind": "chesapeake", "root": "../empty", "split": CHESAPEAKE_TEST}
    message = problem(region_yaml(tmp_path, layout, "chesapeake-4"))
    assert "spatial_index.geojson" in message
    assert "cvpr_chesapeake_landcover.zip" in message


def test_root_given_one_level_too_deep(enviroatlas_root: Path) -> None:
    with pytest.raises(ValueError, match="give its parent"):
        expand_layout(
            "enviroatlas", enviroatlas_root / "enviroatlas_lotp", ENVIROATLAS_TEST, "nlcd"
        )


def test_unknown_split_lists_torchgeos_splits(enviroatlas_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        enviroatlas_region(tmp_path, enviroatlas_root, split="pittsburgh-test")
    message = str(error.value)
    assert "'pittsburgh-test'" in message
    assert "durham_nc-2012_1m-val5" in message
    assert "did you mean `pittsburgh_pa-2010_1m-test`" in message


def test_split_without_tiles(enviroatlas_root: Path) -> None:
    with pytest.raises(ValueError, match="lists no tile of split 'austin_tx-2012_1m-test'"):
        expand_layout("enviroatlas", enviroatlas_root, "austin_tx-2012_1m-test", "nlcd")


def test_missing_layer_file_is_named(enviroatlas_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(enviroatlas_root, root)
    folder = root / "enviroatlas_lotp" / f"{ENVIROATLAS_TEST}_tiles-debuffered"
    (folder / "4007924_nw_c_roads.tif").unlink()
    with pytest.raises(ConfigError) as error:
        enviroatlas_region(tmp_path, root)
    message = str(error.value)
    assert "1 of 2 tiles" in message
    assert str(folder / "4007924_nw_c_roads.tif") in message
    assert "enviroatlas_lotp.zip" in message


@pytest.mark.parametrize(
    ("name", "split"),
    [
        ("enviroatlas-pittsburgh", "pittsburgh_pa-2010_1m-test"),
        ("enviroatlas-durham", "durham_nc-2012_1m-test"),
        ("enviroatlas-austin", "austin_tx-2012_1m-test"),
        ("enviroatlas-phoenix", "phoenix_az-2010_1m-test"),
        ("chesapeake", "wv-test"),
    ],
)
def test_shipped_regions(name: str, split: str) -> None:
    path = REGIONS / f"{name}.yaml"
    document = yaml.safe_load(path.read_text())
    assert document["layout"]["split"] == split
    # Without the data, the placeholder root gives an error that says what to edit.
    if not (path.parent / document["layout"]["root"]).exists():
        message = problem(path)
        assert str(path) in message
        assert "`layout.root`" in message


def test_shipped_region_on_data(enviroatlas_root: Path, tmp_path: Path) -> None:
    document = yaml.safe_load((REGIONS / "enviroatlas-pittsburgh.yaml").read_text())
    document["layout"]["root"] = str(enviroatlas_root)
    region = load_region(write_yaml(tmp_path / "region.yaml", document))
    assert len(region.imagery.paths) == 2
