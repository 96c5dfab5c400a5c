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
            raise MissingCRSError(f"vector layer {path} has no coordinate reference system")
        frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty].to_crs(grid.crs)
        if buffer > 0:
            frame = frame.set_geometry(frame.geometry.buffer(buffer))
        if require_overlap and len(frame) and not frame.intersects(box(*grid.bounds)).any():
            raise NoOverlapError(
                f"vector layer {path} has no feature on the imagery "
                f"(layer bounds {tuple(round(v, 1) for v in frame.total_bounds)}, imagery "
                f"bounds {tuple(round(v, 1) for v in grid.bounds)} in {grid.crs.to_string()})"
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
