"""Reading rasters: opening with clear errors, the imagery grid, and aligned window reads.

Every read here is per window, so memory follows the tile size, never the raster size.
Other rasters are warped onto the imagery grid with a ``WarpedVRT`` that is given the target
CRS, transform, width and height explicitly (a bare ``WarpedVRT(src)`` lets the size drift).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import rasterio
from rasterio.enums import ColorInterp, MaskFlags, Resampling
from rasterio.errors import NodataShadowWarning, NotGeoreferencedWarning, RasterioIOError
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds

from geoppp.errors import BandError, MissingCRSError, NoOverlapError, RasterOpenError
from geoppp.geo.grid import Grid, PixelWindow

ResamplingName = Literal["nearest", "bilinear", "mode"]

# 4-band imagery often has its fourth band (NIR) flagged as alpha; where the file also has a
# nodata value, GDAL's mask follows the nodata value, which is what we want, so rasterio's
# warning about it is noise to a user.
warnings.filterwarnings("ignore", category=NodataShadowWarning)


@contextmanager
def open_raster(path: Path) -> Iterator[Any]:
    """Open ``path`` for reading, turning GDAL's failures into a :class:`RasterOpenError`."""
    if not path.exists():
        raise RasterOpenError(f"raster not found: {path}")
    try:
        with warnings.catch_warnings():
            # A raster without georeferencing is refused by name where it matters (grid_of,
            # require_overlap); GDAL's warning would only come first, without the file.
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            dataset = rasterio.open(path)
    except RasterioIOError as error:
        raise RasterOpenError(
            f"{path} is not a raster GDAL can read ({error}); check that it is a complete "
            "GeoTIFF (or another GDAL format): copy or download it again if it was cut short"
        ) from error
    try:
        yield dataset
    finally:
        dataset.close()


def grid_of(path: Path) -> Grid:
    """The pixel grid of the raster at ``path``; refuses a raster without a CRS."""
    with open_raster(path) as dataset:
        if dataset.crs is None:
            raise MissingCRSError(
                f"{path} has no coordinate reference system; assign one (for example with "
                "`rio edit-info --crs EPSG:XXXX`) so that it can be placed on the ground"
            )
        return Grid(dataset.crs, dataset.transform, dataset.width, dataset.height)


@dataclass(frozen=True, slots=True)
class RasterInfo:
    """What a check needs to know about a raster without reading its pixels."""

    path: Path
    count: int
    dtype: str
    nodata: float | None
    has_crs: bool


def describe(path: Path) -> RasterInfo:
    with open_raster(path) as dataset:
        return RasterInfo(
            path, dataset.count, dataset.dtypes[0], dataset.nodata, dataset.crs is not None
        )


def require_bands(path: Path, bands: Sequence[int], role: str) -> None:
    """Refuse ``bands`` (1-based) that ``path`` does not have or that cannot be read.

    The last pixel of each band is read, which decodes one block per band: the block
    written last, so the one a truncated file (an interrupted copy or download) lacks.
    """
    with open_raster(path) as dataset:
        missing = [band for band in bands if not 1 <= band <= dataset.count]
        if missing:
            raise BandError(
                f"{role} {path} has {dataset.count} band(s); the configuration asks for "
                f"band(s) {list(bands)}, of which {missing} do not exist"
            )
        last = PixelWindow(dataset.height - 1, dataset.width - 1, 1, 1)
        for band in bands:
            with read_errors(dataset, last, f"{role} {path}, band {band}"):
                dataset.read(band, window=last.to_rasterio())


def full_window(dataset: Any) -> PixelWindow:
    """All the pixels of an open ``dataset``."""
    return PixelWindow(0, 0, dataset.height, dataset.width)


@contextmanager
def read_errors(dataset: Any, window: PixelWindow, what: str | None = None) -> Iterator[None]:
    """Turn GDAL's failure to read ``window`` of ``dataset`` into a :class:`RasterOpenError`
    that names the file (``what``, else the dataset's name) and the pixels."""
    try:
        yield
    except RasterioIOError as error:
        cause = error.__cause__ or error.__context__ or error
        raise RasterOpenError(
            f"{what or dataset.name}: the {window.height} × {window.width} pixels from row "
            f"{window.row}, column {window.col} cannot be read ({cause}); the file is "
            "truncated or damaged: copy or download it again"
        ) from error


def require_overlap(path: Path, grid: Grid, role: str, grid_name: str = "the imagery") -> float:
    """Refuse a raster that does not overlap ``grid``; return the covered fraction of it.

    A raster whose stored CRS is wrong typically lands on another continent: it is reported
    here rather than turned into an empty map. ``grid_name`` says what ``grid`` is.
    """
    left, bottom, right, top = _bounds_on(path, grid, role)
    g_left, g_bottom, g_right, g_top = grid.bounds
    width = min(right, g_right) - max(left, g_left)
    height = min(top, g_top) - max(bottom, g_bottom)
    if width <= 0 or height <= 0 or not np.isfinite(width * height):
        raise NoOverlapError(
            f"{role} {path} does not overlap {grid_name}: in {grid.crs.to_string()} it covers "
            f"({left:.1f}, {bottom:.1f}, {right:.1f}, {top:.1f}) but {grid_name} covers "
            f"({g_left:.1f}, {g_bottom:.1f}, {g_right:.1f}, {g_top:.1f}). Check the CRS stored "
            "in the file (a wrong CRS moves a raster far away)."
        )
    return float(width * height / ((g_right - g_left) * (g_top - g_bottom)))


def extent_covered(path: Path, grid: Grid, role: str) -> float:
    """The fraction of the extent of the raster at ``path`` that ``grid`` covers (0..1)."""
    left, bottom, right, top = _bounds_on(path, grid, role)
    g_left, g_bottom, g_right, g_top = grid.bounds
    width = max(0.0, min(right, g_right) - max(left, g_left))
    height = max(0.0, min(top, g_top) - max(bottom, g_bottom))
    return float(width * height / ((right - left) * (top - bottom)))


def _bounds_on(path: Path, grid: Grid, role: str) -> tuple[float, float, float, float]:
    """The bounds of the raster at ``path`` in ``grid``'s CRS."""
    with open_raster(path) as dataset:
        if dataset.crs is None:
            raise MissingCRSError(
                f"{role} {path} has no coordinate reference system; assign one (for example "
                "with `rio edit-info --crs EPSG:XXXX`) so that it can be placed on the ground"
            )
        left, bottom, right, top = transform_bounds(dataset.crs, grid.crs, *dataset.bounds)
    return left, bottom, right, top


def on_grid(dataset: Any, grid: Grid) -> bool:
    """Whether an open ``dataset`` lies on ``grid`` pixel for pixel (no resampling needed)."""
    return bool(
        dataset.crs == grid.crs
        and dataset.transform.almost_equals(grid.transform)
        and (dataset.width, dataset.height) == (grid.width, grid.height)
    )


def pad_to_shape(array: np.ndarray, shape: tuple[int, int], fill: float | bool) -> np.ndarray:
    """Pad the last two axes of ``array`` at the bottom and right up to ``shape``."""
    missing_rows, missing_cols = shape[0] - array.shape[-2], shape[1] - array.shape[-1]
    if missing_rows == 0 and missing_cols == 0:
        return array
    pad = [(0, 0)] * (array.ndim - 2) + [(0, missing_rows), (0, missing_cols)]
    return np.pad(array, pad, constant_values=fill)


@dataclass(frozen=True, slots=True)
class WindowData:
    """Pixels of one window: ``values`` ``(bands, H, W)`` and ``valid`` ``(H, W)`` bool."""

    values: np.ndarray
    valid: np.ndarray


def read_window(
    dataset: Any,
    window: PixelWindow,
    bands: Sequence[int],
    pad_to: tuple[int, int],
    nodata: float | None = None,
) -> WindowData:
    """Read ``bands`` of ``window`` from an open dataset on the imagery grid.

    Validity comes from GDAL's per-dataset mask, which covers a nodata value, an internal
    mask band and an alpha band alike; ``nodata`` adds a value the file does not declare.
    A band flagged as alpha but asked for as data (NAIP's NIR often is) is data, not a mask.
    Padding (when the raster is smaller than a tile) is invalid.
    """
    rio_window = window.to_rasterio()
    with read_errors(dataset, window):
        values = dataset.read(list(bands), window=rio_window)
    if _alpha_is_data(dataset, bands):
        nodata = dataset.nodata if nodata is None else nodata
        valid = np.ones(values.shape[1:], dtype=bool)
    elif _has_mask(dataset):
        with read_errors(dataset, window):
            valid = dataset.dataset_mask(window=rio_window) > 0
    else:
        valid = np.ones(values.shape[1:], dtype=bool)
    if nodata is not None:
        valid &= ~np.all(values == nodata, axis=0)
    return WindowData(pad_to_shape(values, pad_to, 0), pad_to_shape(valid, pad_to, False))


def _has_mask(dataset: Any) -> bool:
    """Whether any band has a nodata value, a mask band or an alpha band."""
    return any(MaskFlags.all_valid not in flags for flags in dataset.mask_flag_enums)


def _alpha_is_data(dataset: Any, bands: Sequence[int]) -> bool:
    """Whether a band flagged as alpha is one of the data ``bands`` asked for."""
    return any(dataset.colorinterp[band - 1] == ColorInterp.alpha for band in bands)


@dataclass(frozen=True, slots=True)
class AlignedSource:
    """A raster read onto the imagery grid: which file, which bands, how to resample."""

    path: Path
    bands: tuple[int, ...]
    resampling: ResamplingName


def read_aligned(
    dataset: Any,
    grid: Grid,
    window: PixelWindow,
    source: AlignedSource,
    pad_to: tuple[int, int],
) -> WindowData:
    """Read ``window`` of ``grid`` from an open ``dataset`` on any grid, resampled onto it.

    Where ``dataset`` already shares the grid the pixels are read directly; otherwise a
    ``WarpedVRT`` with the grid's CRS, transform, width and height does the reprojection.
    Pixels outside the source's footprint, or nodata in it, are invalid.
    """
    if on_grid(dataset, grid):
        return read_window(dataset, window, source.bands, pad_to)
    with WarpedVRT(
        dataset,
        crs=grid.crs,
        transform=grid.transform,
        width=grid.width,
        height=grid.height,
        resampling=Resampling[source.resampling],
        # Without a nodata value the source's footprint would be lost; an alpha band keeps it
        # (GDAL fills it from the source's mask band, if any). A source alpha band is used as is.
        add_alpha=dataset.nodata is None and ColorInterp.alpha not in dataset.colorinterp,
    ) as vrt:
        return read_window(vrt, window, source.bands, pad_to)


def read_valid(
    dataset: Any,
    window: PixelWindow,
    bands: Sequence[int],
    pad_to: tuple[int, int],
    nodata: float | None = None,
) -> np.ndarray:
    """``pad_to``-shaped bool validity of ``window``, reading pixel values only if needed.

    The same rule as :func:`read_window`: GDAL's dataset mask, plus ``nodata`` when given.
    """
    if nodata is not None or _alpha_is_data(dataset, bands):
        return read_window(dataset, window, bands, pad_to, nodata).valid
    if _has_mask(dataset):
        with read_errors(dataset, window):
            valid = dataset.dataset_mask(window=window.to_rasterio()) > 0
    else:
        valid = np.ones((window.height, window.width), dtype=bool)
    return pad_to_shape(valid, pad_to, False)
