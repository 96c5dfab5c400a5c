"""30 m NLCD in CONUS Albers derived from a 1 m class map, with the errors real NLCD has.

Each NLCD cell gets the code its class composition calls for (see ``nlcd_codes``), with
forest and herbaceous sub-types picked by a smooth random field so that they come in
patches; then a share of the cells is given a plausible wrong code, mostly a nearby cell's.
"""

from __future__ import annotations

import numpy as np
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds
from scipy import ndimage
from scipy.special import ndtr

from geoppp.landcover.synthetic.domains import CLASS_NAMES
from geoppp.landcover.synthetic.noise import smooth_noise

NLCD_CRS = "EPSG:5070"
RESOLUTION = 30.0
"""NLCD cell size, metres."""
GRID_OFFSET = 15.0
"""NLCD cell edges lie at 15 m modulo 30 m in CONUS Albers (its origin is -2493045, 3310005)."""
FOREST = (41, 42, 43)  # deciduous, evergreen, mixed
FOREST_SHARES = (0.6, 0.1, 0.3)
HERBACEOUS = (71, 81, 82)  # grassland, pasture/hay, cultivated crops
HERBACEOUS_SHARES = (0.3, 0.4, 0.3)

# Rule outcomes that cannot be told apart by composition share a family; an error always
# changes the family. A cell with no differing neighbour takes a classic confusion instead.
_FAMILY = np.full(256, -1, dtype=np.int16)
for _family, _codes in enumerate(((11,), (21,), (22,), (23,), (24,), (31,), FOREST, HERBACEOUS)):
    _FAMILY[list(_codes)] = _family
_CONFUSION = np.zeros(256, dtype=np.uint8)
for _code, _confused in {
    11: 95, 21: 22, 22: 21, 23: 22, 24: 23, 31: 71, 41: 81, 42: 81, 43: 81, 71: 31, 81: 41, 82: 31
}.items():  # fmt: skip
    _CONFUSION[_code] = _confused
_DIRECTIONS = np.array([(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)])
_SEARCH = 5  # cells walked in one direction for a neighbour with another code


def nlcd_grid(
    crs: str, transform: Affine, shape: tuple[int, int]
) -> tuple[Affine, tuple[int, int]]:
    """The 30 m NLCD grid in EPSG:5070, snapped to NLCD's cells, that covers a raster.

    Args:
        crs: CRS of the raster.
        transform: its affine transform.
        shape: its (H, W).

    Returns:
        The NLCD transform and (rows, columns).
    """
    left, top = transform @ (0, 0)
    right, bottom = transform @ (shape[1], shape[0])
    west, south, east, north = transform_bounds(
        crs, NLCD_CRS, min(left, right), min(top, bottom), max(left, right), max(top, bottom)
    )
    west = np.floor((west - GRID_OFFSET) / RESOLUTION) * RESOLUTION + GRID_OFFSET
    north = np.ceil((north - GRID_OFFSET) / RESOLUTION) * RESOLUTION + GRID_OFFSET
    columns = int(np.ceil((east - west) / RESOLUTION))
    rows = int(np.ceil((north - south) / RESOLUTION))
    return Affine(RESOLUTION, 0.0, west, 0.0, -RESOLUTION, north), (rows, columns)


def class_fractions(
    labels: np.ndarray,
    transform: Affine,
    crs: str,
    nlcd_transform: Affine,
    nlcd_shape: tuple[int, int],
) -> np.ndarray:
    """The share of each class among the labelled pixels of each NLCD cell.

    Args:
        labels: (H, W) uint8 class values 1-5, 0 for nodata.
        transform, crs: the labels' grid.
        nlcd_transform, nlcd_shape: the NLCD grid, in EPSG:5070.

    Returns:
        (5, rows, columns) float32 shares of water, impervious, barren, trees, grass; NaN in
        cells that no labelled pixel reaches.
    """
    # GDAL's average leaves a cell empty when its centre falls outside the source, so the
    # labels are padded by a cell's diagonal of nodata; the shares are then taken among the
    # labelled pixels, which a sixth layer counts.
    pad = int(np.ceil(RESOLUTION * np.sqrt(2) / min(abs(transform.a), abs(transform.e))))
    height, width = labels.shape
    layers = np.zeros((len(CLASS_NAMES) + 1, height + 2 * pad, width + 2 * pad), np.float32)
    inner = layers[:, pad : pad + height, pad : pad + width]
    inner[:-1] = np.stack([labels == value for value in CLASS_NAMES])
    inner[-1] = labels > 0
    averages = np.full((len(layers), *nlcd_shape), np.nan, dtype=np.float32)
    reproject(
        layers,
        averages,
        src_transform=transform @ Affine.translation(-pad, -pad),
        src_crs=crs,
        dst_transform=nlcd_transform,
        dst_crs=NLCD_CRS,
        resampling=Resampling.average,
        dst_nodata=np.nan,
    )
    labelled = averages[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(labelled > 0, averages[:-1] / labelled, np.nan).astype(np.float32)


def nlcd_codes(fractions: np.ndarray, subtype: np.ndarray) -> np.ndarray:
    """The NLCD code that each cell's class composition calls for.

    In order: water ≥ 0.5 → 11; impervious ≥ 0.8 → 24, ≥ 0.5 → 23, ≥ 0.2 → 22, ≥ 0.05 → 21
    (developed, open space); otherwise the largest of trees, barren and grass: trees → 41,
    42 or 43, barren → 31, grass → 71, 81 or 82.

    Args:
        fractions: (5, rows, columns) shares of water, impervious, barren, trees, grass.
        subtype: (rows, columns) values in [0, 1) that pick the forest or herbaceous sub-type
            (deciduous, evergreen, mixed forest in shares 0.6, 0.1, 0.3; grassland, pasture,
            crops in 0.3, 0.4, 0.3).

    Returns:
        (rows, columns) uint8 NLCD codes; 0 where a fraction is NaN.
    """
    water, impervious, barren, trees, grass = fractions
    forest = np.asarray(FOREST)[np.searchsorted(np.cumsum(FOREST_SHARES)[:-1], subtype, "right")]
    herbaceous = np.asarray(HERBACEOUS)[
        np.searchsorted(np.cumsum(HERBACEOUS_SHARES)[:-1], subtype, "right")
    ]
    largest = np.argmax(np.stack([trees, barren, grass]), axis=0)
    codes = np.select(
        [
            water >= 0.5,
            impervious >= 0.8,
            impervious >= 0.5,
            impervious >= 0.2,
            impervious >= 0.05,
            largest == 0,
            largest == 1,
        ],
        [11, 24, 23, 22, 21, forest, 31],
        default=herbaceous,
    ).astype(np.uint8)
    codes[~np.isfinite(fractions).all(axis=0)] = 0
    return codes


def add_errors(codes: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """``codes`` with about ``rate`` of the coded cells given a plausible wrong code.

    A wrong cell takes the code of the nearest cell, in a random direction, whose code the
    composition rules could not confuse with its own (as when a boundary is misplaced);
    where there is none within a few cells, a commonly confused class (forest for pasture,
    bare soil for crops, a neighbouring intensity for developed land).

    Args:
        codes: (rows, columns) uint8 NLCD codes, 0 for nodata (left as is).
        rate: share of cells to change, 0-1.
        rng: the random generator to draw from.
    """
    family = _FAMILY[codes]
    rows, columns = np.nonzero((rng.random(codes.shape) < rate) & (codes > 0))
    direction = _DIRECTIONS[rng.integers(0, len(_DIRECTIONS), rows.size)]
    replacement = np.zeros(rows.size, dtype=np.uint8)
    for step in range(1, _SEARCH + 1):
        r = np.clip(rows + step * direction[:, 0], 0, codes.shape[0] - 1)
        c = np.clip(columns + step * direction[:, 1], 0, codes.shape[1] - 1)
        found = (replacement == 0) & (codes[r, c] > 0) & (family[r, c] != family[rows, columns])
        replacement[found] = codes[r, c][found]
    missing = replacement == 0
    replacement[missing] = _CONFUSION[codes[rows, columns][missing]]
    wrong = codes.copy()
    wrong[rows, columns] = replacement
    return wrong


def derive_nlcd(
    labels: np.ndarray, transform: Affine, crs: str, error_rate: float, rng: np.random.Generator
) -> tuple[np.ndarray, Affine]:
    """NLCD for a 1 m class map.

    Args:
        labels: (H, W) uint8 class values 1-5.
        transform, crs: the labels' grid.
        error_rate: share of cells with a wrong code, 0-1.
        rng: the random generator to draw from.

    Returns:
        (rows, columns) uint8 NLCD codes (0: no data) and their transform in EPSG:5070.
    """
    nlcd_transform, nlcd_shape = nlcd_grid(crs, transform, labels.shape)
    fractions = class_fractions(labels, transform, crs, nlcd_transform, nlcd_shape)
    subtype = ndtr(smooth_noise(nlcd_shape, 2.0, rng))  # uniform marginals, patchy
    codes = nlcd_codes(fractions, subtype)
    # GDAL's average leaves a cell that holds only a sliver of the map empty; real NLCD
    # covers the land beyond the map too, so such a cell takes its nearest coded neighbour's
    # code and every pixel of the map falls in a coded cell.
    empty = codes == 0
    nearest = ndimage.distance_transform_edt(empty, return_distances=False, return_indices=True)
    sliver = empty & ndimage.binary_dilation(~empty, structure=np.ones((3, 3), bool))
    codes[sliver] = codes[tuple(nearest)][sliver]
    return add_errors(codes, error_rate, rng), nlcd_transform
