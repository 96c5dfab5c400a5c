"""Tiny datasets in torchgeo's EnviroAtlas and Chesapeake (CVPR 2019) file layouts.

Every layer is a 64 × 64 GeoTIFF at 1 m in UTM 17N with plausible values, named and placed
exactly as torchgeo's datasets expect (``EnviroAtlas``, ``ChesapeakeCVPR`` of torchgeo
0.8.1 and their test-data scripts), with a ``spatial_index.geojson`` in EPSG:3857 holding
the columns torchgeo reads. Run ``python -m tests.landcover.layout_data FOLDER`` to look
at one.

Each tile has the same features, in pixels (row, column):

- roads: rows 8-10; buildings: rows 40-47 × columns 40-47;
- waterbodies: rows 52-63 × columns 0-15; waterways: column 30, rows 20-35;
- NLCD: deciduous forest (41) in columns 0-31, developed medium (23) in columns 32-63.
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine
from torchgeo.datasets import ChesapeakeCVPR, EnviroAtlas

SIZE = 64
CRS = "EPSG:26917"
ORIGIN = (584_000.0, 4_478_000.0)  # Pittsburgh PA in UTM 17N

ROADS = (slice(8, 11), slice(None))
BUILDINGS = (slice(40, 48), slice(40, 48))
WATERBODIES = (slice(52, 64), slice(0, 16))
WATERWAYS = (slice(20, 36), slice(30, 31))

ENVIROATLAS_TEST = "pittsburgh_pa-2010_1m-test"
ENVIROATLAS_TILES = {  # tile → (split, column of the tile from ORIGIN)
    "4007924_ne": (ENVIROATLAS_TEST, 0),
    "4007924_nw": (ENVIROATLAS_TEST, 1),
    "4007925_se": ("pittsburgh_pa-2010_1m-train", 2),
}
CHESAPEAKE_TEST = "wv-test"
CHESAPEAKE_TILES = {
    "m_3907833_nw_17_1": ("wv_1m_2014_extended-debuffered-test_tiles", CHESAPEAKE_TEST, 0),
    "m_3907833_ne_17_1": ("wv_1m_2014_extended-debuffered-test_tiles", CHESAPEAKE_TEST, 1),
    "m_3708035_ne_17_1": ("wv_1m_2014_extended-debuffered-val_tiles", "wv-val", 2),
}


def mask_of(*regions: tuple[slice, slice]) -> np.ndarray:
    """``(SIZE, SIZE)`` uint8, 1 inside ``regions``."""
    mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
    for region in regions:
        mask[region] = 1
    return mask


def codes(left: int, right: int) -> np.ndarray:
    """``(SIZE, SIZE)`` uint8: ``left`` in the left half, ``right`` in the right half."""
    array = np.full((SIZE, SIZE), left, dtype=np.uint8)
    array[:, SIZE // 2 :] = right
    return array


def one_hot_prior(classes: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n_classes, SIZE, SIZE)`` uint8 probabilities × 255: 200 on the pixel's class."""
    prior = np.full((n_classes, SIZE, SIZE), 55 // (n_classes - 1), dtype=np.uint8)
    for k in range(n_classes):
        prior[k][classes == k] = 200
    return prior


def enviroatlas_layers(seed: int) -> dict[str, np.ndarray]:
    """File suffix → array, the layers of one EnviroAtlas tile."""
    water = mask_of(WATERBODIES, WATERWAYS)
    impervious = mask_of(ROADS, BUILDINGS)
    # NLCD as EnviroAtlas's 0-16 index: 8 is NLCD 41, 5 is NLCD 23.
    nlcd = codes(8, 5)
    labels = codes(40, 70)  # trees, grass
    labels[SIZE // 2 :, : SIZE // 4] = 52  # shrubs
    labels[impervious == 1] = 20
    labels[water == 1] = 10
    # Prior classes 0-4: water, impervious, barren, trees, grass.
    prior_classes = np.where(labels == 70, 4, 3)
    prior_classes[impervious == 1] = 1
    prior_classes[water == 1] = 0
    prior_no_osm = np.where(labels == 70, 4, 3)
    return {
        "a_naip": np.random.default_rng(seed).integers(1, 256, (4, SIZE, SIZE), dtype=np.uint8),
        "b_nlcd": nlcd,
        "c_roads": mask_of(ROADS),
        "d_water": water,
        "d1_waterways": mask_of(WATERWAYS),
        "d2_waterbodies": mask_of(WATERBODIES),
        "e_buildings": mask_of(BUILDINGS),
        "h_highres_labels": labels,
        "prior_from_cooccurrences_101_31": one_hot_prior(prior_classes, 5),
        "prior_from_cooccurrences_101_31_no_osm_no_buildings": one_hot_prior(prior_no_osm, 5),
    }


# torchgeo's spatial-index column of each EnviroAtlas file suffix (its test-data script).
ENVIROATLAS_COLUMNS = {
    "a_naip": "naip",
    "b_nlcd": "nlcd",
    "c_roads": "roads",
    "d_water": "water",
    "d1_waterways": "waterways",
    "d2_waterbodies": "waterbodies",
    "e_buildings": "buildings",
    "h_highres_labels": "lc",
    "prior_from_cooccurrences_101_31": "prior",
    "prior_from_cooccurrences_101_31_no_osm_no_buildings": "prior_no_osm_no_buildings",
}


def chesapeake_layers(seed: int) -> dict[str, np.ndarray]:
    """File suffix (= torchgeo layer name) → array, the layers of one Chesapeake tile."""
    rng = np.random.default_rng(seed)
    labels = codes(2, 3)  # forest, field
    labels[ROADS] = 6
    labels[BUILDINGS] = 5
    labels[WATERBODIES] = 1
    labels[0:4, 0:4] = 15  # no data
    # Prior classes 0-3: water, forest, field, impervious.
    prior_classes = np.select([labels == 1, labels == 2, labels == 3], [0, 1, 2], 3)
    landsat = rng.random((9, SIZE, SIZE), dtype=np.float32)
    return {
        "naip-new": rng.integers(1, 256, (4, SIZE, SIZE), dtype=np.uint8),
        "naip-old": rng.integers(1, 256, (4, SIZE, SIZE), dtype=np.uint8),
        "landsat-leaf-on": landsat,
        "landsat-leaf-off": landsat,
        "lc": labels,
        "nlcd": codes(41, 23),  # raw NLCD codes here
        "buildings": mask_of(BUILDINGS),
        "prior_from_cooccurrences_101_31_no_osm_no_buildings": one_hot_prior(prior_classes, 4),
    }


def transform_of(column: int) -> Affine:
    return Affine(1.0, 0.0, ORIGIN[0] + column * SIZE, 0.0, -1.0, ORIGIN[1])


def write_tif(path: Path, array: np.ndarray, transform: Affine) -> None:
    array = array if array.ndim == 3 else array[np.newaxis]
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "crs": CRS, "transform": transform, "compress": "deflate"}
    count, height, width = array.shape
    with rasterio.open(
        path, "w", count=count, height=height, width=width, dtype=array.dtype, **profile
    ) as dataset:
        dataset.write(array)


def write_index(path: Path, rows: list[dict[str, str]], footprints: list[shapely.Polygon]) -> None:
    """torchgeo's ``spatial_index.geojson``: tile footprints in EPSG:3857, one path per layer."""
    frame = gpd.GeoDataFrame(rows, geometry=footprints, crs=CRS).to_crs("EPSG:3857")
    frame.to_file(path, driver="GeoJSON")


def add_integrity_stand_ins(folder: Path, files: tuple[str, ...]) -> None:
    """Empty stand-ins for the files torchgeo's ``_verify`` wants before it reads an index
    (every split folder, one tile of another split); no test reads them."""
    for name in files:
        path = folder / name
        if path.exists():
            continue
        if name.endswith(".tif"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        else:
            path.mkdir(parents=True, exist_ok=True)


def footprint(column: int) -> shapely.Polygon:
    transform = transform_of(column)
    left, top = transform.c, transform.f
    return shapely.box(left, top - SIZE, left + SIZE, top)


def write_enviroatlas(root: Path) -> Path:
    """Write the EnviroAtlas layout under ``root`` (torchgeo's ``root``); returns ``root``."""
    folder = root / "enviroatlas_lotp"
    rows, footprints = [], []
    for seed, (tile, (split, column)) in enumerate(ENVIROATLAS_TILES.items()):
        split_folder = f"{split}_tiles-debuffered"
        row = {"split": split}
        for suffix, array in enviroatlas_layers(seed).items():
            name = f"{split_folder}/{tile}_{suffix}.tif"
            write_tif(folder / name, array, transform_of(column))
            row[ENVIROATLAS_COLUMNS[suffix]] = name
        rows.append(row)
        footprints.append(footprint(column))
    write_index(folder / "spatial_index.geojson", rows, footprints)
    add_integrity_stand_ins(folder, EnviroAtlas._files)
    return root


def write_chesapeake(root: Path) -> Path:
    """Write the Chesapeake CVPR layout in ``root`` (torchgeo's ``root``); returns ``root``."""
    rows, footprints = [], []
    for seed, (tile, (split_folder, split, column)) in enumerate(CHESAPEAKE_TILES.items()):
        row = {"split": split}
        for layer, array in chesapeake_layers(seed).items():
            name = f"{split_folder}/{tile}_{layer}.tif"
            write_tif(root / name, array, transform_of(column))
            if not layer.startswith("prior"):  # the prior came later, in its own archive
                row[layer] = name
        rows.append(row)
        footprints.append(footprint(column))
    write_index(root / "spatial_index.geojson", rows, footprints)
    add_integrity_stand_ins(root, ChesapeakeCVPR._files)
    return root


if __name__ == "__main__":
    target = Path(sys.argv[1])
    write_enviroatlas(target / "enviroatlas")
    write_chesapeake(target / "cvpr_chesapeake_landcover")
    print(target)
