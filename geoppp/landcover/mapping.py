"""Mapping one imagery file: tiles in, per-tile class probabilities, blended class map out.

The model is any :class:`~geoppp.geo.engine.BatchModel` over the inputs this module reads
per tile: ``image`` ``(bands, H, W)`` (when the model asks for it), ``weak_labels``
``(C, H, W)`` and ``labelled`` ``(H, W)``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geoppp.geo.engine import BatchModel, RunStats, TileInputs, run_tiles
from geoppp.geo.grid import Grid, Tile, TileLayout
from geoppp.geo.output import ClassInfo, ClassMapOutput, OutputOptions, ValueOutput
from geoppp.geo.raster import open_raster, read_valid, read_window
from geoppp.landcover.weak_labels import WeakLabelSources


@dataclass(frozen=True)
class Imagery:
    """One imagery file and how to read it."""

    path: Path
    bands: tuple[int, ...]
    nodata: float | None = None


@dataclass(frozen=True)
class Scheduling:
    tile_size: int
    halo: int
    batch_size: int = 8
    workers: int = 2
    progress: bool = True
    stripe_width: int = 8192


@dataclass(frozen=True)
class MapResult:
    """What mapping one imagery file produced."""

    class_map: Path
    probabilities: Path | None
    stats: RunStats
    class_pixels: dict[str, int]
    pixel_area: float
    seconds: float
    megapixels: float


def map_imagery(
    imagery: Imagery,
    grid: Grid,
    weak_labels: WeakLabelSources,
    model: BatchModel,
    classes: Sequence[ClassInfo],
    class_map: OutputOptions,
    probabilities: OutputOptions | None,
    scheduling: Scheduling,
    nodata: int = 0,
    needs_image: bool = False,
) -> MapResult:
    """Run ``model`` over ``imagery`` tile by tile and write its blended class map."""
    layout = TileLayout(grid, scheduling.tile_size, scheduling.halo)

    def reader(tiles: Sequence[Tile]) -> list[TileInputs]:
        with ExitStack() as stack:
            image = stack.enter_context(open_raster(imagery.path))
            read_weak = stack.enter_context(weak_labels.opened())
            inputs = []
            for tile in tiles:
                arrays: dict[str, np.ndarray] = {}
                if needs_image:
                    window = read_window(
                        image, tile.read, imagery.bands, tile.padded_shape, imagery.nodata
                    )
                    arrays["image"], valid = window.values, window.valid
                else:
                    valid = read_valid(
                        image, tile.read, imagery.bands, tile.padded_shape, imagery.nodata
                    )
                if valid.any():
                    weak = read_weak(tile.read, tile.padded_shape)
                    arrays["weak_labels"], arrays["labelled"] = weak.probabilities, weak.labelled
                inputs.append(TileInputs(arrays, valid))
            return inputs

    started = time.perf_counter()
    with ExitStack() as stack:
        class_output = stack.enter_context(
            ClassMapOutput(class_map, grid, list(classes), nodata, scheduling.tile_size)
        )
        sinks: list[ClassMapOutput | ValueOutput] = [class_output]
        if probabilities is not None:
            sinks.append(
                stack.enter_context(
                    ValueOutput(
                        probabilities,
                        grid,
                        len(classes),
                        "float32",
                        block_size=scheduling.tile_size,
                        band_names=[info.name for info in classes],
                    )
                )
            )
        stats = run_tiles(
            layout,
            reader,
            model,
            sinks,
            batch_size=scheduling.batch_size,
            workers=scheduling.workers,
            progress=scheduling.progress,
            description=imagery.path.name,
            stripe_width=scheduling.stripe_width,
        )
    seconds = time.perf_counter() - started
    return MapResult(
        class_map=class_map.path,
        probabilities=probabilities.path if probabilities else None,
        stats=stats,
        class_pixels={
            info.name: int(count) for info, count in zip(classes, class_output.counts, strict=True)
        },
        pixel_area=abs(grid.transform.a * grid.transform.e - grid.transform.b * grid.transform.d),
        seconds=seconds,
        megapixels=grid.width * grid.height / 1e6,
    )


def weak_argmax_model(arrays: dict[str, np.ndarray], valid: np.ndarray) -> np.ndarray:
    """The simplest model: the weak-label probabilities themselves, NaN where unlabelled.

    Its blended class map is the per-pixel argmax of the weak labels.
    """
    probabilities = arrays["weak_labels"]  # the engine's stacked copy: ours to change
    np.copyto(probabilities, np.float32(np.nan), where=~arrays["labelled"][:, np.newaxis])
    return probabilities
