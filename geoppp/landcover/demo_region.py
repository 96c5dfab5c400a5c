"""A synthetic demo region, deterministic under a seed, written as real GeoTIFFs and GeoPackages.

A 1 m land-cover map in UTM 17N (near Pittsburgh) with the five EnviroAtlas classes laid out
with structure (a road grid, buildings in blocks, a river and a pond, tree clusters, fields,
bare patches), 4-band imagery rendered from it with texture, shadows, mixed edge pixels,
sensor noise and a nodata collar, a 30 m NLCD raster in EPSG:5070 derived from each cell's
composition with a realistic error rate, and roads and buildings as vector layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.features import rasterize
from rasterio.warp import calculate_default_transform, reproject
from scipy import ndimage
from shapely.affinity import affine_transform
from shapely.geometry import LineString, box
from shapely.geometry.base import BaseGeometry

WATER, IMPERVIOUS, BARREN, TREES, GRASS = 1, 2, 3, 4, 5
CLASS_NAMES = {
    WATER: "water",
    IMPERVIOUS: "impervious",
    BARREN: "barren",
    TREES: "trees",
    GRASS: "grass",
}
UTM_17N = "EPSG:32617"
CONUS_ALBERS = "EPSG:5070"
ORIGIN = (584_000.0, 4_478_000.0)  # Pittsburgh, PA, in UTM 17N (upper-left corner)

# Mean reflectance (R, G, B, NIR, 0-255) and texture strength of each class.
APPEARANCE = {
    WATER: ((40, 62, 70, 22), 4),
    IMPERVIOUS: ((128, 126, 122, 110), 14),
    BARREN: ((150, 128, 100, 125), 12),
    TREES: ((52, 84, 48, 170), 18),
    GRASS: ((104, 138, 76, 150), 10),
}


@dataclass(frozen=True)
class DemoRegion:
    """Paths of the files a demo region is made of."""

    imagery: Path
    labels: Path
    nlcd: Path
    roads: Path
    buildings: Path


def smooth_noise(shape: tuple[int, int], scale: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian-smoothed white noise with unit standard deviation; ``scale`` in pixels."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), scale, mode="wrap")
    return (field - field.mean()) / (field.std() + 1e-12)


def make_labels(
    size: int, rng: np.random.Generator, transform: Affine
) -> tuple[np.ndarray, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """A ``(size, size)`` uint8 class map and the road and building layers it contains."""
    labels = np.full((size, size), GRASS, dtype=np.uint8)
    labels[smooth_noise((size, size), size / 40, rng) > 0.4] = TREES
    labels[smooth_noise((size, size), size / 60, rng) > 2.0] = BARREN

    spacing = max(60, size // 6)
    roads: list[LineString] = []
    for offset in range(spacing // 2, size, spacing):
        jitter = rng.integers(-10, 11, size=2)
        roads.append(LineString([(0, offset + jitter[0]), (size, offset + jitter[1])]))
        roads.append(LineString([(offset + jitter[0], 0), (offset + jitter[1], size)]))
    buildings: list[BaseGeometry] = []
    for row in range(spacing // 2, size - spacing, spacing):
        for col in range(spacing // 2, size // 2, spacing):  # a built-up west half
            for _ in range(rng.integers(3, 7)):
                height, width = rng.integers(8, 22, size=2)
                top = row + rng.integers(8, max(9, spacing - height - 8))
                left = col + rng.integers(8, max(9, spacing - width - 8))
                buildings.append(box(left, top, left + width, top + height))

    river_rows = np.arange(size)
    centre = size * 0.75 + size * 0.08 * np.sin(river_rows / size * 3 * np.pi)
    river = LineString(np.column_stack([centre, river_rows]))
    pond_row, pond_col = rng.integers(size // 8, size // 3), int(size * 0.45)
    pond = (
        ((np.arange(size)[:, None] - pond_row) / (size / 18)) ** 2
        + ((np.arange(size)[None, :] - pond_col) / (size / 12)) ** 2
    ) < 1
    labels[pond] = WATER
    matrix = [transform.a, transform.b, transform.d, transform.e, transform.c, transform.f]

    def to_map(geometries: Sequence[BaseGeometry]) -> list[BaseGeometry]:
        return [affine_transform(geometry, matrix) for geometry in geometries]

    roads, buildings = to_map(roads), to_map(buildings)
    shapes = [
        (to_map([river.buffer(max(4, size / 120))])[0], WATER),
        *((road.buffer(4), IMPERVIOUS) for road in roads),
        *((building, IMPERVIOUS) for building in buildings),
    ]
    burnt = rasterize(shapes, out_shape=(size, size), transform=transform, dtype="uint8")
    labels[burnt > 0] = burnt[burnt > 0]
    return (
        labels,
        gpd.GeoDataFrame(geometry=roads, crs=UTM_17N),
        gpd.GeoDataFrame(geometry=buildings, crs=UTM_17N),
    )


def render_imagery(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(4, H, W)`` uint8 R, G, B, NIR imagery of a class map, 0 kept for nodata."""
    height, width = labels.shape
    image = np.zeros((4, height, width), dtype=np.float32)
    texture = smooth_noise((height, width), 2.0, rng)
    for value, (colour, strength) in APPEARANCE.items():
        where = labels == value
        for band in range(4):
            image[band][where] = colour[band] + strength * texture[where]
    tall = (labels == TREES) | (labels == IMPERVIOUS) & (
        ndimage.uniform_filter((labels == IMPERVIOUS).astype(np.float32), 9) > 0.9
    )
    shadow = ndimage.shift(tall.astype(np.float32), (3, 2), order=0) > tall
    image[:, shadow] *= 0.6
    image = ndimage.uniform_filter(image, size=(1, 3, 3))  # mixed pixels at class edges
    image += rng.normal(0, 3.0, image.shape)
    image = np.clip(np.rint(image), 1, 255).astype(np.uint8)
    rows, cols = np.indices((height, width))
    image[:, rows + cols > 1.85 * min(height, width)] = 0  # a nodata collar in one corner
    return image


def derive_nlcd(
    labels: np.ndarray, transform: Affine, rng: np.random.Generator, error_rate: float = 0.1
) -> tuple[np.ndarray, Affine]:
    """30 m NLCD codes in EPSG:5070 from each cell's class composition, with errors."""
    height, width = labels.shape
    left, top = transform @ (0, 0)
    right, bottom = transform @ (width, height)
    nlcd_transform, nlcd_width, nlcd_height = calculate_default_transform(
        UTM_17N, CONUS_ALBERS, width, height, left, bottom, right, top, resolution=30.0
    )
    fractions = np.zeros((6, nlcd_height, nlcd_width), dtype=np.float32)
    for value in CLASS_NAMES:
        reproject(
            (labels == value).astype(np.float32),
            fractions[value],
            src_transform=transform,
            src_crs=UTM_17N,
            dst_transform=nlcd_transform,
            dst_crs=CONUS_ALBERS,
            resampling=Resampling.average,
            src_nodata=None,
            dst_nodata=np.nan,
        )
    covered = np.isfinite(fractions[1:]).all(axis=0) & (np.nansum(fractions[1:], axis=0) > 0.5)
    fractions = np.nan_to_num(fractions)
    water, impervious, barren, trees, grass = fractions[1:]
    forest_kind = np.where(smooth_noise(water.shape, 3.0, rng) > 0.5, 43, 41)
    field_kind = np.where(smooth_noise(water.shape, 4.0, rng) > 0.3, 82, 81)
    codes = np.select(
        [
            water >= 0.5,
            impervious >= 0.8,
            impervious >= 0.5,
            impervious >= 0.2,
            impervious >= 0.05,
            trees >= 0.5,
            barren >= 0.5,
            grass >= trees,
        ],
        [11, 24, 23, 22, 21, forest_kind, 31, field_kind],
        default=forest_kind,
    ).astype(np.uint8)
    wrong = rng.random(codes.shape) < error_rate
    shifted = np.roll(codes, shift=(1, 1), axis=(0, 1))
    codes[wrong] = shifted[wrong]
    codes[~covered] = 0
    return codes, nlcd_transform


def make_demo_region(folder: Path, size: int = 1024, seed: int = 0) -> DemoRegion:
    """Write a demo region of ``size`` × ``size`` metres into ``folder`` (created if needed)."""
    if size < 64:
        raise ValueError(f"a demo region needs at least 64 pixels a side, got {size}")
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    transform = Affine(1.0, 0.0, ORIGIN[0], 0.0, -1.0, ORIGIN[1])
    labels, roads, buildings = make_labels(size, rng, transform)
    image = render_imagery(labels, rng)
    nlcd, nlcd_transform = derive_nlcd(labels, transform, rng)
    region = DemoRegion(
        folder / "imagery.tif",
        folder / "labels.tif",
        folder / "nlcd.tif",
        folder / "roads.gpkg",
        folder / "buildings.gpkg",
    )
    common = {"driver": "GTiff", "tiled": True, "compress": "deflate"}
    with rasterio.open(
        region.imagery,
        "w",
        width=size,
        height=size,
        count=4,
        dtype="uint8",
        crs=UTM_17N,
        transform=transform,
        nodata=0,
        photometric="RGB",
        alpha="UNSPECIFIED",
        **common,
    ) as dataset:  # band 4 is NIR, not alpha
        dataset.write(image)
        dataset.descriptions = ("red", "green", "blue", "nir")
    with rasterio.open(
        region.labels,
        "w",
        width=size,
        height=size,
        count=1,
        dtype="uint8",
        crs=UTM_17N,
        transform=transform,
        nodata=0,
        **common,
    ) as dataset:
        dataset.write(np.where(image[0] > 0, labels, 0)[np.newaxis])
    with rasterio.open(
        region.nlcd,
        "w",
        width=nlcd.shape[1],
        height=nlcd.shape[0],
        count=1,
        dtype="uint8",
        crs=CONUS_ALBERS,
        transform=nlcd_transform,
        nodata=0,
        driver="GTiff",
    ) as dataset:
        dataset.write(nlcd[np.newaxis])
    roads.to_file(region.roads, driver="GPKG")
    buildings.to_file(region.buildings, driver="GPKG")
    return region
