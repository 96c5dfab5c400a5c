"""Seconds per km² of `geoppp transfer`, stage by stage, beside the source-only U-Net.

    python tests/benchmarks/bench_transfer.py [--source-size 1024] [--target-size 512]
        [--steps 100] [--regions DIR]

Makes the demo's source and target regions (script-made, no download) unless ``--regions``
names a folder holding ``source/region.yaml`` and ``target/region.yaml``, then, in one run
on the same machine:

1. ``geoppp.transfer`` with a fresh cache: the source's label statistics, its network (the
   source-only U-Net's recipe: it *is* that network) and the mapping of the target by
   plug-and-play (the prior is shipped, so no prior is trained);
2. the source-only U-Net as a user would run it: ``train_segmentation`` on the source and a
   ``segmentation`` step on the target, timed alike;
3. ``geoppp.transfer`` again: the cache is reused, only the mapping is paid.

Prints one JSON line per stage: seconds, and seconds per km² of the region the stage reads
(the source for statistics and network training, the target for mapping).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import geoppp
from geoppp.config import PipelineConfig, load_region, validate_document
from geoppp.domain_transfer import NETWORK_TRAINING
from geoppp.geo.raster import grid_of
from geoppp.pipeline import Overrides, run_pipeline_config


def area_km2(region_yaml: Path) -> float:
    """The area of a region's imagery files, km²."""
    total = 0.0
    for path in load_region(region_yaml).imagery.paths:
        grid = grid_of(path)
        total += grid.width * grid.height * abs(grid.transform.a * grid.transform.e) / 1e6
    return total


def report(stage: str, seconds: float, km2: float) -> None:
    print(
        json.dumps(
            {
                "stage": stage,
                "seconds": round(seconds, 1),
                "km2": round(km2, 4),
                "s_per_km2": round(seconds / km2, 1),
            }
        ),
        flush=True,
    )


def run_steps(region: Path, steps: list[dict[str, object]], folder: Path) -> float:
    document = {"region": str(region), "execution": {"progress": False}, "steps": steps}
    pipeline = validate_document(document, PipelineConfig, folder, "bench_transfer")
    started = time.perf_counter()
    run_pipeline_config(pipeline, Overrides(overwrite=True), log=lambda line: None)
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source-size", type=int, default=1024)
    parser.add_argument("--target-size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=100, help="plug-and-play steps")
    parser.add_argument("--regions", type=Path, help="folder with source/ and target/ regions")
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        if arguments.regions is None:
            source = geoppp.make_demo_region(work / "source", "source", arguments.source_size)
            target = geoppp.make_demo_region(work / "target", "target", arguments.target_size)
            source_yaml, target_yaml = source.region_yaml, target.region_yaml
        else:
            source_yaml = arguments.regions / "source" / "region.yaml"
            target_yaml = arguments.regions / "target" / "region.yaml"
        source_km2, target_km2 = area_km2(source_yaml), area_km2(target_yaml)
        settings = {"optimiser": {"steps": arguments.steps}}

        result = geoppp.transfer(
            source_yaml,
            target_yaml,
            work / "maps" / "{imagery}.tif",
            settings=settings,
            progress=False,
            log=lambda line: None,
        )
        for stage in ("statistics", "network"):
            report(f"transfer: {stage}", result.seconds[stage], source_km2)
        report("transfer: prior (shipped, matched)", result.seconds.get("prior", 0.0), source_km2)
        report("transfer: mapping", result.seconds["mapping"], target_km2)

        network = work / "unet.safetensors"
        training = {
            "name": "train",
            "kind": "train_segmentation",
            "labels": "ground_truth",
            "training": NETWORK_TRAINING,
            "outputs": {"checkpoint": str(network), "overwrite": True},
        }
        report("source-only U-Net: training", run_steps(source_yaml, [training], work), source_km2)
        mapping = {
            "name": "map",
            "kind": "segmentation",
            "network": str(network),
            "outputs": {"class_map": str(work / "unet-{imagery}.tif"), "overwrite": True},
        }
        report("source-only U-Net: mapping", run_steps(target_yaml, [mapping], work), target_km2)

        again = geoppp.transfer(
            source_yaml,
            target_yaml,
            work / "again" / "{imagery}.tif",
            cache=result.source.folder.parent,
            settings=settings,
            progress=False,
            log=lambda line: None,
        )
        assert again.source.reused
        report("transfer again (cache reused): total", again.seconds["total"], target_km2)


if __name__ == "__main__":
    main()
