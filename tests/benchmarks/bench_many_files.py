"""Benchmark: the same area as eight small imagery files and as one file, mapped by
plug-and-play in the same run, alternating.

A script-made demo region is cut into one 1024 × 512 px file (1 m, its real CRS and
transform) and into eight 256² files over the same ground, as Chesapeake patches are. With
96-pixel cores and a 16-pixel halo a 256² file is 9 tiles, fewer than a batch. Each round
maps, in a rotating order:
  * ``one-file``: the 1024 × 512 file (66 tiles);
  * ``eight-files``: the eight files as one step, in batches that span files (72 tiles);
  * ``eight-files-per-file``: the eight files one by one, each in batches of its own 9
    tiles (how a step mapped them before batches spanned files).
One JSON line per run (seconds, s/km²), then the ratios to ``one-file`` of the same round.
The goal: eight-files / one-file ≤ 1.2 (the extra 6 tiles alone are 1.09×).

    python tests/benchmarks/bench_many_files.py [--steps 15] [--batch 25] [--rounds 2]
        [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rasterio
import yaml
from affine import Affine

from geoppp.config import MappingStepConfig, load_pipeline, load_region
from geoppp.landcover.mapping import MapResult
from geoppp.landcover.synthetic import make_demo_region
from geoppp.steps.mapping import PreparedMapping, prepare, run_mapping, run_mapping_step

WIDTH, HEIGHT, PART = 1024, 512, 256


def cut(imagery: Path, folder: Path) -> tuple[Path, list[Path]]:
    """The whole 1024 × 512 file and its eight 256² parts, each on its own grid."""
    with rasterio.open(imagery) as dataset:
        profile = dict(dataset.profile)

        def write(name: str, row: int, col: int, height: int, width: int) -> Path:
            pixels = dataset.read(window=((row, row + height), (col, col + width)))
            transform = dataset.transform @ Affine.translation(col, row)
            path = folder / f"{name}.tif"
            with rasterio.open(
                path, "w", **{**profile, "width": width, "height": height, "transform": transform}
            ) as out:
                out.write(pixels)
            return path

        whole = write("whole", 0, 0, HEIGHT, WIDTH)
        parts = [
            write(f"part-{row}-{col}", row * PART, col * PART, PART, PART)
            for row in range(HEIGHT // PART)
            for col in range(WIDTH // PART)
        ]
    return whole, parts


def project(
    folder: Path, name: str, imagery: list[Path], steps: int, batch: int
) -> tuple[PreparedMapping, Any, Any]:
    """A checked plug-and-play step over ``imagery``: (step runs, region, execution)."""
    data = imagery[0].parent
    region = yaml.safe_load((data / "region.yaml").read_text())
    region["imagery"]["paths"] = [path.name for path in imagery]
    region.pop("ground_truth")
    region["name"] = name
    region_path = data / f"{name}.yaml"  # beside the files its relative paths name
    region_path.write_text(yaml.safe_dump(region))
    (folder / name).mkdir()
    pipeline = {
        "region": str(region_path),
        "execution": {"workers": 1, "batch_size": batch, "progress": False},
        "steps": [
            {
                "name": "ppp",
                "kind": "plug_and_play",
                "prior": "demo-labels",
                "tile_size": 96,
                "halo": 16,
                "optimiser": {"steps": steps},
                "constraints": {"weak_kl": 1.0},
                "outputs": {"class_map": str(folder / name / "{imagery}.tif")},
            }
        ],
    }
    pipeline_path = folder / name / "pipeline.yaml"
    pipeline_path.write_text(yaml.safe_dump(pipeline))
    config = load_pipeline(pipeline_path)
    loaded = load_region(config.region)
    [step] = config.steps
    assert isinstance(step, MappingStepConfig)
    runs = prepare([step], loaded, overwrite=True)
    return PreparedMapping(step, runs), loaded, config.execution


def quiet(line: str) -> None:
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15, help="optimiser steps per tile")
    parser.add_argument("--batch", type=int, default=25, help="execution.batch_size")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: torch's); 1 makes the CPU time a steadier measure of "
        "the work on a machine shared with other jobs",
    )
    arguments = parser.parse_args()
    if arguments.threads is not None:
        import torch

        torch.set_num_threads(arguments.threads)
    with tempfile.TemporaryDirectory(prefix="bench-many-files-") as temporary:
        folder = Path(temporary)
        demo = make_demo_region(folder / "demo", "target", WIDTH)
        whole, parts = cut(demo.imagery, demo.imagery.parent)
        one, one_region, execution = project(
            folder, "one", [whole], arguments.steps, arguments.batch
        )
        eight, eight_region, _ = project(folder, "eight", parts, arguments.steps, arguments.batch)

        variants: dict[str, Callable[[], list[MapResult]]] = {
            "one-file": lambda: run_mapping_step(one, one_region, execution, quiet, restart=True),
            "eight-files": lambda: run_mapping_step(
                eight, eight_region, execution, quiet, restart=True
            ),
            "eight-files-per-file": lambda: [
                run_mapping(run, eight_region, execution, quiet, restart=True) for run in eight.runs
            ],
        }
        # Untimed: torch's first batches pay one-off costs that would fall on one variant.
        # (Two files: a region of one file is refused where a vector layer misses it.)
        warm_up, warm_region, _ = project(folder, "warm-up", parts[:2], 1, arguments.batch)
        run_mapping_step(warm_up, warm_region, execution, quiet, restart=True)
        names = list(variants)
        wall: dict[str, list[float]] = {name: [] for name in names}
        cpu: dict[str, list[float]] = {name: [] for name in names}
        with rasterio.Env(GDAL_CACHEMAX=execution.gdal_cache_mb * 2**20):
            for round_ in range(arguments.rounds):
                for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                    started, used = time.perf_counter(), time.process_time()
                    results = variants[name]()
                    wall[name].append(time.perf_counter() - started)
                    cpu[name].append(time.process_time() - used)
                    km2 = sum(r.megapixels * r.pixel_area for r in results)  # 1e6 px·m² / 1e6
                    tiles = sum(r.stats.tiles - r.stats.tiles_skipped for r in results)
                    print(
                        json.dumps(
                            {
                                "round": round_,
                                "variant": name,
                                "files": len(results),
                                "tiles": tiles,
                                "steps": arguments.steps,
                                "batch": arguments.batch,
                                "seconds": round(wall[name][-1], 1),
                                "cpu_seconds": round(cpu[name][-1], 1),
                                "s_per_km2": round(wall[name][-1] / km2, 1),
                            }
                        ),
                        flush=True,
                    )
        # Per round, as the variants of a round ran close together; the CPU time of this
        # process is less disturbed than the wall time by other jobs on the machine.
        for numerator, denominator in (
            ("eight-files", "one-file"),
            ("eight-files-per-file", "one-file"),
            ("eight-files-per-file", "eight-files"),
        ):
            for clock, times in (("wall", wall), ("cpu", cpu)):
                ratios = [a / b for a, b in zip(times[numerator], times[denominator], strict=True)]
                print(
                    f"{numerator} / {denominator} ({clock}): "
                    + ", ".join(f"{ratio:.2f}" for ratio in ratios)
                    + f" (median {statistics.median(ratios):.2f})"
                )


if __name__ == "__main__":
    main()
