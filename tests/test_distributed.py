"""Region pipelines on dask.distributed, resumed after a killed driver, surviving a killed
worker: every way gives the same class map, byte for byte, as an uninterrupted run on threads.

The model is the shipped demo-labels prior with a few optimiser steps on a small
script-made region (9 tiles, one per batch), slow enough to be stopped in the middle.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from geoppp.errors import ClusterError, ConfigError, TileStoreError
from geoppp.geo.cluster import available_cores, connect
from geoppp.landcover.synthetic import DemoRegion, make_demo_region
from geoppp.pipeline import Overrides, run_pipeline
from tests.regions import demo_project, write_yaml

SIZE = 256
TILES = 9  # 96-pixel cores on 256 pixels: 3 × 3
# Worker processes import torch and geoppp from scratch; on a loaded 2-core machine that
# takes tens of seconds.
START_TIMEOUT = 240.0


def quiet(line: str) -> None:
    pass


def step(**changes: Any) -> dict[str, Any]:
    document = {
        "name": "ppp",
        "kind": "plug_and_play",
        "prior": "demo-labels",
        "tile_size": 96,
        "halo": 16,
        "optimiser": {"steps": 12},
        "constraints": {"weak_kl": 1.0},
        "outputs": {"class_map": "out/ppp.tif"},
    }
    document.update(changes)
    return document


def project(folder: Path, demo: DemoRegion, **execution: Any) -> Path:
    return demo_project(folder, demo, steps=[step()], workers=2, batch_size=1, **execution)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRegion:
    return make_demo_region(tmp_path_factory.mktemp("demo") / "demo", "source", SIZE)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, demo: DemoRegion) -> bytes:
    """The class map of an uninterrupted run on threads, in this process."""
    pipeline = project(tmp_path_factory.mktemp("threads"), demo)
    run_pipeline(pipeline, log=quiet)
    out = pipeline.parent / "out"
    assert not (out / "ppp.tif.tiles").exists()  # removed once the map is complete
    return (out / "ppp.tif").read_bytes()


def cached_models() -> list[str]:
    """What this worker process keeps in its per-process cache, by kind."""
    from geoppp.geo import process_cache

    return [str(key[0]) for key in process_cache._CACHE if isinstance(key, tuple)]


def wait_for_some_tiles(store: Path, stop: threading.Event | None = None) -> int:
    """Block until ``store`` holds at least one tile; return how many it holds."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and not (stop and stop.is_set()):
        count = len(list(store.glob("tile-*.npz"))) if store.is_dir() else 0
        if count:
            return count
        time.sleep(0.02)
    raise AssertionError(f"no tile appeared in {store}")


def test_a_local_cluster_of_two_processes_gives_the_same_map(
    tmp_path: Path, demo: DemoRegion, reference: bytes
) -> None:
    pipeline = project(tmp_path, demo)
    lines: list[str] = []
    run_pipeline(pipeline, Overrides(local_cluster=2), log=lines.append)
    assert (tmp_path / "out" / "ppp.tif").read_bytes() == reference
    assert any("local cluster of 2 worker process" in line for line in lines)


def test_a_killed_driver_resumes_to_the_same_map(
    tmp_path: Path, demo: DemoRegion, reference: bytes
) -> None:
    pipeline = project(tmp_path, demo)
    store = tmp_path / "out" / "ppp.tif.tiles"
    command = [sys.executable, "-m", "geoppp.cli", "run", str(pipeline), "--no-progress"]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        done = wait_for_some_tiles(store)
        driver.send_signal(signal.SIGKILL)
    finally:
        driver.kill()
        driver.wait()
    assert done < TILES, "the run finished before it could be killed"
    assert not (tmp_path / "out" / "ppp.tif").exists()
    assert not list((tmp_path / "out").glob(".ppp.tif.partial-*"))  # no output opened yet
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    assert "taken from the tile store of an interrupted run" in finished.stdout
    assert (tmp_path / "out" / "ppp.tif").read_bytes() == reference
    assert not store.exists()


def test_a_killed_worker_is_replaced_and_the_map_is_the_same(
    tmp_path: Path, demo: DemoRegion, reference: bytes
) -> None:
    pipeline = project(tmp_path, demo)
    store = tmp_path / "out" / "ppp.tif.tiles"
    killed: list[int] = []
    finished = threading.Event()
    with connect(local_workers=2, timeout=START_TIMEOUT) as cluster:
        pids = list(cluster.client.run(os.getpid).values())
        assert len(pids) == 2

        def kill_one_worker() -> None:
            wait_for_some_tiles(store, finished)
            if not finished.is_set():
                os.kill(pids[0], signal.SIGKILL)
                killed.append(len(list(store.glob("tile-*.npz"))))

        killer = threading.Thread(target=kill_one_worker, daemon=True)
        killer.start()
        try:
            run_pipeline(pipeline, Overrides(scheduler=cluster.client.scheduler.address), log=quiet)
        finally:
            finished.set()
            killer.join()
        assert killed and killed[0] < TILES, "the run finished before a worker was killed"
        cluster.client.wait_for_workers(2, timeout=START_TIMEOUT)  # the nanny replaced it
        assert pids[0] not in cluster.client.run(os.getpid).values()
        # Each worker loaded the prior at most once and kept it, and runs one torch thread
        # (a replacement worker too, by the plugin).
        for models in cluster.client.run(cached_models).values():
            assert models.count("plug_and_play") <= 1
        assert set(cluster.client.run(torch.get_num_threads).values()) == {1}
    assert (tmp_path / "out" / "ppp.tif").read_bytes() == reference


def test_a_changed_step_refuses_the_earlier_tiles_until_restarted(
    tmp_path: Path, demo: DemoRegion
) -> None:
    pipeline = project(tmp_path, demo)
    weak = {"name": "weak", "kind": "weak_argmax", "tile_size": 128}
    weak["outputs"] = {"class_map": "out/weak.tif"}
    execution = {"batch_size": 1, "progress": False, "tile_store": "on", "keep_tile_store": True}
    write_yaml(pipeline, {"region": "region.yaml", "execution": execution, "steps": [weak]})
    run_pipeline(pipeline, log=quiet)
    # The kept store stands in for the one an interrupted run leaves behind.
    assert (tmp_path / "out" / "weak.tif.tiles" / "manifest.json").is_file()
    (tmp_path / "out" / "weak.tif").unlink()
    changed = {**weak, "tile_size": 64}
    write_yaml(pipeline, {"region": "region.yaml", "execution": execution, "steps": [changed]})
    with pytest.raises(TileStoreError, match=r"changed: step.*--restart"):
        run_pipeline(pipeline, log=quiet)
    run_pipeline(pipeline, Overrides(restart=True), log=quiet)
    assert (tmp_path / "out" / "weak.tif").exists()


def test_a_cluster_without_a_tile_store_is_refused(tmp_path: Path, demo: DemoRegion) -> None:
    pipeline = project(tmp_path, demo, tile_store="off")
    with pytest.raises(ConfigError, match="tile_store: off"):
        run_pipeline(pipeline, Overrides(local_cluster=2), log=quiet)


def test_an_unreachable_scheduler_is_named_in_the_error() -> None:
    unreachable = connect(scheduler="tcp://127.0.0.1:9", timeout=2)
    with pytest.raises(ClusterError, match=r"tcp://127.0.0.1:9.*scheduler is running"):
        unreachable.__enter__()


def test_more_local_workers_than_cores_are_refused() -> None:
    too_many = connect(local_workers=available_cores() + 1)
    with pytest.raises(ClusterError, match=r"core\(s\).*between 1 and"):
        too_many.__enter__()
