"""Mapping imagery files: tiles in, per-tile class probabilities, blended class maps out
(one file at a time, or several files' tiles in shared batches, each file's map on its grid).

The model is any :class:`~geoppp.geo.engine.BatchModel` over the inputs this module reads
per tile: ``image`` ``(bands, H, W)`` (when the model asks for it), ``weak_labels``
``(C, H, W)``, ``labelled`` ``(H, W)``, ``codes`` ``(H, W)`` (the class-code raster's codes,
when the region has one) and ``origin`` ``(2,)`` (the read window's row and
column on the grid, from which a model seeds a tile's randomness).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from geoppp.geo.grid import Grid, Tile, TileLayout
from geoppp.geo.output import ClassInfo, ClassMapOutput, OutputOptions, ValueOutput
from geoppp.geo.raster import open_raster, read_valid, read_window
from geoppp.geo.tilestore import TileOutput, TileStore
from geoppp.landcover.colour_vote import colour_cluster_vote
from geoppp.landcover.settings import ColourRefinementConfig
from geoppp.landcover.weak_labels import WeakLabelSources

if TYPE_CHECKING:
    from geoppp.geo.engine import BatchModel, RunStats, TileInputs

# The engine (dask) is imported where tiles are read and run: checking a mapping step
# (`geoppp validate`) needs only this module's plain values (Imagery, Scheduling, ...).


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


@dataclass(frozen=True)
class MappingWork:
    """Reads a batch of tiles of one imagery file and runs the model on them: a
    :class:`~geoppp.geo.engine.TileWork`.

    The weak labels and the model are given as callables that build (or fetch from a
    per-process cache) the objects, so that the work pickles small for a cluster's workers.
    """

    imagery: Imagery
    weak_labels: Callable[[], WeakLabelSources]
    model: Callable[[], BatchModel]
    needs_image: bool = False

    def read(self, tiles: Sequence[Tile]) -> list[TileInputs]:
        """The engine's inputs of each tile (see the module's docstring)."""
        from geoppp.geo.engine import TileInputs

        imagery = self.imagery
        with ExitStack() as stack:
            image = stack.enter_context(open_raster(imagery.path))
            read_weak = stack.enter_context(self.weak_labels().opened())
            inputs = []
            for tile in tiles:
                arrays: dict[str, np.ndarray] = {}
                if self.needs_image:
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
                    arrays["origin"] = np.array([tile.read.row, tile.read.col], dtype=np.int64)
                    if weak.codes is not None:
                        arrays["codes"] = weak.codes
                inputs.append(TileInputs(arrays, valid))
            return inputs

    def __call__(self, tiles: Sequence[Tile]) -> list[TileOutput | None]:
        from geoppp.geo.engine import predict_batch

        return predict_batch(self.read, self.model(), tiles)


@dataclass(frozen=True)
class StorePlan:
    """Where a run's tile store goes and what run it belongs to (see
    :class:`~geoppp.geo.tilestore.TileStore`)."""

    folder: Path
    identity: dict[str, Any]
    restart: bool = False
    keep: bool = False


@dataclass(frozen=True)
class ImageryJob:
    """One imagery file of a mapping step: how its tiles are computed, its grid, where its
    maps go and its tile store."""

    work: MappingWork
    grid: Grid
    class_map: OutputOptions
    probabilities: OutputOptions | None
    store: StorePlan


def map_imagery(
    work: MappingWork,
    grid: Grid,
    classes: Sequence[ClassInfo],
    class_map: OutputOptions,
    probabilities: OutputOptions | None,
    scheduling: Scheduling,
    nodata: int = 0,
    store: StorePlan | None = None,
    executor: Executor | None = None,
) -> MapResult:
    """Run ``work`` over ``grid`` tile by tile and write its blended class map.

    With a ``store``, finished tiles are recorded there first (computed by ``executor``,
    e.g. a cluster's, or by threads), so that an interrupted run continues; the store is
    deleted once the outputs are complete, unless it is to be kept.
    """
    if store is not None:
        job = ImageryJob(work, grid, class_map, probabilities, store)
        [result] = map_imagery_files([job], classes, scheduling, nodata, executor)
        return result
    from geoppp.geo.engine import run_tiles

    layout = TileLayout(grid, scheduling.tile_size, scheduling.halo)
    started = time.perf_counter()
    with _outputs(grid, classes, class_map, probabilities, scheduling, nodata) as (
        class_output,
        sinks,
    ):
        stats = run_tiles(
            layout,
            work.read,
            work.model(),
            sinks,
            batch_size=scheduling.batch_size,
            workers=scheduling.workers,
            progress=scheduling.progress,
            description=work.imagery.path.name,
            stripe_width=scheduling.stripe_width,
        )
    return _result(grid, class_output, probabilities, stats, time.perf_counter() - started)


def map_imagery_files(
    jobs: Sequence[ImageryJob],
    classes: Sequence[ClassInfo],
    scheduling: Scheduling,
    nodata: int = 0,
    executor: Executor | None = None,
    description: str = "tiles",
) -> Iterator[MapResult]:
    """Map several imagery files through one model, in batches that run on from one file
    into the next, so that files of fewer tiles than a batch still fill it.

    Every file's tiles go to its own tile store (computed by ``executor`` or by threads);
    as soon as a file's tiles are all stored, its maps are written from the store, on its
    own grid, and its store deleted unless it is to be kept. A tile's output is that of the
    file mapped alone (its seed comes from its position in its file).

    Yields:
        Each file's result, in the order of ``jobs``, once its maps are written. Its
        ``seconds`` are those from the previous file's result (or the start) to its own.
    """
    from geoppp.geo.engine import Source, fill_stores, write_stored

    layouts = [TileLayout(job.grid, scheduling.tile_size, scheduling.halo) for job in jobs]
    # Every store is opened (a store of a different run refused) before any tile is
    # computed, and outputs are opened only once their file's tiles are all stored, so a run
    # stopped while computing tiles leaves no partial output file behind.
    stores = [
        TileStore.open(job.store.folder, job.store.identity, job.store.restart) for job in jobs
    ]
    sources = [
        Source(layout, job.work, store)
        for layout, job, store in zip(layouts, jobs, stores, strict=True)
    ]
    started = time.perf_counter()
    filled = fill_stores(
        sources,
        scheduling.batch_size,
        scheduling.workers,
        executor,
        scheduling.progress,
        description if len(jobs) > 1 else jobs[0].work.imagery.path.name,
    )
    for number, reused in filled:
        job = jobs[number]
        with _outputs(job.grid, classes, job.class_map, job.probabilities, scheduling, nodata) as (
            class_output,
            sinks,
        ):
            stats = write_stored(
                layouts[number],
                stores[number],
                sinks,
                progress=scheduling.progress,
                description=job.work.imagery.path.name,
                stripe_width=scheduling.stripe_width,
            )
        stats.add(tiles_reused=reused)
        if not job.store.keep:
            stores[number].remove()
        seconds = time.perf_counter() - started
        yield _result(job.grid, class_output, job.probabilities, stats, seconds)
        started = time.perf_counter()


@contextmanager
def _outputs(
    grid: Grid,
    classes: Sequence[ClassInfo],
    class_map: OutputOptions,
    probabilities: OutputOptions | None,
    scheduling: Scheduling,
    nodata: int,
) -> Iterator[tuple[ClassMapOutput, list[ClassMapOutput | ValueOutput]]]:
    """A file's class map and, if asked, its probabilities, open for writing: the class
    map's output and every sink."""
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
        yield class_output, sinks


def _result(
    grid: Grid,
    class_output: ClassMapOutput,
    probabilities: OutputOptions | None,
    stats: RunStats,
    seconds: float,
) -> MapResult:
    transform = grid.transform
    return MapResult(
        class_map=class_output.options.path,
        probabilities=None if probabilities is None else probabilities.path,
        stats=stats,
        class_pixels={
            info.name: int(count)
            for info, count in zip(class_output.classes, class_output.counts, strict=True)
        },
        pixel_area=abs(transform.a * transform.e - transform.b * transform.d),
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


def weak_colour_model(config: ColourRefinementConfig) -> BatchModel:
    """The weak labels read out through per-tile class colour models (see
    :func:`~geoppp.landcover.colour_model.refine_with_colour`): plug-and-play's colour
    readout without the prior, NaN where unlabelled."""
    # Imported here: weak_argmax without colour refinement and colour_vote need no torch.
    import torch

    from geoppp.landcover.colour_model import refine_with_colour, weak_reach

    def model(arrays: dict[str, np.ndarray], valid: np.ndarray) -> np.ndarray:
        usable = torch.from_numpy(valid & arrays["labelled"])
        weak = torch.from_numpy(np.nan_to_num(arrays["weak_labels"]))
        refined = refine_with_colour(
            weak,
            torch.from_numpy(np.nan_to_num(arrays["image"])),
            usable,
            config,
            weak_reach(weak, usable),
        ).numpy()
        refined[~np.broadcast_to(usable.numpy()[:, np.newaxis], refined.shape)] = np.nan
        return refined.astype(np.float32, copy=False)

    return model


def colour_vote_model(n_clusters: int, seed: int) -> BatchModel:
    """The colour-cluster vote baseline, tile by tile: k-means clusters of every valid pixel,
    each taking the weak class most frequent among its labelled pixels (see
    :func:`~geoppp.landcover.colour_vote.colour_cluster_vote`)."""

    def model(arrays: dict[str, np.ndarray], valid: np.ndarray) -> np.ndarray:
        # Every valid pixel is clustered and takes its cluster's class; only the labelled
        # ones vote (unlabelled pixels carry NaN, which colour_cluster_vote counts as no vote).
        weak = arrays["weak_labels"]  # the engine's stacked copy: ours to change
        np.copyto(weak, np.float32(np.nan), where=~arrays["labelled"][:, np.newaxis])
        return np.stack(
            [
                colour_cluster_vote(image, votes, ok, n_clusters=n_clusters, seed=seed)
                for image, votes, ok in zip(arrays["image"], weak, valid, strict=True)
            ]
        )

    return model
