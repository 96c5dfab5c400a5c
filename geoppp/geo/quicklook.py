"""Quicklook PNGs: imagery and class maps side by side, read at reduced resolution.

Reads use ``out_shape`` so GDAL decimates (or uses overviews): the cost follows the preview
size, not the raster size.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning

from geoppp.atomic import partial_path, written_atomically
from geoppp.geo.raster import full_window, open_raster, read_errors

GAP = 8  # white pixels between panels


def _preview_shape(dataset: rasterio.DatasetReader, max_size: int) -> tuple[int, int]:
    scale = min(1.0, max_size / max(dataset.width, dataset.height))
    return max(1, round(dataset.height * scale)), max(1, round(dataset.width * scale))


def imagery_preview(path: Path, bands: Sequence[int], max_size: int = 768) -> np.ndarray:
    """``(3, h, w)`` uint8 true-colour preview, stretched between the 2nd and 98th percentile.

    One stretch for all three bands keeps the colour balance. Nodata pixels are white.
    """
    with open_raster(path) as dataset:
        shape = _preview_shape(dataset, max_size)
        with read_errors(dataset, full_window(dataset), str(path)):
            values = dataset.read(list(bands), out_shape=(len(bands), *shape))
            valid = dataset.dataset_mask(out_shape=shape) > 0
    values = values.astype(np.float32)
    rgb = np.full((3, *shape), 255, dtype=np.uint8)
    if valid.any():
        low, high = np.percentile(values[:, valid], [2, 98])
        stretched = np.clip((values - low) / max(high - low, 1e-6), 0, 1) * 255
        rgb[:, valid] = stretched[:, valid].astype(np.uint8)
    return rgb


def codes_preview(
    path: Path,
    band: int = 1,
    colours: Mapping[int, tuple[int, int, int]] | None = None,
    max_size: int = 768,
) -> np.ndarray:
    """``(3, h, w)`` uint8 preview of a raster of class codes; nodata and unknown are white.

    Args:
        path: a class raster (a class map, ground truth, NLCD...).
        band: 1-based band of class codes.
        colours: code → (R, G, B); by default the raster's own colour table.
        max_size: longest side of the preview, in pixels.
    """
    with open_raster(path) as dataset:
        shape = _preview_shape(dataset, max_size)
        with read_errors(dataset, full_window(dataset), str(path)):
            codes = dataset.read(band, out_shape=shape)  # nearest: never invents a class
        nodata = dataset.nodata
        if colours is None:
            colours = {value: rgba[:3] for value, rgba in dataset.colormap(band).items()}
    palette = np.full((max(256, int(codes.max()) + 1), 3), 255, dtype=np.uint8)
    for value, colour in colours.items():
        if value != nodata and 0 <= value < len(palette):
            palette[value] = colour[:3]
    return np.moveaxis(palette[np.clip(codes, 0, len(palette) - 1).astype(np.intp)], -1, 0)


def write_panels(path: Path, panels: Sequence[np.ndarray]) -> Path:
    """Write ``(3, h, w)`` uint8 panels side by side as a PNG (temporary name, then rename)."""
    height = max(panel.shape[1] for panel in panels)
    width = sum(panel.shape[2] for panel in panels) + GAP * (len(panels) - 1)
    canvas = np.full((3, height, width), 255, dtype=np.uint8)
    left = 0
    for panel in panels:
        canvas[:, : panel.shape[1], left : left + panel.shape[2]] = panel
        left += panel.shape[2] + GAP
    try:
        with written_atomically(path) as temporary, warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a picture, not a map
            with rasterio.open(
                temporary, "w", driver="PNG", width=width, height=height, count=3, dtype="uint8"
            ) as dataset:
                dataset.write(canvas)
    finally:
        # GDAL's PNG driver leaves a PAM sidecar beside the file it wrote.
        sidecar = partial_path(path)
        sidecar.with_name(sidecar.name + ".aux.xml").unlink(missing_ok=True)
    return path
