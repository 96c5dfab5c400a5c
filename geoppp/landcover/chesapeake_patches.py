"""Chesapeake Land Cover patches (NumPy ``.npz``) written as GeoTIFF regions.

The Chesapeake CVPR 2019 patches that ``../shared/data/chesapeake/patches`` holds are
arrays of 29 channels (two NAIP acquisitions, the 1 m land cover, NLCD upsampled to 1 m,
Landsat, buildings) with no georeference. geoppp maps GeoTIFF regions, so each patch is
written as the files a user would bring: 4-band NAIP imagery, NLCD raw codes and the land
cover, on one 1 m grid in UTM zone 17N (EPSG:26917, the CRS of West Virginia's NAIP tiles).

The patches record only their pixel position in their NAIP tile (``index.csv``), not the
tile's corner; the corner used here is the north-west corner of the tile's quarter
quadrangle (m_3708020_sw: 37.6875° N, 80.5° W) rounded to the metre, so positions are right
to within the tile's few hundred metres of overlap buffer. Nothing in geoppp depends on the
absolute position: NLCD and labels share the imagery's grid.

Three regions are written beside the files: ``source`` (patches 1, 2, 3, 5 and 7, on which
the shipped ``chesapeake-*`` priors were trained), ``target`` (0, 4 and 6, held out from
them) and ``all`` (the eight, for priors trained elsewhere, e.g. on the land cover of
``regions/chesapeake-lulc.yaml``).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from geoppp.errors import ConfigError

CRS = "EPSG:26917"
TILE_CORNER = (544084.0, 4171261.0)
"""Easting and northing of the NAIP quarter quadrangle m_3708020_sw's north-west corner."""
IMAGERY, LAND_COVER, NLCD = slice(0, 4), 8, 9
"""Channels of a patch (``../shared/data/README.md``): NAIP 2014 R, G, B, NIR; the
Chesapeake land cover; NLCD 2011 raw codes."""
LAND_COVER_NODATA = 15
SPLITS: dict[str, tuple[int, ...]] = {
    "source": (1, 2, 3, 5, 7),
    "target": (0, 4, 6),
    "all": (0, 1, 2, 3, 4, 5, 6, 7),
}
_GEOTIFF = {"driver": "GTiff", "tiled": True, "blockxsize": 256, "blockysize": 256}
_GEOTIFF_COMPRESSED = {**_GEOTIFF, "compress": "deflate"}


@dataclass(frozen=True)
class PatchRegions:
    """What :func:`write_patch_regions` wrote: each patch's imagery, and the region YAMLs."""

    imagery: dict[int, Path]
    regions: dict[str, Path]


def patch_files(folder: Path) -> dict[int, Path]:
    """The patch files of ``folder`` by patch number (the number ending each name)."""
    files = {int(path.stem.rsplit("-", 1)[-1]): path for path in folder.glob("*-[0-9]*.npz")}
    if not files:
        raise ConfigError(
            f"no Chesapeake patch (*-N.npz) in {folder}; give the folder that holds the "
            "patches and their index.csv (e.g. ../shared/data/chesapeake/patches)"
        )
    return dict(sorted(files.items()))


def patch_origins(folder: Path) -> dict[int, tuple[int, int]]:
    """Each patch's (row, column) in its NAIP tile, from the folder's ``index.csv``."""
    index = folder / "index.csv"
    if not index.is_file():
        raise ConfigError(f"{index} not found: the patches' positions in their tile are there")
    with index.open() as stream:
        return {
            int(row["patch_id"]): (int(row["y_coord"]), int(row["x_coord"]))
            for row in csv.DictReader(stream)
        }


def write_patch_regions(
    folder: Path, out: Path, splits: Sequence[str] = tuple(SPLITS)
) -> PatchRegions:
    """Write every patch of ``folder`` as GeoTIFFs into ``out``, and a region YAML per split.

    Files per patch ``N``: ``pN_naip.tif`` (R, G, B, NIR uint8), ``pN_nlcd.tif`` (NLCD raw
    codes, 1 m) and ``pN_lc.tif`` (Chesapeake codes, nodata 15); regions ``SPLIT.yaml``
    (classes chesapeake-4, NLCD through the Pittsburgh PA co-occurrence table with Rolf et
    al.'s blur, the land cover as ground truth).

    Raises:
        ConfigError: no patch in ``folder``, no ``index.csv``, or a split names a patch that
            is not there.
    """
    files = patch_files(folder)
    origins = patch_origins(folder)
    out.mkdir(parents=True, exist_ok=True)
    imagery = {}
    for number, path in files.items():
        data = np.load(path)["arr_0"][0]
        row, col = origins.get(number, (0, 0))
        transform = Affine(1.0, 0.0, TILE_CORNER[0] + col, 0.0, -1.0, TILE_CORNER[1] - row)
        imagery[number] = _write_patch(out / f"p{number}", data, transform)
    regions = {}
    for split in splits:
        missing = sorted(set(SPLITS[split]) - set(files))
        if missing:
            raise ConfigError(f"split {split} needs patches {missing}, which {folder} lacks")
        regions[split] = out / f"{split}.yaml"
        regions[split].write_text(region_yaml(split, SPLITS[split]))
    return PatchRegions(imagery, regions)


def _write_patch(stem: Path, data: np.ndarray, transform: Affine) -> Path:
    height, width = data.shape[1:]
    grid = {"width": width, "height": height, "crs": CRS, "transform": transform}
    image = stem.with_name(f"{stem.name}_naip.tif")
    # photometric RGB with an unspecified extra sample: band 4 is NIR, not alpha.
    with rasterio.open(
        image,
        "w",
        count=4,
        dtype="uint8",
        photometric="RGB",
        alpha="UNSPECIFIED",
        **grid,
        **_GEOTIFF_COMPRESSED,
    ) as dataset:
        dataset.write(np.clip(np.rint(data[IMAGERY]), 0, 255).astype(np.uint8))
        dataset.descriptions = ("red", "green", "blue", "nir")
    for suffix, channel, nodata in (("nlcd", NLCD, 0), ("lc", LAND_COVER, LAND_COVER_NODATA)):
        with rasterio.open(
            stem.with_name(f"{stem.name}_{suffix}.tif"),
            "w",
            count=1,
            dtype="uint8",
            nodata=nodata,
            **grid,
            **_GEOTIFF_COMPRESSED,
        ) as dataset:
            dataset.write(data[channel].astype(np.uint8)[np.newaxis])
    return image


def region_yaml(split: str, patches: Sequence[int]) -> str:
    """The region YAML of a split, with paths relative to the folder of the files."""
    paths = ", ".join(f"p{number}_naip.tif" for number in patches)
    numbers = ", ".join(map(str, patches))
    return f"""# Chesapeake Land Cover patches {numbers} ({split}), West Virginia, NAIP 2014
# with NLCD 2011 and the 1 m Chesapeake land cover, written by
# `geoppp make-chesapeake-regions`.
name: chesapeake-patches-{split}
imagery:
  paths: [{paths}]
  tile_suffix: _naip
  bands: [1, 2, 3, 4]
  band_names: [red, green, blue, nir]
classes: chesapeake-4
weak_labels:
  # Pittsburgh PA is the EnviroAtlas city nearest to West Virginia.
  - {{kind: nlcd, path: "{{tile}}_nlcd.tif", table: pittsburgh_pa, encoding: raw,
     blur: {{sigma: 31, radius: 50}}}}
ground_truth:
  path: "{{tile}}_lc.tif"
  table: {{1: water, 2: forest, 3: field, 4: impervious, 5: impervious, 6: impervious}}
"""
