"""Benchmark: plug-and-play mapping on one and two dask worker processes, and what a city
would take on K GPUs.

On a script-made demo region, in one process and alternating, maps the same tiles with the
demo-labels prior:
  * in-process threads (``workers: 1``), the default executor, as the baseline;
  * ``--local-cluster 1`` and ``--local-cluster 2`` (worker processes, torch threads set so
    that workers × threads ≤ cores);
  * the mosaic alone: the same map again from a kept tile store (every tile reused), which
    is the part a cluster does not spread (one driver blends and writes).
Each prints a JSON line (tiles per second over the mapping, not counting cluster start-up).
Then the city-sized estimate from a measured per-tile cost, with its arithmetic.

    python tests/benchmarks/bench_distributed.py --size 672 --steps 10 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from geoppp.landcover.synthetic import make_demo_region
from geoppp.pipeline import Overrides, run_pipeline
from tests.regions import region_document, write_yaml

TILE = 224  # core pixels, at 1 m; with a 16-pixel halo, 256 px = 64 prior cells of 4 m
HALO = 16

# Measured on a lent NVIDIA H200 (README, bench_ppp.py, demo-joint prior, batch 128):
# 278 tiles/s at 20 optimiser steps.
H200_TILES_PER_S = 278.0
H200_STEPS = 20


def quiet(line: str) -> None:
    pass


def write_project(folder: Path, steps: int, batch_size: int, keep: bool = False) -> Path:
    """``folder``'s region and pipeline YAML over a demo region in ``folder/demo``."""
    write_yaml(folder / "region.yaml", region_document())
    (folder / "out").mkdir(exist_ok=True)
    return write_yaml(
        folder / "pipeline.yaml",
        {
            "region": "region.yaml",
            "execution": {
                "workers": 1,
                "batch_size": batch_size,
                "progress": False,
                "keep_tile_store": keep,
            },
            "steps": [
                {
                    "name": "ppp",
                    "kind": "plug_and_play",
                    "prior": "demo-labels",
                    "tile_size": TILE,
                    "halo": HALO,
                    "optimiser": {"steps": steps},
                    "constraints": {"weak_kl": 1.0},
                    "outputs": {"class_map": "out/ppp.tif", "overwrite": True},
                }
            ],
        },
    )


def measure(pipeline: Path, mode: str, overrides: Overrides) -> dict[str, Any]:
    started = time.perf_counter()
    reports = run_pipeline(pipeline, overrides, log=quiet)
    wall = time.perf_counter() - started
    result = reports[0].results[0]
    tiles = result.stats.tiles - result.stats.tiles_reused
    return {
        "mode": mode,
        "tiles": result.stats.tiles,
        "tiles_computed": tiles,
        "seconds": round(result.seconds, 2),
        "tiles_per_s": round(tiles / result.seconds, 3) if tiles else None,
        "megapixels_per_s": round(result.megapixels / result.seconds, 3),
        "start_up_s": round(wall - result.seconds, 1),
    }


def city_estimate(
    area_km2: float,
    gpus: int,
    mosaic_mpx_per_s: float,
    steps: int = 200,
    tiles_per_s: float = H200_TILES_PER_S,
) -> dict[str, Any]:
    """Seconds to map ``area_km2`` of 1 m imagery on ``gpus`` GPUs at the H200 rate, then
    to blend and write it on the driver at the measured mosaic rate."""
    tiles_per_km2 = 1e6 / TILE**2
    tiles = area_km2 * tiles_per_km2
    rate = tiles_per_s * H200_STEPS / steps  # the optimiser's steps dominate a tile's cost
    computing = tiles / (rate * gpus)
    mosaic = area_km2 / mosaic_mpx_per_s  # 1 km² at 1 m = 1 Mpx
    return {
        "estimate": f"{area_km2:g} km² on {gpus} GPU(s)",
        "arithmetic": (
            f"1e6 m²/km² / {TILE}² m² per tile = {tiles_per_km2:.2f} tiles/km²; "
            f"{area_km2:g} km² → {tiles:.0f} tiles; {tiles_per_s:g} tiles/s at {H200_STEPS} "
            f"steps → {rate:.1f} tiles/s per GPU at {steps} steps "
            f"({tiles_per_km2 / rate:.2f} s/km²); {tiles:.0f} / ({rate:.1f} × {gpus}) = "
            f"{computing:.0f} s of tiles; then the driver's mosaic, {area_km2:g} Mpx / "
            f"{mosaic_mpx_per_s:.2f} Mpx/s = {mosaic:.0f} s; total "
            f"{(computing + mosaic) / 60:.1f} min"
        ),
        "seconds": round(computing + mosaic, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=672, help="region pixels a side (1 m)")
    parser.add_argument("--steps", type=int, default=10, help="optimiser steps per tile")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--area", type=float, default=500.0, help="city area for the estimate")
    parser.add_argument("--gpus", type=int, nargs="+", default=[1, 4, 8])
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        make_demo_region(folder / "demo", "target", arguments.size)
        pipeline = write_project(folder, arguments.steps, arguments.batch_size)
        modes = [
            ("threads, 1 worker", Overrides(workers=1)),
            ("local cluster, 1 process", Overrides(local_cluster=1)),
            ("local cluster, 2 processes", Overrides(local_cluster=2)),
        ]
        rates: dict[str, list[float]] = {}
        for _ in range(arguments.repeats):
            for mode, overrides in modes:
                line = measure(pipeline, mode, overrides)
                rates.setdefault(mode, []).append(line["tiles_per_s"])
                print(json.dumps(line), flush=True)
        one, two = (max(rates[mode]) for mode, _ in modes[1:])
        print(json.dumps({"speed_up_1_to_2_processes": round(two / one, 2)}), flush=True)

        write_project(folder, arguments.steps, arguments.batch_size, keep=True)
        measure(pipeline, "fill a kept store", Overrides(workers=2))
        mosaic = measure(pipeline, "mosaic alone (all tiles reused)", Overrides())
        print(json.dumps(mosaic), flush=True)

    for gpus in arguments.gpus:
        estimate = city_estimate(arguments.area, gpus, mosaic["megapixels_per_s"])
        print(json.dumps(estimate, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
