"""Writing georeferenced outputs: class maps and value rasters, block by block.

Each output is written under a temporary name beside its final path and renamed only when
complete, so an interrupted run never leaves a half-written file under the final name. An
existing output is refused unless ``overwrite`` is set. Class maps carry a nodata value, an
embedded colour table and class names, and a QGIS style (``.qml``) is written beside them,
so that QGIS shows them with a legend; COG output
uses nearest or mode overviews, which never invent class codes.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self
from xml.sax.saxutils import escape

import numpy as np
import rasterio
import rasterio.shutil

from geoppp.atomic import (
    partial_path,
    remove_stale_partials,
    write_text_atomically,
    written_atomically,
)
from geoppp.errors import OutputError
from geoppp.geo.grid import Grid
from geoppp.geo.mosaic import Block
from geoppp.geo.qgis_style import class_map_style, style_path

OverviewResampling = Literal["nearest", "mode"]


@dataclass(frozen=True, slots=True)
class OutputOptions:
    """Where and how one raster is written."""

    path: Path
    overwrite: bool = False
    cog: bool = False
    overview_resampling: OverviewResampling = "nearest"
    compress: str = "deflate"


@dataclass(frozen=True, slots=True)
class ClassInfo:
    """One class of a class map: its pixel ``value``, ``name`` and ``colour`` (R, G, B)."""

    value: int
    name: str
    colour: tuple[int, int, int]


def check_writable(options: OutputOptions) -> None:
    """Refuse an output whose folder is missing or that exists without ``overwrite``."""
    folder = options.path.parent
    if not folder.is_dir():
        raise OutputError(
            f"output folder {folder} does not exist (for output {options.path}); create it "
            "or point the output elsewhere"
        )
    if options.path.exists() and not options.overwrite:
        raise OutputError(
            f"output {options.path} already exists; remove it or ask to overwrite "
            "(`--overwrite`, or `overwrite: true` in the pipeline)"
        )
    try:
        # Creating a file is the one test that holds for permissions, ACLs, read-only
        # mounts and full quotas alike; os.access answers for permission bits only.
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise OutputError(
            f"output folder {folder} is not writable (for output {options.path}: "
            f"{error.strerror}); change its permissions or point the output elsewhere"
        ) from error


class RasterOutput:
    """A raster written block by block (thread-safe) under a temporary name.

    Use as a context manager: leaving it normally publishes the file under its final name;
    leaving it through an exception deletes the temporary file and leaves nothing behind.
    """

    def __init__(
        self,
        options: OutputOptions,
        grid: Grid,
        count: int,
        dtype: str,
        nodata: float | None,
        block_size: int,
    ) -> None:
        check_writable(options)
        self.options = options
        self.nodata = nodata
        remove_stale_partials(options.path)  # left by a run that was killed
        self._temporary = partial_path(options.path)
        self._lock = threading.Lock()
        tiling: dict[str, Any] = {}
        if grid.width >= 16 and grid.height >= 16:
            block = max(16, min(512, block_size) // 16 * 16)
            tiling = {"tiled": True, "blockxsize": block, "blockysize": block}
        try:
            self._dataset = rasterio.open(
                self._temporary,
                "w",
                driver="GTiff",
                width=grid.width,
                height=grid.height,
                count=count,
                dtype=dtype,
                crs=grid.crs,
                transform=grid.transform,
                nodata=nodata,
                compress=options.compress,
                BIGTIFF="IF_SAFER",
                **tiling,
            )
            self._describe()
        except BaseException:
            # Ctrl-C or SIGTERM may land here, before the caller's `with` owns the file.
            if hasattr(self, "_dataset"):
                self._dataset.close()
            self._temporary.unlink(missing_ok=True)
            raise

    def _describe(self) -> None:
        """Write what a subclass adds to the new file (colour table, band names)."""

    @property
    def dataset(self) -> Any:
        return self._dataset

    def write(self, array: np.ndarray, block: Block) -> None:
        """Write ``array`` ``(bands, h, w)`` over ``block``'s core window."""
        with self._lock:
            self._dataset.write(array, window=block.tile.core.to_rasterio())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        self._dataset.close()
        if exc_type is not None:
            self._temporary.unlink(missing_ok=True)
            return
        try:
            self._publish()
        finally:
            self._temporary.unlink(missing_ok=True)

    def _publish(self) -> None:
        final = self.options.path
        if self.options.cog:
            with written_atomically(final, ".cog") as cog:
                rasterio.shutil.copy(
                    self._temporary,
                    cog,
                    driver="COG",
                    COMPRESS=self.options.compress.upper(),
                    OVERVIEW_RESAMPLING=self.options.overview_resampling.upper(),
                    BIGTIFF="IF_SAFER",
                )
        else:
            os.replace(self._temporary, final)


class ClassMapOutput(RasterOutput):
    """A uint8 class map: per-pixel argmax of blended class probabilities."""

    def __init__(
        self,
        options: OutputOptions,
        grid: Grid,
        classes: list[ClassInfo],
        nodata: int = 0,
        block_size: int = 512,
    ) -> None:
        values = [info.value for info in classes]
        if nodata in values:
            raise OutputError(f"class map nodata value {nodata} is also a class value")
        self.classes = classes
        self._lookup = np.asarray(values, dtype=np.uint8)
        self.counts = np.zeros(len(classes), dtype=np.int64)
        super().__init__(options, grid, 1, "uint8", nodata, block_size)

    def _describe(self) -> None:
        colours = {info.value: (*info.colour, 255) for info in self.classes}
        colours[int(self.nodata or 0)] = (0, 0, 0, 0)
        self.dataset.write_colormap(1, colours)
        self.dataset.set_band_description(1, "land cover class")
        self.dataset.update_tags(
            1, CLASS_NAMES=";".join(f"{info.value}={info.name}" for info in self.classes)
        )

    def write_block(self, block: Block) -> None:
        classes = self._lookup[np.argmax(block.values, axis=0)]
        classes[~block.valid] = self.nodata or 0
        histogram = np.bincount(classes.ravel(), minlength=256)
        with self._lock:
            self.counts += histogram[self._lookup]
        self.write(classes[np.newaxis], block)

    def _publish(self) -> None:
        super()._publish()
        # rasterio has no API for category names or attribute tables (rasterio issue 3185),
        # and GDAL keeps them in the PAM sidecar, which is where QGIS reads them.
        sidecar = self.options.path.with_name(self.options.path.name + ".aux.xml")
        write_text_atomically(sidecar, category_sidecar(self.classes, int(self.nodata or 0)))
        # GDAL's colour table and categories do not reach QGIS's legend names everywhere
        # (a COG's overviews, older QGIS); its own style file beside the map always does.
        write_text_atomically(style_path(self.options.path), class_map_style(self.classes))


class ValueOutput(RasterOutput):
    """A multi-band raster of blended values (e.g. class probabilities), cast to ``dtype``."""

    def __init__(
        self,
        options: OutputOptions,
        grid: Grid,
        count: int,
        dtype: str = "float32",
        nodata: float | None = None,
        block_size: int = 512,
        band_names: Sequence[str] = (),
    ) -> None:
        if nodata is None and np.issubdtype(np.dtype(dtype), np.floating):
            nodata = float("nan")
        self._dtype = np.dtype(dtype)
        self._band_names = list(band_names)
        super().__init__(options, grid, count, dtype, nodata, block_size)

    def _describe(self) -> None:
        for band, name in enumerate(self._band_names, start=1):
            self.dataset.set_band_description(band, name)

    def write_block(self, block: Block) -> None:
        values = block.values
        if np.issubdtype(self._dtype, np.integer):
            info = np.iinfo(self._dtype)
            values = np.clip(np.rint(values), info.min, info.max)
        values = values.astype(self._dtype)
        if self.nodata is not None:
            values[:, ~block.valid] = self.nodata
        self.write(values, block)


def category_sidecar(classes: list[ClassInfo], nodata: int) -> str:
    """A GDAL PAM document naming the classes (CategoryNames) with a thematic attribute table."""
    by_value = {info.value: info for info in classes}
    names = "".join(
        f"<Category>{escape(by_value[v].name) if v in by_value else ''}</Category>"
        for v in range(max(by_value) + 1)
    )
    fields = [("Value", 0, 5), ("Class", 2, 2), ("Red", 0, 6), ("Green", 0, 7), ("Blue", 0, 8)]
    definitions = "".join(
        f'<FieldDefn index="{i}"><Name>{name}</Name><Type>{kind}</Type><Usage>{usage}</Usage>'
        "</FieldDefn>"
        for i, (name, kind, usage) in enumerate(fields)
    )
    rows = "".join(
        f'<Row index="{i}"><F>{info.value}</F><F>{escape(info.name)}</F>'
        + "".join(f"<F>{channel}</F>" for channel in info.colour)
        + "</Row>"
        for i, info in enumerate(classes)
    )
    return (
        '<PAMDataset><PAMRasterBand band="1">'
        f"<NoDataValue>{nodata}</NoDataValue><CategoryNames>{names}</CategoryNames>"
        f'<GDALRasterAttributeTable tableType="thematic">{definitions}{rows}'
        "</GDALRasterAttributeTable></PAMRasterBand></PAMDataset>\n"
    )
