"""Benchmark: training and prediction time of each baseline beside geoppp's inference time,
in one run of the demo pipeline (pipelines/demo-transfer.yaml) on the demo regions.

The pipeline and region YAML files are copied into a temporary folder with demo regions
made there (``--size`` crops both regions; default: the demo's own sizes), so the run is
`geoppp demo` without touching the checkout's demo-data/. Prints the pipeline's log (with the
comparison table), then one JSON line per step: what it did and how long it took.

    python tests/benchmarks/bench_baselines.py            # the demo itself
    python tests/benchmarks/bench_baselines.py --size 512 --network-steps 60 --threads 1

``--network-steps`` changes the training steps of every train_segmentation step (for a quick
measurement on a busy machine: per-step times scale, the maps' scores do not hold).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

from geoppp.config import PipelineConfig, TrainSegmentationStep, load_pipeline
from geoppp.landcover.synthetic import make_demo_region
from geoppp.pipeline import Overrides, run_pipeline_config

REPOSITORY = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=None, help="pixels a side of both regions")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--network-steps", type=int, default=None, help="U-Net training steps")
    parser.add_argument("--keep", type=Path, default=None, help="copy the outputs here")
    arguments = parser.parse_args()
    if arguments.threads is not None:
        torch.set_num_threads(arguments.threads)
    with tempfile.TemporaryDirectory(prefix="bench-baselines-") as folder:
        root = Path(folder)
        shutil.copytree(REPOSITORY / "pipelines", root / "pipelines")
        shutil.copytree(REPOSITORY / "regions", root / "regions")
        for domain in ("source", "target"):
            make_demo_region(root / "demo-data" / domain, domain, arguments.size)
        pipeline = load_pipeline(root / "pipelines" / "demo-transfer.yaml")
        if arguments.network_steps is not None:
            pipeline = with_network_steps(pipeline, arguments.network_steps)
        started: dict[str, float] = {}

        def log(line: str) -> None:
            if line.startswith("step "):
                name = line.removeprefix("step ").split(":")[0]
                started.setdefault(name, time.perf_counter())
            print(line, flush=True)

        begun = time.perf_counter()
        reports = run_pipeline_config(pipeline, Overrides(overwrite=True, progress=False), log)
        finished = time.perf_counter()
        names = [step.name for step in pipeline.steps]
        for position, report in enumerate(reports):
            following = [started[n] for n in names[position + 1 :] if n in started]
            wall = (following[0] if following else finished) - started.get(report.name, begun)
            line: dict[str, object] = {
                "step": report.name,
                "kind": report.kind,
                "wall_seconds": round(wall, 1),
                "size": arguments.size or "demo",
                "threads": torch.get_num_threads(),
            }
            if report.network is not None:
                line["train_seconds"] = round(report.network.seconds, 1)
            if report.results:
                line["map_seconds"] = round(sum(r.seconds for r in report.results), 1)
                line["megapixels"] = round(sum(r.megapixels for r in report.results), 3)
            print(json.dumps(line), flush=True)
        print(json.dumps({"step": "total", "wall_seconds": round(finished - begun, 1)}))
        if arguments.keep is not None:
            shutil.copytree(root / "demo-data", arguments.keep, dirs_exist_ok=True)


def with_network_steps(pipeline: PipelineConfig, steps: int) -> PipelineConfig:
    """``pipeline`` with every train_segmentation step trained for ``steps`` steps."""
    changed = [
        step.model_copy(update={"training": step.training.model_copy(update={"steps": steps})})
        if isinstance(step, TrainSegmentationStep)
        else step
        for step in pipeline.steps
    ]
    return pipeline.model_copy(update={"steps": changed})


if __name__ == "__main__":
    main()
