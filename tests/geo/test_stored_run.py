"""The engine's tile-store path: the same blocks as a direct run, every tile computed once,
a run stopped in the middle continued without recomputing what was stored, and batches that
run on across several rasters giving each raster the tiles it gets alone."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import rasterio

from geoppp.geo.engine import (
    Source,
    TileInputs,
    fill_store,
    fill_stores,
    predict_batch,
    run_stored_tiles,
    run_tiles,
)
from geoppp.geo.grid import Tile, TileLayout
from geoppp.geo.output import OutputOptions, ValueOutput
from geoppp.geo.raster import grid_of
from geoppp.geo.tilestore import TileOutput, TileStore
from tests.geo.helpers import IdentityModel, ImageReader
from tests.rasters import random_image, write_raster


class Interrupted(Exception):
    pass


class CountingWork:
    """Identity work over an image; counts tiles, and fails once ``fail_after`` batches ran."""

    def __init__(self, path: Path, fail_after: int | None = None) -> None:
        self.reader = ImageReader(path, (1, 2))
        self.tiles: list[tuple[int, int]] = []
        self.fail_after = fail_after

    def __call__(self, tiles: Sequence[Tile]) -> list[TileOutput | None]:
        if self.fail_after is not None and len(self.tiles) >= self.fail_after * len(tiles):
            raise Interrupted
        self.tiles.extend(tile.index for tile in tiles)
        return predict_batch(self.reader, IdentityModel(), tiles)


@pytest.fixture
def image(tmp_path: Path) -> Path:
    array = random_image(90, 70, bands=2)
    array[:, :40, :40] = 0  # a nodata corner: its tile is skipped
    return write_raster(tmp_path / "image.tif", array, nodata=0)


def write(path: Path, image: Path, run: object) -> np.ndarray:
    grid = grid_of(image)
    with ValueOutput(OutputOptions(path), grid, 2, "uint8", 0, block_size=16) as sink:
        run(TileLayout(grid, 16, 4), [sink])  # type: ignore[operator]
    with rasterio.open(path) as dataset:
        return np.asarray(dataset.read())


@pytest.mark.parametrize("stripe_width", [8192, 32])
def test_the_stored_path_writes_the_direct_run_s_pixels(
    tmp_path: Path, image: Path, stripe_width: int
) -> None:
    direct = write(
        tmp_path / "direct.tif",
        image,
        lambda layout, sinks: run_tiles(
            layout,
            ImageReader(image, (1, 2)),
            IdentityModel(),
            sinks,
            batch_size=3,
            progress=False,
            stripe_width=stripe_width,
        ),
    )
    work = CountingWork(image)
    store = TileStore.open(tmp_path / "run.tiles", {"run": 1})
    stored = write(
        tmp_path / "stored.tif",
        image,
        lambda layout, sinks: run_stored_tiles(
            layout, work, store, sinks, batch_size=3, progress=False, stripe_width=stripe_width
        ),
    )
    np.testing.assert_array_equal(stored, direct)
    assert sorted(work.tiles) == sorted(set(work.tiles))  # each tile once, even at stripes
    assert store.load((0, 0)) is None  # the nodata corner


def test_a_stopped_run_continues_from_its_store(tmp_path: Path, image: Path) -> None:
    folder = tmp_path / "run.tiles"
    interrupted = CountingWork(image, fail_after=4)
    run = partial(run_stored_tiles, batch_size=3, workers=1, progress=False)
    with pytest.raises(Interrupted):
        write(
            tmp_path / "a.tif",
            image,
            lambda layout, sinks: run(layout, interrupted, TileStore.open(folder, {}), sinks),
        )
    assert not (tmp_path / "a.tif").exists()
    done = set(interrupted.tiles)
    assert 0 < len(done) < 36
    resumed = CountingWork(image)
    stats = []
    continued = write(
        tmp_path / "b.tif",
        image,
        lambda layout, sinks: stats.append(run(layout, resumed, TileStore.open(folder, {}), sinks)),
    )
    assert not done & set(resumed.tiles)
    assert stats[0].tiles_reused == len(done)
    whole = write(
        tmp_path / "c.tif",
        image,
        lambda layout, sinks: run(
            layout, CountingWork(image), TileStore.open(tmp_path / "c.tiles", {}), sinks
        ),
    )
    assert (tmp_path / "b.tif").read_bytes() == (tmp_path / "c.tif").read_bytes()
    np.testing.assert_array_equal(continued, whole)


@dataclass(frozen=True)
class ImageSource:
    """A :class:`~geoppp.geo.engine.SourceWork` over one image, all sources sharing a model."""

    reader: ImageReader
    shared: IdentityModel

    @property
    def model(self) -> Callable[[], IdentityModel]:
        return lambda: self.shared

    def read(self, tiles: Sequence[Tile]) -> list[TileInputs]:
        return self.reader(tiles)


def small_images(folder: Path) -> list[Path]:
    """Three images of 8 or 9 tiles of 16 + 4 pixels; two tiles of the second all nodata."""
    shapes = [(40, 40), (20, 50), (40, 40)]
    paths = []
    for number, (height, width) in enumerate(shapes):
        array = random_image(height, width, bands=2, seed=number)
        if number == 1:
            array[:, :, :24] = 0
        paths.append(write_raster(folder / f"small-{number}.tif", array, nodata=0))
    return paths


def stored(store: TileStore, layout: TileLayout) -> list[TileOutput | None]:
    return [store.load(tile.index) for tile in layout]


def assert_same_tiles(a: list[TileOutput | None], b: list[TileOutput | None]) -> None:
    assert [x is None for x in a] == [y is None for y in b]
    for x, y in zip(a, b, strict=True):
        if x is not None and y is not None:
            np.testing.assert_array_equal(x.values, y.values)
            np.testing.assert_array_equal(x.answered, y.answered)


def test_batches_span_rasters_and_each_raster_gets_its_own_tiles(tmp_path: Path) -> None:
    images = small_images(tmp_path)
    layouts = [TileLayout(grid_of(path), 16, 4) for path in images]
    assert [len(layout) for layout in layouts] == [9, 8, 9]
    model = IdentityModel()
    sources = [
        Source(
            layout,
            ImageSource(ImageReader(path, (1, 2)), model),
            TileStore.open(tmp_path / f"{path.stem}.tiles", {}),
        )
        for path, layout in zip(images, layouts, strict=True)
    ]

    done = list(fill_stores(sources, batch_size=5, workers=1, progress=False))

    assert done == [(0, 0), (1, 0), (2, 0)]
    # 26 tiles in batches of 5 that run on across rasters, less the two nodata tiles.
    assert [shape[0] for shape in model.shapes_seen] == [5, 4, 4, 5, 5, 1]
    for path, layout, source in zip(images, layouts, sources, strict=True):
        alone = TileStore.open(tmp_path / f"{path.stem}-alone.tiles", {})
        fill_store(layout, CountingWork(path), alone, batch_size=5, workers=1, progress=False)
        assert_same_tiles(stored(source.store, layout), stored(alone, layout))


@pytest.mark.parametrize("workers", [1, 2])
def test_rasters_are_yielded_in_order_once_their_tiles_are_stored(
    tmp_path: Path, workers: int
) -> None:
    images = small_images(tmp_path)
    sources = [
        Source(
            TileLayout(grid_of(path), 16, 4),
            ImageSource(ImageReader(path, (1, 2)), IdentityModel()),
            TileStore.open(tmp_path / f"{path.stem}.tiles", {}),
        )
        for path in images
    ]
    for number, _ in fill_stores(sources, batch_size=4, workers=workers, progress=False):
        source = sources[number]
        assert all(source.store.has(tile.index) for tile in source.layout)
        source.store.remove()  # as a caller does once it has written the raster
    assert not any(source.store.folder.exists() for source in sources)


def test_a_stopped_run_across_rasters_recomputes_only_batches_with_missing_tiles(
    tmp_path: Path,
) -> None:
    images = small_images(tmp_path)

    def sources(model: IdentityModel) -> list[Source]:
        return [
            Source(
                TileLayout(grid_of(path), 16, 4),
                ImageSource(ImageReader(path, (1, 2)), model),
                TileStore.open(tmp_path / f"{path.stem}.tiles", {}),
            )
            for path in images
        ]

    first = sources(IdentityModel())
    filling = fill_stores(first, batch_size=5, workers=1, progress=False)
    assert next(filling) == (0, 0)  # batches 1 and 2 ran: raster 0 and 1 tile of raster 1
    filling.close()
    again = IdentityModel()
    done = list(fill_stores(sources(again), batch_size=5, workers=1, progress=False))
    assert done == [(0, 9), (1, 1), (2, 0)]
    assert [shape[0] for shape in again.shapes_seen] == [4, 5, 5, 1]
