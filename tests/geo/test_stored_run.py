"""The engine's tile-store path: the same blocks as a direct run, every tile computed once,
and a run stopped in the middle continued without recomputing what was stored."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import rasterio

from geoppp.geo.engine import predict_batch, run_stored_tiles, run_tiles
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
