"""Scheduling tiles with dask: read and predict in batches, blend and write per block.

The task graph has one task per batch of tiles (read the tiles, skip those that are all
nodata, run the model once on the rest) and one task per output block (blend the batches
that cover it, write it). dask frees a batch as soon as every block that needs it is
written, so at any time only a few rows of batches are held, whatever the raster size.
Batches are runs of consecutive tiles in row-major order, so dask's chunks are exactly the
batches: there is no rechunking.

With a :class:`~geoppp.geo.tilestore.TileStore` (:func:`run_stored_tiles`) the work is split
in two: the batches whose tiles are not yet stored are computed by any
:class:`concurrent.futures.Executor` (threads here, or a dask.distributed cluster's workers)
and saved tile by tile; then the blocks are blended from the store. Batches are then always
the same runs of the whole layout, whatever was stored before, because a model's float
output may depend on its batch's other tiles in the last bit.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor, as_completed
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import dask
import numpy as np
from dask.callbacks import Callback
from tqdm.auto import tqdm

from geoppp.errors import TilingError
from geoppp.geo.grid import Tile, TileLayout
from geoppp.geo.mosaic import Block, Prediction, compose_block, weigh
from geoppp.geo.tilestore import TileOutput, TileStore


@dataclass(frozen=True, slots=True)
class TileInputs:
    """What a reader gives the model for one tile.

    Attributes:
        arrays: by name, ``(..., H, W)`` arrays padded to the layout's window size.
        valid: ``(H, W)`` bool, the pixels that are not nodata.
    """

    arrays: dict[str, np.ndarray]
    valid: np.ndarray


class TileReader(Protocol):
    """Reads the inputs of a batch of tiles (opening its files once per batch)."""

    def __call__(self, tiles: Sequence[Tile]) -> list[TileInputs]: ...


class BatchModel(Protocol):
    """Maps stacked inputs (``(B, ..., H, W)`` per name) and ``valid`` ``(B, H, W)`` to
    ``(B, C, H, W)`` float32 outputs (for a classifier, class probabilities); NaN where the
    model has no answer, which makes the pixel nodata."""

    def __call__(self, arrays: dict[str, np.ndarray], valid: np.ndarray) -> np.ndarray: ...


class BlockSink(Protocol):
    def write_block(self, block: Block) -> None: ...


class TileWork(Protocol):
    """Computes the outputs of a batch of tiles (``None`` for a tile that is all nodata).

    For a cluster it must pickle small: file paths and settings, never open datasets or
    loaded models (see :func:`predict_batch`)."""

    def __call__(self, tiles: Sequence[Tile]) -> list[TileOutput | None]: ...


@dataclass
class RunStats:
    """What a run did: tiles seen and skipped as nodata, tiles predicted again at stripe
    borders, tiles found in a tile store from an earlier run, blocks written."""

    tiles: int = 0
    tiles_skipped: int = 0
    tiles_recomputed: int = 0
    tiles_reused: int = 0
    blocks_written: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, count in counts.items():
                setattr(self, name, getattr(self, name) + count)


def run_tiles(
    layout: TileLayout,
    reader: TileReader,
    model: BatchModel,
    sinks: Sequence[BlockSink],
    batch_size: int = 8,
    workers: int = 2,
    progress: bool = True,
    description: str = "tiles",
    stripe_width: int = 8192,
) -> RunStats:
    """Run ``model`` over every tile of ``layout`` and write the blended blocks to ``sinks``.

    Tiles whose pixels are all nodata are never given to the model; their blocks are not
    written, so they stay nodata in the outputs.

    With a halo, a block needs the tiles of the row below it, so a whole row of predictions
    is held while the next row is made: memory would grow with the raster's width. The
    raster is therefore mapped in vertical stripes about ``stripe_width`` pixels wide, one
    after the other, each also predicting the tile column on either side of it (which its
    neighbour stripe predicts again). Memory then follows the stripe, never the raster, for
    an extra 2 / (stripe_width / core) of model calls. The model must therefore give a tile
    the same output whatever batch it is in.
    """
    _check(batch_size, workers)
    stats = RunStats()

    def outputs_of(batch: Sequence[Tile]) -> list[TileOutput | None]:
        return predict_batch(reader, model, batch)

    with _Progress(len(layout), description, enabled=progress):
        for first, stop in stripes(layout, stripe_width):
            _run_stripe(layout, first, stop, outputs_of, True, sinks, batch_size, workers, stats)
    return stats


def run_stored_tiles(
    layout: TileLayout,
    work: TileWork,
    store: TileStore,
    sinks: Sequence[BlockSink],
    batch_size: int = 8,
    workers: int = 2,
    executor: Executor | None = None,
    progress: bool = True,
    description: str = "tiles",
    stripe_width: int = 8192,
) -> RunStats:
    """Like :func:`run_tiles`, through ``store``: compute and store the tiles not yet in it
    (with ``executor``, or ``workers`` threads), then blend and write every block from it.

    Every tile is computed once, even at stripe borders. Stopped at any point, the same call
    again computes only the missing batches and writes the same bytes.
    """
    _check(batch_size, workers)
    reused = fill_store(layout, work, store, batch_size, workers, executor, progress, description)
    stats = write_stored(layout, store, sinks, progress, description, stripe_width)
    stats.add(tiles_reused=reused)
    return stats


def write_stored(
    layout: TileLayout,
    store: TileStore,
    sinks: Sequence[BlockSink],
    progress: bool = True,
    description: str = "tiles",
    stripe_width: int = 8192,
) -> RunStats:
    """Blend and write every block of ``layout`` from a filled ``store``."""
    stats = RunStats()
    with tqdm(
        total=len(layout), desc=f"{description} (mosaic)", unit="tile", disable=not progress
    ) as bar:
        for first, stop in stripes(layout, stripe_width):
            _write_stored_stripe(layout, first, stop, store, sinks, stats, bar.update)
    return stats


def _write_stored_stripe(
    layout: TileLayout,
    first: int,
    stop: int,
    store: TileStore,
    sinks: Sequence[BlockSink],
    stats: RunStats,
    advance: Callable[[int], object],
) -> None:
    """Blend and write the blocks of tile columns ``[first, stop)`` from ``store``, one
    after the other in row-major order.

    One thread in a fixed order, rather than a dask graph: a tiled GeoTIFF lays its blocks
    out in the order they are written, and dask's order among ready tasks may change from
    one process to the next, so only a fixed order makes two runs' files the same bytes.
    The model's work is done by now; what is left is loading, blending and compressing.
    Only the predictions of the rows around the current block are held.
    """
    held: dict[tuple[int, int], Prediction | None] = {}
    for tile in layout:
        if not first <= tile.index[1] < stop:
            continue
        for neighbour in layout.neighbours(tile):
            if neighbour.index not in held:
                output = store.load(neighbour.index)
                held[neighbour.index] = (
                    None
                    if output is None
                    else weigh(layout, neighbour, output.values, output.answered)
                )
        stats.add(tiles=1, tiles_skipped=int(held[tile.index] is None))
        block = compose_block(layout, tile, held)
        if block is not None:
            for sink in sinks:
                sink.write_block(block)
            stats.add(blocks_written=1)
        for index in [index for index in held if index[0] < tile.index[0] - 1]:
            del held[index]
        advance(1)


def fill_store(
    layout: TileLayout,
    work: TileWork,
    store: TileStore,
    batch_size: int,
    workers: int = 2,
    executor: Executor | None = None,
    progress: bool = True,
    description: str = "tiles",
) -> int:
    """Compute and store every batch of ``layout`` that has a tile missing from ``store``.

    Batches are the layout's tiles in row-major order, ``batch_size`` at a time, so a batch
    is the same whichever tiles an earlier run stored. Only the store's folder, ``work`` and
    the batch's tiles are sent to ``executor``; results go to disk, never back through it.

    Returns:
        How many tiles were already stored (by an earlier, interrupted run).
    """
    tiles = list(layout)
    batches = [tiles[start : start + batch_size] for start in range(0, len(tiles), batch_size)]
    missing = [batch for batch in batches if not all(store.has(t.index) for t in batch)]
    reused = len(tiles) - sum(len(batch) for batch in missing)
    with tqdm(
        total=len(tiles), initial=reused, desc=description, unit="tile", disable=not progress
    ) as bar:
        tasks = [partial(_fill_batch, work, store, batch) for batch in missing]
        for number in _run_tasks(tasks, workers, executor):
            bar.update(len(missing[number]))
    return reused


class SourceWork(Protocol):
    """One raster's share of batches that span rasters: reads its tiles, and names the
    model that all of a batch's rasters go through (built where the batch runs).

    For a cluster it must pickle small, as a :class:`TileWork`."""

    @property
    def model(self) -> Callable[[], BatchModel]: ...

    def read(self, tiles: Sequence[Tile]) -> list[TileInputs]: ...


@dataclass(frozen=True)
class Source:
    """One raster of a run whose batches span rasters: its tiles, how they are read, and
    the store they go to."""

    layout: TileLayout
    work: SourceWork
    store: TileStore


def fill_stores(
    sources: Sequence[Source],
    batch_size: int,
    workers: int = 2,
    executor: Executor | None = None,
    progress: bool = True,
    description: str = "tiles",
) -> Iterator[tuple[int, int]]:
    """Like :func:`fill_store` for several rasters whose batches run on from one raster
    into the next, so that rasters smaller than a batch still fill it. All sources' models
    must be the same (the first one of a batch is used for all of it).

    The batches are the sources' tiles in order (source by source, each in row-major order),
    ``batch_size`` at a time, so they are the same whatever an earlier run stored. A tile's
    output must not depend on which rasters share its batch (beyond float rounding).

    Yields:
        ``(source number, tiles already stored before this run)`` for each source once all
        its tiles are stored, in the sources' order, so that a caller may write a raster's
        outputs (and delete its store) while later batches are computed.
    """
    tiles = [(number, tile) for number, source in enumerate(sources) for tile in source.layout]
    batches = [tiles[start : start + batch_size] for start in range(0, len(tiles), batch_size)]
    missing = [
        batch for batch in batches if not all(sources[n].store.has(t.index) for n, t in batch)
    ]
    left = Counter(number for batch in missing for number, _ in batch)
    reused = [len(source.layout) - left[number] for number, source in enumerate(sources)]
    tasks = [partial(_fill_parts, _parts(sources, batch)) for batch in missing]
    done = 0
    with ExitStack() as stack:
        bar = stack.enter_context(
            tqdm(
                total=len(tiles),
                initial=len(tiles) - sum(left.values()),
                desc=description,
                unit="tile",
                disable=not progress,
            )
        )
        running = stack.enter_context(closing(_run_tasks(tasks, workers, executor)))
        for finished in itertools.chain([None], running):
            if finished is not None:
                bar.update(len(missing[finished]))
                left.subtract(number for number, _ in missing[finished])
            while done < len(sources) and left[done] == 0:
                yield done, reused[done]
                done += 1


def _parts(
    sources: Sequence[Source], batch: Sequence[tuple[int, Tile]]
) -> list[tuple[SourceWork, TileStore, list[Tile]]]:
    """A batch split into runs of one source's tiles: only those sources travel with it."""
    return [
        (sources[number].work, sources[number].store, [tile for _, tile in run])
        for number, run in itertools.groupby(batch, key=lambda pair: pair[0])
    ]


def _fill_parts(parts: Sequence[tuple[SourceWork, TileStore, Sequence[Tile]]]) -> int:
    """Compute one batch that spans rasters, through one model call, and save its tiles
    in each raster's store (run on a worker); returns the tile count."""
    inputs = [tile_inputs for work, _, tiles in parts for tile_inputs in work.read(tiles)]
    tiles = [tile for _, _, part in parts for tile in part]
    outputs = iter(predict_inputs(parts[0][0].model(), inputs, tiles))
    for _, store, part in parts:
        for tile in part:
            store.save(tile.index, next(outputs))
    return len(tiles)


def _run_tasks(
    tasks: Sequence[Callable[[], int]], workers: int, executor: Executor | None
) -> Generator[int, None, None]:
    """Run ``tasks`` on ``executor``, on ``workers`` threads, or inline for one worker;
    yield each task's number as it is done."""
    if executor is None and inline(workers):
        for number, task in enumerate(tasks):
            task()
            yield number
        return
    with ExitStack() as stack:
        if executor is None:
            executor = stack.enter_context(ThreadPoolExecutor(max_workers=workers))
        futures = {executor.submit(task): number for number, task in enumerate(tasks)}
        try:
            for future in as_completed(futures):
                future.result()
                yield futures[future]
        finally:
            for future in futures:
                future.cancel()


def _fill_batch(work: TileWork, store: TileStore, batch: Sequence[Tile]) -> int:
    """Compute one batch and save its tiles (run on a worker); returns the tile count."""
    for tile, output in zip(batch, work(batch), strict=True):
        store.save(tile.index, output)
    return len(batch)


def predict_batch(
    reader: TileReader, model: BatchModel, batch: Sequence[Tile]
) -> list[TileOutput | None]:
    """Read a batch, skip its tiles that are all nodata, run ``model`` once on the rest.

    Returns:
        Per tile, its output over the read window, or ``None`` when it was skipped.
    """
    return predict_inputs(model, reader(batch), batch)


def predict_inputs(
    model: BatchModel, inputs: list[TileInputs], batch: Sequence[Tile]
) -> list[TileOutput | None]:
    """Run ``model`` once on the tiles of ``batch`` whose ``inputs`` are not all nodata.

    ``inputs`` is emptied: the stacked copies are all that is kept from there on.

    Returns:
        Per tile, its output over the read window, or ``None`` when it was skipped.
    """
    kept = [i for i, tile_inputs in enumerate(inputs) if tile_inputs.valid.any()]
    result: list[TileOutput | None] = [None] * len(batch)
    if not kept:
        return result
    names = inputs[kept[0]].arrays
    stacked = {name: np.stack([inputs[i].arrays[name] for i in kept]) for name in names}
    valid = np.stack([inputs[i].valid for i in kept])
    inputs.clear()
    outputs = model(stacked, valid)
    del stacked
    # A model answers NaN where it has nothing to say; those pixels become nodata.
    answered = valid & np.isfinite(outputs).all(axis=1)
    for row, i in enumerate(kept):
        height, width = batch[i].read.height, batch[i].read.width
        result[i] = TileOutput(
            np.asarray(outputs[row, :, :height, :width], dtype=np.float32),
            answered[row, :height, :width],
        )
    return result


def _check(batch_size: int, workers: int) -> None:
    if batch_size < 1:
        raise TilingError(f"batch size must be at least 1, got {batch_size}")
    if workers < 1:
        raise TilingError(f"workers must be at least 1, got {workers}")


def stripes(layout: TileLayout, stripe_width: int) -> list[tuple[int, int]]:
    """Ranges of tile columns ``[first, stop)`` mapped one after the other.

    Without a halo no block needs another column's tiles: one stripe is the whole raster.
    """
    columns = layout.shape[1]
    if layout.halo == 0:
        return [(0, columns)]
    width = max(1, stripe_width // layout.core)
    return [(first, min(first + width, columns)) for first in range(0, columns, width)]


def _run_stripe(
    layout: TileLayout,
    first: int,
    stop: int,
    outputs_of: Callable[[Sequence[Tile]], list[TileOutput | None]],
    recomputing: bool,
    sinks: Sequence[BlockSink],
    batch_size: int,
    workers: int,
    stats: RunStats,
) -> None:
    """Write the blocks of tile columns ``[first, stop)`` from the outputs of the tiles they
    need (``recomputing``: those outputs are predicted, so the neighbour columns count as
    predicted again)."""
    tiles = [tile for tile in layout if first <= tile.index[1] < stop]
    own = {tile.index for tile in tiles}
    needs_of = {tile.index: layout.neighbours(tile) for tile in tiles}
    needed = {n.index for neighbours in needs_of.values() for n in neighbours}
    predicted_tiles = [tile for tile in layout if tile.index in needed]  # row-major
    batches = [
        predicted_tiles[start : start + batch_size]
        for start in range(0, len(predicted_tiles), batch_size)
    ]
    batch_of = {tile.index: number for number, batch in enumerate(batches) for tile in batch}

    def predict(batch: list[Tile], *gate: None) -> dict[tuple[int, int], Prediction | None]:
        outputs = outputs_of(batch)
        mine = [i for i, tile in enumerate(batch) if tile.index in own]
        stats.add(
            tiles=len(mine),
            tiles_skipped=sum(outputs[i] is None for i in mine),
            tiles_recomputed=len(batch) - len(mine) if recomputing else 0,
        )
        result: dict[tuple[int, int], Prediction | None] = {}
        for tile, output in zip(batch, outputs, strict=True):
            result[tile.index] = (
                None if output is None else weigh(layout, tile, output.values, output.answered)
            )
        return result

    def write(tile: Tile, *batch_results: dict[tuple[int, int], Prediction | None]) -> None:
        predictions: dict[tuple[int, int], Prediction | None] = {}
        for batch_result in batch_results:
            predictions.update(batch_result)
        block = compose_block(layout, tile, predictions)
        if block is not None:
            for sink in sinks:
                sink.write_block(block)
            stats.add(blocks_written=1)

    # Blocks are grouped by the batch that predicts their own tile; the blocks of group g
    # need batches up to g + reach. Batch k may start only once group k - reach - workers
    # is written, so that at most 2 reach + workers + 1 batches are held at once: dask would
    # otherwise run every independent read-and-predict task first and hold them all.
    groups: list[list[Tile]] = [[] for _ in batches]
    for tile in tiles:
        groups[batch_of[tile.index]].append(tile)
    needs = {
        index: sorted({batch_of[n.index] for n in neighbours})
        for index, neighbours in needs_of.items()
    }
    reach = max(max(needed) - batch_of[index] for index, needed in needs.items())
    lead = reach + workers
    predicted: list[Any] = []
    gates: list[Any] = []
    for number, batch in enumerate(batches):
        gate = [gates[number - lead - 1]] if number > lead else []
        predicted.append(
            dask.delayed(predict, pure=False)(batch, *gate, dask_key_name=f"predict-{number}")
        )
        if number >= reach:
            gates.append(_gate(number - reach, groups, needs, predicted, write))
    for number in range(len(gates), len(batches)):
        gates.append(_gate(number, groups, needs, predicted, write))
    if inline(workers):
        dask.compute(*gates, scheduler="sync")
        return
    # A pool of our own, not dask's cached one: its threads exit with the step, and with them
    # their OpenMP teams, which would otherwise slow every later step (see :func:`inline`).
    with ThreadPoolExecutor(max_workers=workers) as pool:
        dask.compute(*gates, scheduler="threads", pool=pool)


def inline(workers: int) -> bool:
    """Whether ``workers`` run on the calling thread: one does, and then no pool is made.

    torch runs its operators on an OpenMP team per calling thread. Once the main thread has
    used torch (loading a model does), a pool thread's team is a second one, and libgomp,
    seeing more threads than cores, puts its threads to sleep between operators instead of
    spinning: one 256² tile through the prior took 1.9 times as long on a pool's only thread
    as on the main thread, a batch of 25 1.3 times (2 cores,
    ``tests/benchmarks/bench_threads.py``).
    """
    return workers == 1


def _gate(
    number: int,
    groups: list[list[Tile]],
    needs: dict[tuple[int, int], list[int]],
    predicted: list[Any],
    write: Callable[..., None],
) -> Any:
    """A task that is done when every block of group ``number`` is written."""
    blocks = [
        dask.delayed(write, pure=False)(
            tile,
            *(predicted[n] for n in needs[tile.index]),
            dask_key_name=f"block-{tile.index[0]}-{tile.index[1]}",
        )
        for tile in groups[number]
    ]
    return dask.delayed(_done, pure=False)(*blocks, dask_key_name=f"gate-{number}")


def _done(*written: None) -> None:
    return None


class _Progress(Callback):
    """A tqdm bar that advances as output blocks are written."""

    def __init__(self, total: int, description: str, enabled: bool) -> None:
        super().__init__()
        self._bar: Any = None
        self._make_bar: Callable[[], Any] = lambda: tqdm(
            total=total, desc=description, unit="tile", disable=not enabled
        )

    def _start(self, dsk: object) -> None:
        self._bar = self._make_bar()

    def _posttask(
        self, key: object, result: object, dsk: object, state: object, id: object
    ) -> None:
        if isinstance(key, str) and key.startswith("block-"):
            self._bar.update(1)

    def _finish(self, dsk: object, state: object, errored: bool) -> None:
        self._bar.close()
