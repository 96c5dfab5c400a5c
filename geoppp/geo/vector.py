"""Vector layers (GeoPackage, GeoJSON, Shapefile, ...) burnt onto the imagery grid per window.

A layer is read once and reprojected once to the grid's CRS; each window then rasterises only
the features its spatial index returns, so the cost of a window follows what is in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.features import rasterize
from shapely.geometry import box

from geoppp.errors import MissingCRSError, NoOverlapError, VectorOpenError
from geoppp.geo.grid import Grid, PixelWindow


@dataclass(frozen=True)
class VectorLayer:
    """A vector layer reprojected to ``grid``'s CRS, with its geometries buffered."""

    path: Path
    grid: Grid
    frame: Any  # geopandas.GeoDataFrame

    @classmethod
    def open(
        cls, path: Path, grid: Grid, buffer: float = 0.0, require_overlap: bool = True
    ) -> VectorLayer:
        """Read ``path``, reproject it to ``grid``'s CRS, and buffer by ``buffer`` CRS units.

        ``require_overlap=False`` accepts a layer with no feature on this grid: one layer
        for a region of many imagery tiles (buildings, say) may well miss some tiles.

        Raises:
            VectorOpenError: the file is missing or not a vector layer.
            MissingCRSError: the layer has no CRS.
            NoOverlapError: no feature lies on the grid (with ``require_overlap``).
        """
        # Imported here, where a region's vector layers are opened: geopandas brings pandas.
        import geopandas as gpd
        from pyogrio.errors import DataSourceError

        if not path.exists():
            raise VectorOpenError(f"vector layer not found: {path}")
        try:
            frame = gpd.read_file(path)
        except DataSourceError as error:
            raise VectorOpenError(f"{path} is not a vector layer ({error})") from error
        if frame.crs is None:
            raise MissingCRSError(
                f"vector layer {path} has no coordinate reference system; assign one (for "
                "example with `ogr2ogr -a_srs EPSG:XXXX OUT IN`)"
            )
        frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
        _require_degrees_in_range(path, frame)
        frame = frame.to_crs(grid.crs)
        if buffer > 0:
            frame = frame.set_geometry(frame.geometry.buffer(buffer))
        if require_overlap and len(frame) and not frame.intersects(box(*grid.bounds)).any():
            raise NoOverlapError(
                f"vector layer {path} has no feature on the imagery (in "
                f"{grid.crs.to_string()} the layer covers {_format_bounds(frame.total_bounds)} "
                f"but the imagery covers {_format_bounds(grid.bounds)}); check the CRS stored "
                "in the file (a wrong CRS moves a layer far away)"
            )
        return cls(path, grid, frame)

    def rasterize(self, window: PixelWindow, pad_to: tuple[int, int]) -> np.ndarray:
        """``pad_to``-shaped bool mask of the pixels of ``window`` that a feature touches."""
        transform = self.grid.window_transform(window)
        # The window's footprint on the ground spans all four corners: two opposite corners
        # alone miss part of it when the transform is rotated.
        window_grid = Grid(self.grid.crs, transform, window.width, window.height)
        candidates = self.frame.sindex.query(box(*window_grid.bounds))
        if len(candidates) == 0:
            return np.zeros(pad_to, dtype=bool)
        burnt = rasterize(
            ((geometry, 1) for geometry in self.frame.geometry.iloc[candidates]),
            out_shape=pad_to,
            transform=transform,
            fill=0,
            dtype="uint8",
        )
        burnt[window.height :, :] = 0
        burnt[:, window.width :] = 0
        return burnt.astype(bool)


def _require_degrees_in_range(path: Path, frame: Any) -> None:
    """Refuse a layer whose CRS is in degrees but whose coordinates cannot be: a GeoJSON
    without a ``crs`` member is read as WGS 84 (RFC 7946), whatever its coordinates are."""
    if not len(frame) or not frame.crs.is_geographic:
        return
    left, bottom, right, top = frame.total_bounds
    if max(abs(left), abs(right)) <= 360 and max(abs(bottom), abs(top)) <= 90:
        return
    raise MissingCRSError(
        f"vector layer {path} is in {frame.crs.to_string()} (longitude and latitude in "
        f"degrees), but its coordinates span {_format_bounds(frame.total_bounds)}: they are "
        "projected coordinates (metres or feet), and the file does not say their CRS. A "
        "GeoJSON without a `crs` member is read as WGS 84; write the layer with its CRS (e.g. "
        "`ogr2ogr -a_srs EPSG:XXXX fixed.gpkg LAYER`, XXXX the CRS the coordinates are in)"
    )


def _format_bounds(bounds: Any) -> str:
    """``(left, bottom, right, top)`` to one decimal, or a word where they are not finite."""
    values = [float(value) for value in bounds]
    if not np.isfinite(values).all():
        return "no finite extent (its coordinates do not fit its CRS)"
    return "(" + ", ".join(f"{value:.1f}" for value in values) + ")"
