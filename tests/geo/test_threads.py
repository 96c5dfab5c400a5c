"""Where the engine runs a model: one worker on the calling thread, several on a pool whose
threads are gone when the run returns (each thread that runs torch keeps an OpenMP team,
which slows every other thread's operators; see ``geoppp.geo.engine.inline``)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from geoppp.geo.engine import predict_batch, run_stored_tiles, run_tiles
from geoppp.geo.grid import Tile, TileLayout
from geoppp.geo.raster import grid_of
from geoppp.geo.tilestore import TileOutput, TileStore
from tests.geo.helpers import IdentityModel, ImageReader
from tests.rasters import random_image, write_raster


class ThreadRecordingModel(IdentityModel):
    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    def __call__(self, arrays: dict[str, np.ndarray], valid: np.ndarray) -> np.ndarray:
        self.threads.add(threading.get_ident())
        return super().__call__(arrays, valid)


class ThreadRecordingWork:
    def __init__(self, path: Path) -> None:
        self.reader = ImageReader(path, (1, 2))
        self.model = ThreadRecordingModel()

    def __call__(self, tiles: Sequence[Tile]) -> list[TileOutput | None]:
        return predict_batch(self.reader, self.model, tiles)


@pytest.fixture
def layout_and_image(tmp_path: Path) -> tuple[TileLayout, Path]:
    image = write_raster(tmp_path / "image.tif", random_image(64, 48, bands=2))
    return TileLayout(grid_of(image), 16, 4), image


def run(kind: str, layout: TileLayout, image: Path, workers: int, folder: Path) -> set[int]:
    if kind == "direct":
        model = ThreadRecordingModel()
        run_tiles(layout, ImageReader(image, (1, 2)), model, [], 2, workers, progress=False)
        return model.threads
    work = ThreadRecordingWork(image)
    store = TileStore.open(folder / f"run-{workers}.tiles", {"run": workers})
    run_stored_tiles(layout, work, store, [], 2, workers, progress=False)
    return work.model.threads


@pytest.mark.parametrize("kind", ["direct", "stored"])
def test_one_worker_runs_the_model_on_the_calling_thread(
    kind: str, layout_and_image: tuple[TileLayout, Path], tmp_path: Path
) -> None:
    layout, image = layout_and_image
    assert run(kind, layout, image, 1, tmp_path) == {threading.get_ident()}


@pytest.mark.parametrize("kind", ["direct", "stored"])
def test_several_workers_leave_no_thread_behind(
    kind: str, layout_and_image: tuple[TileLayout, Path], tmp_path: Path
) -> None:
    layout, image = layout_and_image
    threads = run(kind, layout, image, 2, tmp_path)
    assert threading.get_ident() not in threads
    alive = {thread.ident for thread in threading.enumerate()}
    assert not threads & alive
