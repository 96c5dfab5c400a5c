"""Benchmark of plug-and-play through the whole product path: the demo's label-only
``plug_and_play`` step (pipelines/demo-transfer.yaml) mapping the demo target through the
engine (read, weak labels, constraints, optimiser, colour readout, store, mosaic), batched
against one tile at a time, alternating in the same run.

    python tests/benchmarks/bench_ppp_region.py [--batches 1 25] [--steps 100] [--rounds 2]

``bench_ppp.py`` measures the denoiser alone; this measures what a user's ``geoppp run``
gets. The demo target is made in a temporary folder (1024² px at 1 m: 25 tiles of 224 m
cores). One JSON line per run: tiles per second, seconds per km² (at ``--steps``; the
reading, readout and mosaic do not scale with the steps) and the speed-up over the first
batch size of the same round.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from geoppp.config import PipelineConfig, PlugAndPlayStep, load_pipeline
from geoppp.landcover.synthetic import make_demo_region
from geoppp.pipeline import Overrides, run_pipeline_config

REPOSITORY = Path(__file__).resolve().parents[2]
STEP = "geoppp-labels"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 25])
    parser.add_argument(
        "--steps", type=int, default=None, help="optimiser steps per tile (default: the demo's)"
    )
    parser.add_argument("--rounds", type=int, default=2)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ppp-region-") as folder:
        root = Path(folder)
        shutil.copytree(REPOSITORY / "pipelines", root / "pipelines")
        shutil.copytree(REPOSITORY / "regions", root / "regions")
        make_demo_region(root / "demo-data" / "target", "target")
        demo = load_pipeline(root / "pipelines" / "demo-transfer.yaml")
        [step] = [s for s in demo.steps if s.name == STEP]
        assert isinstance(step, PlugAndPlayStep)
        steps = arguments.steps or step.optimiser.steps
        step = step.model_copy(
            update={"optimiser": step.optimiser.model_copy(update={"steps": steps})}
        )
        pipeline = PipelineConfig(region=demo.region, execution=demo.execution, steps=[step])
        for round_ in range(arguments.rounds):
            first: float | None = None
            for batch in arguments.batches:
                overrides = Overrides(overwrite=True, batch_size=batch, progress=False)
                [report] = run_pipeline_config(pipeline, overrides, lambda line: None)
                [result] = report.results
                tiles = result.stats.tiles - result.stats.tiles_skipped
                tiles_per_second = tiles / result.seconds
                first = first or tiles_per_second
                km2 = result.megapixels * 1e6 * result.pixel_area / 1e6
                print(
                    json.dumps(
                        {
                            "round": round_,
                            "batch": batch,
                            "steps": steps,
                            "tiles": tiles,
                            "seconds": round(result.seconds, 1),
                            "tiles_per_s": round(tiles_per_second, 3),
                            "s_per_km2": round(result.seconds / km2, 1),
                            "speedup_vs_first_batch": round(tiles_per_second / first, 2),
                        }
                    ),
                    flush=True,
                )


if __name__ == "__main__":
    main()
