"""Test rasters and vectors written by script, each with a real CRS and transform."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

UTM_17N = "EPSG:32617"
CONUS_ALBERS = "EPSG:5070"
# A point in Pittsburgh, PA, in UTM zone 17N.
PITTSBURGH_UTM = (584_000.0, 4_478_000.0)


def write_raster(
    path: Path,
    array: np.ndarray,
    crs: str | None = UTM_17N,
    transform: Affine | None = None,
    nodata: float | None = None,
    **profile: object,
) -> Path:
    """Write ``array`` ``(bands, H, W)`` (or ``(H, W)``) as a GeoTIFF; 1 m UTM by default."""
    if array.ndim == 2:
        array = array[np.newaxis]
    if transform is None:
        transform = Affine(1.0, 0.0, PITTSBURGH_UTM[0], 0.0, -1.0, PITTSBURGH_UTM[1])
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=array.shape[2],
        height=array.shape[1],
        count=array.shape[0],
        dtype=array.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
        **profile,
    ) as dataset:
        dataset.write(array)
    return path


def random_image(height: int, width: int, bands: int = 4, seed: int = 0) -> np.ndarray:
    """``(bands, H, W)`` uint8 noise in 1..255 (0 is kept free for nodata)."""
    return np.random.default_rng(seed).integers(1, 256, (bands, height, width), dtype=np.uint8)
