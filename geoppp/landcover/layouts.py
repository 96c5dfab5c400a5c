"""Regions found in the dataset layouts torchgeo knows: EnviroAtlas and Chesapeake (CVPR 2019).

A region YAML may give `layout: {kind, root, split}` instead of listing its files;
:func:`expand_layout` turns that into the region's `imagery`, `weak_labels` and
`ground_truth` keys as plain YAML data (absolute paths, `{tile}` standing for each imagery
tile), which :mod:`geoppp.config` then validates like any region.

torchgeo's dataset classes supply what they know of each layout: the split names
(``EnviroAtlas.splits``, ``ChesapeakeCVPR.splits``), the layer names (``valid_layers``), the
city of each EnviroAtlas split (``cities``) and the EnviroAtlas label codes
(``raw_enviroatlas_to_idx_map``). The tiles of a split are read from the layout's
``spatial_index.geojson`` as those classes read it (``gpd.read_file``, rows whose ``split``
is the split, paths relative to the layout folder), but without instantiating the classes,
because in torchgeo 0.8.1 their constructors:

- refuse a partial copy: ``_verify`` wants every split folder of every city or state, plus
  one particular tile (an Austin one, a West Virginia one), before reading any index;
- extract ``enviroatlas_lotp.zip`` (or the Chesapeake zips) found beside the data, which a
  YAML check must not do;
- give EnviroAtlas's ``prior`` layers the NAIP file's path (``Series.replace`` matches whole
  values, not the ``a_naip`` inside them), so the prior paths are built here.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
from torchgeo.datasets import ChesapeakeCVPR, EnviroAtlas

from geoppp.landcover.schemes import load_scheme

INDEX = "spatial_index.geojson"
NAIP_BANDS = {"bands": [1, 2, 3, 4], "band_names": ["red", "green", "blue", "nir"]}
"""NAIP tiles of both layouts: R, G, B, NIR. Chesapeake's files flag band 4 as alpha, but a
band asked for as data is read as data."""


@dataclass(frozen=True)
class DatasetLayout:
    """One of torchgeo's file layouts, as geoppp finds a region in it."""

    name: str
    splits: Sequence[str]
    subfolder: str
    """Folder of ``root`` that holds the spatial index and the split folders ("" for root)."""
    archive: str
    """The archive the user downloaded and extracted into ``root``, for messages."""
    suffixes: Mapping[str, str]
    """Layer name → end of its file names after the tile name."""
    imagery: str
    """The layer used as imagery."""

    def file_of(self, split_folder: Path, layer: str) -> str:
        """The path of ``layer``'s files in ``split_folder``, `{tile}` standing for the tile."""
        return str(split_folder / f"{{tile}}{self.suffixes[layer]}")


# torchgeo lists its layers by name (`valid_layers`) but spells their file names only in the
# integrity lists `_files` and in its test-data scripts; these mirror them (a test checks
# each against `_files`).
ENVIROATLAS = DatasetLayout(
    name="EnviroAtlas",
    splits=EnviroAtlas.splits,
    subfolder="enviroatlas_lotp",
    archive="enviroatlas_lotp.zip",
    suffixes={
        "naip": "_a_naip.tif",
        "nlcd": "_b_nlcd.tif",
        "roads": "_c_roads.tif",
        "water": "_d_water.tif",
        "waterways": "_d1_waterways.tif",
        "waterbodies": "_d2_waterbodies.tif",
        "buildings": "_e_buildings.tif",
        "lc": "_h_highres_labels.tif",
        "prior": "_prior_from_cooccurrences_101_31.tif",
        "prior_no_osm_no_buildings": "_prior_from_cooccurrences_101_31_no_osm_no_buildings.tif",
    },
    imagery="naip",
)
CHESAPEAKE = DatasetLayout(
    name="Chesapeake (CVPR 2019)",
    splits=ChesapeakeCVPR.splits,
    subfolder="",
    archive="cvpr_chesapeake_landcover.zip",
    suffixes={layer: f"_{layer}.tif" for layer in ChesapeakeCVPR.valid_layers},
    imagery="naip-new",
)
CHESAPEAKE_PRIOR = "prior_from_cooccurrences_101_31_no_osm_no_buildings"
CHESAPEAKE_PRIOR_ARCHIVE = "cvpr_chesapeake_landcover_prior_extension.zip"
LAYOUTS = {"enviroatlas": ENVIROATLAS, "chesapeake": CHESAPEAKE}
WEAK_LABELS = ("nlcd", "prior")


def expand_layout(kind: str, root: Path, split: str, weak_labels: str) -> dict[str, Any]:
    """The `imagery`, `weak_labels` and `ground_truth` keys of a region in a dataset layout.

    Args:
        kind: ``enviroatlas`` or ``chesapeake``.
        root: The data root as torchgeo takes it: the folder that holds ``enviroatlas_lotp/``
            (EnviroAtlas), or the folder where ``cvpr_chesapeake_landcover.zip`` was
            extracted, holding ``spatial_index.geojson`` (Chesapeake).
        split: One of torchgeo's splits, e.g. ``pittsburgh_pa-2010_1m-test`` or ``wv-test``.
        weak_labels: ``nlcd`` (NLCD through a co-occurrence table, with the roads, water and
            buildings layers burnt in) or ``prior`` (the dataset's own prior layer).

    Returns:
        Plain YAML-like data with absolute path strings; other paths than the imagery's
        contain `{tile}`, the imagery file's name without its layer suffix.

    Raises:
        ValueError: unknown kind, split or weak-label choice; a root, spatial index or
            layer file that is missing; a split with no tiles. The message names the
            culprit and the fix.
    """
    if kind not in LAYOUTS:
        raise ValueError(f"unknown layout kind {kind!r}; expected one of {sorted(LAYOUTS)}")
    if weak_labels not in WEAK_LABELS:
        raise ValueError(f"unknown weak_labels {weak_labels!r}; expected one of {WEAK_LABELS}")
    layout = LAYOUTS[kind]
    check_split(layout, split)
    folder = layout_folder(layout, Path(root))
    imagery = split_imagery(layout, folder, split)
    split_folder = imagery[0].parent
    build = _enviroatlas if layout is ENVIROATLAS else _chesapeake
    found = build(layout, split_folder, split, weak_labels)
    check_files(layout, Path(root), split, imagery, found)
    return {
        "imagery": {
            "paths": [str(path) for path in imagery],
            "tile_suffix": layout.suffixes[layout.imagery].removesuffix(".tif"),
            **NAIP_BANDS,
        },
        **found,
    }


def check_split(layout: DatasetLayout, split: str) -> None:
    """Raise ``ValueError`` listing torchgeo's splits if ``split`` is not one of them."""
    if split in layout.splits:
        return
    close = difflib.get_close_matches(split, layout.splits, n=1)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    raise ValueError(
        f"unknown {layout.name} split {split!r} in `layout.split`; torchgeo's splits are "
        f"{list(layout.splits)}{hint}"
    )


def layout_folder(layout: DatasetLayout, root: Path) -> Path:
    """The folder holding the layout's spatial index, or ``ValueError`` saying which root
    to give instead."""
    expected = (
        f"the folder that holds `{layout.subfolder}/`"
        if layout.subfolder
        else (
            f"the folder where {layout.archive} was extracted (it holds `{INDEX}` and the "
            "`*_tiles` folders)"
        )
    )
    if not root.is_dir():
        raise ValueError(
            f"`layout.root` {root} is not a folder; give {expected}, as torchgeo's `root` "
            f"for {layout.name}"
        )
    folder = root / layout.subfolder
    if (folder / INDEX).is_file():
        return folder
    if layout.subfolder and root.name == layout.subfolder and (root / INDEX).is_file():
        hint = f"; {root} is that folder itself: give its parent {root.parent}"
    elif not layout.subfolder and (root / "cvpr_chesapeake_landcover" / INDEX).is_file():
        hint = f"; give {root / 'cvpr_chesapeake_landcover'} instead"
    else:
        hint = f" (download and extract {layout.archive} there)"
    raise ValueError(f"no {folder / INDEX}: `layout.root` must be {expected}{hint}")


def read_index(path: Path) -> Any:
    """The attribute table of a torchgeo spatial index: a pandas DataFrame, one row per
    tile, without geometry (pandas ships no type hints, hence ``Any``)."""
    try:
        return gpd.read_file(path, ignore_geometry=True)
    except Exception as error:  # pyogrio and fiona raise their own error types
        raise ValueError(f"cannot read the spatial index {path}: {error}") from error


def split_imagery(layout: DatasetLayout, folder: Path, split: str) -> list[Path]:
    """The imagery files of ``split``'s tiles, in the spatial index's order.

    Raises:
        ValueError: the index lacks torchgeo's columns, lists no tile of ``split``, or
            puts the split's tiles in several folders (a region finds each tile's other
            layers beside its imagery, through `{tile}`).
    """
    path = folder / INDEX
    index = read_index(path)
    missing = sorted({"split", layout.imagery} - set(index.columns))
    if missing:
        raise ValueError(
            f"{path} has no column(s) {missing}: not a torchgeo {layout.name} spatial index"
        )
    rows = index[index["split"] == split]
    if rows.empty:
        listed = sorted(set(index["split"]))
        raise ValueError(
            f"{path} lists no tile of split {split!r} (it lists {listed}); give a split that "
            f"is in the data, or extract the whole {layout.archive}"
        )
    imagery = [folder / name for name in rows[layout.imagery]]
    folders = sorted({str(path.parent) for path in imagery})
    if len(folders) > 1:
        raise ValueError(
            f"{path} puts the tiles of split {split!r} in several folders {folders}; "
            "geoppp expects one folder per split, as torchgeo's datasets have"
        )
    suffix = layout.suffixes[layout.imagery]
    odd = [path.name for path in imagery if not path.name.endswith(suffix)]
    if odd:
        raise ValueError(f"{path}: imagery files {odd[:3]} do not end with {suffix!r}")
    return imagery


def check_files(
    layout: DatasetLayout, root: Path, split: str, imagery: list[Path], found: dict[str, Any]
) -> None:
    """Raise ``ValueError`` naming the first imagery or layer file missing for a tile."""
    suffix = layout.suffixes[layout.imagery]
    tiles = [path.name.removesuffix(suffix) for path in imagery]
    templates = [source["path"] for source in found["weak_labels"]]
    templates.append(found["ground_truth"]["path"])
    for template in [str(imagery[0].parent / f"{{tile}}{suffix}"), *templates]:
        absent = [template.replace("{tile}", tile) for tile in tiles]
        absent = [path for path in absent if not Path(path).is_file()]
        if absent:
            archive = (
                CHESAPEAKE_PRIOR_ARCHIVE
                if template.endswith(f"{CHESAPEAKE_PRIOR}.tif")
                else layout.archive
            )
            raise ValueError(
                f"{layout.name} split {split!r}: {len(absent)} of {len(tiles)} tiles lack "
                f"the file {absent[0]}; extract {archive} into {root} again"
            )


def _enviroatlas(
    layout: DatasetLayout, split_folder: Path, split: str, weak_labels: str
) -> dict[str, Any]:
    """EnviroAtlas weak labels and ground truth, for the enviroatlas-5 class names.

    With ``nlcd``, the layers are combined as the dataset's own prior was made (Rolf et al.
    2022, implicit-posterior's make_priors_enviroatlas.py): NLCD through the city's
    co-occurrence table, blurred (geoppp's default, their σ 31 px at 1 m); OpenStreetMap
    water from waterbodies and waterways (the `water` layer is their union, so it is not
    used too), waterways, rasterised as 1-pixel lines, grown by 2 m as that script does;
    roads (already 3 pixels wide) and building footprints as impervious, burnt in after
    water so that bridges stay impervious.
    """
    file = files_in(layout, split_folder)
    if weak_labels == "prior":
        # 5 bands, uint8 × 255, in the order water, impervious, barren, trees, grass
        # (the make_priors script drops the unclassified row of its 6 classes).
        sources: list[dict[str, Any]] = [
            {"kind": "probabilities", "path": file("prior"), "bands": [1, 2, 3, 4, 5]}
        ]
    else:
        city = next(city for city in EnviroAtlas.cities if split.startswith(city))
        sources = [
            # EnviroAtlas stores NLCD as its 0-16 index, not as raw NLCD codes.
            {
                "kind": "nlcd",
                "path": file("nlcd"),
                "table": city.split("-")[0],
                "encoding": "index",
            },
            {"kind": "mask", "path": file("waterbodies"), "class": "water"},
            {"kind": "mask", "path": file("waterways"), "class": "water", "buffer": 2.0},
            {"kind": "mask", "path": file("roads"), "class": "impervious"},
            {"kind": "mask", "path": file("buildings"), "class": "impervious"},
        ]
    return {
        "weak_labels": sources,
        "ground_truth": {"path": file("lc"), "table": enviroatlas_label_table()},
    }


def _chesapeake(
    layout: DatasetLayout, split_folder: Path, split: str, weak_labels: str
) -> dict[str, Any]:
    """Chesapeake weak labels and ground truth, for the chesapeake-4 class names."""
    file = files_in(layout, split_folder)
    if weak_labels == "prior":
        # 4 bands, uint8 × 255: water, forest, field, impervious (the make_priors script's
        # 5 Chesapeake classes without their no-data row).
        sources: list[dict[str, Any]] = [
            {"kind": "probabilities", "path": file(CHESAPEAKE_PRIOR), "bands": [1, 2, 3, 4]}
        ]
    else:
        sources = [
            # Raw NLCD codes here. geoppp ships EnviroAtlas co-occurrence tables only;
            # Pittsburgh is the nearest of their four cities to the Chesapeake states (it
            # borders PA, WV and MD), so its table stands in.
            {"kind": "nlcd", "path": file("nlcd"), "table": "pittsburgh_pa", "encoding": "raw"},
            {"kind": "mask", "path": file("buildings"), "class": "impervious"},
        ]
    return {
        "weak_labels": sources,
        "ground_truth": {"path": file("lc"), "table": chesapeake_label_table()},
    }


def files_in(layout: DatasetLayout, split_folder: Path) -> Callable[[str], str]:
    """Layer name → the `{tile}` path of its files in ``split_folder``."""
    return lambda layer: layout.file_of(split_folder, layer)


def enviroatlas_label_table() -> dict[int, str]:
    """EnviroAtlas high-resolution label codes (10 water, 20 impervious, ..., 92 emergent
    wetlands) → enviroatlas-5 class names.

    The codes and their order come from torchgeo's ``raw_enviroatlas_to_idx_map`` (code →
    class 1-10, 0 unclassified), the folding from the shipped scheme's `enviroatlas` lists
    (shrubs, orchards and woody wetlands are trees; agriculture and emergent wetlands grass).
    """
    name_of = {
        index: item.name
        for item in load_scheme("enviroatlas-5").classes
        for index in item.enviroatlas
    }
    to_index = EnviroAtlas.raw_enviroatlas_to_idx_map
    return {code: name_of[int(index)] for code, index in enumerate(to_index) if index}


def chesapeake_label_table() -> dict[int, str]:
    """Chesapeake land-cover codes (1 water, ..., 6 roads; 15 no data) → chesapeake-4 names,
    from the shipped scheme's `chesapeake` lists (barren and roads are impervious)."""
    return {
        code: item.name for item in load_scheme("chesapeake-4").classes for code in item.chesapeake
    }
