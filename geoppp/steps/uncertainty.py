"""Uncertainty step: a plug_and_play step run once per seed (posterior samples), then, block by
block, a 2-band raster of agreement and entropy and a report of whether they mean something.

The engine is not changed: each seed's run is an ordinary mapping run into a temporary
folder beside the output, removed afterwards; the sampled step's own run is reused for its
own seed when it wrote probabilities.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from geoppp.atomic import write_text_atomically
from geoppp.config import ExecutionConfig, PlugAndPlayStep, RegionConfig, UncertaintyStep
from geoppp.errors import ConfigError
from geoppp.geo.grid import Grid, TileLayout
from geoppp.geo.mosaic import Block
from geoppp.geo.output import OutputOptions, ValueOutput, check_writable
from geoppp.geo.raster import AlignedSource, open_raster, read_aligned
from geoppp.landcover.evaluation import value_lookup
from geoppp.landcover.uncertainty import CertaintyHalves, summarise_samples
from geoppp.region import for_tile, truth_classes
from geoppp.steps.mapping import PreparedRun, StepOutputs, run_mapping

BLOCK = 512
"""Pixels a side of the blocks read and written (memory: K × C × BLOCK² float32)."""


@dataclass(frozen=True)
class PreparedUncertainty:
    """An uncertainty step, checked: the sampled step's run and the outputs, per imagery."""

    step: UncertaintyStep
    runs: list[PreparedRun]
    rasters: list[OutputOptions]
    reports: list[OutputOptions | None]


def prepare_uncertainty(
    step: UncertaintyStep, sampled: list[PreparedRun], region: RegionConfig, overwrite: bool
) -> PreparedUncertainty:
    """Check the outputs; ``sampled``: the prepared runs of the step to sample."""
    if step.outputs.report is not None and region.ground_truth is None:
        raise ConfigError(
            f"step {step.name} asks for a report, but region {region.name} has no "
            "ground_truth to score against; add `ground_truth` or remove `outputs.report`"
        )
    several = len(sampled) > 1
    rasters, reports = [], []
    for run in sampled:
        rasters.append(_options(step, step.outputs.raster, run, several, overwrite))
        report = step.outputs.report
        reports.append(None if report is None else _options(step, report, run, several, overwrite))
    return PreparedUncertainty(step, sampled, rasters, reports)


def _options(
    step: UncertaintyStep, path: Path, run: PreparedRun, several: bool, overwrite: bool
) -> OutputOptions:
    if several and "{imagery}" not in path.name:
        raise ConfigError(
            f"step {step.name}: output {path} would be written once per imagery file; put "
            "`{imagery}` in its name"
        )
    options = OutputOptions(
        Path(str(path).replace("{imagery}", run.imagery.path.stem)),
        overwrite=overwrite or step.outputs.overwrite,
    )
    check_writable(options)
    return options


def run_uncertainty(
    prepared: PreparedUncertainty,
    region: RegionConfig,
    execution: ExecutionConfig,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Run the sampled step once per seed, then write agreement/entropy and the report."""
    step = prepared.step
    documents = []
    for run, raster, report in zip(prepared.runs, prepared.rasters, prepared.reports, strict=True):
        assert isinstance(run.step, PlugAndPlayStep)  # the pipeline's validation says so
        log(
            f"step {step.name}: {len(step.seeds)} runs of {run.step.name} (seeds {step.seeds}) "
            f"on {run.imagery.path.name} → {raster.path}"
        )
        with tempfile.TemporaryDirectory(
            dir=raster.path.parent, prefix=f".{step.name}-samples-"
        ) as folder:
            samples = []
            for seed in step.seeds:
                own = run.outputs.probabilities
                if seed == run.step.seed and own is not None and own.path.exists():
                    # the sampled step already wrote this seed's run
                    log(f"  seed {seed}: {own.path} of step {run.step.name}")
                    samples.append(own.path)
                    continue
                class_map = OutputOptions(Path(folder) / f"seed-{seed}.tif")
                probabilities = OutputOptions(Path(folder) / f"seed-{seed}-probabilities.tif")
                seeded = replace(
                    run,
                    step=run.step.model_copy(update={"seed": seed}),
                    outputs=StepOutputs(class_map, probabilities, None, None),
                )
                result = run_mapping(seeded, region, execution, log)
                assert result.probabilities is not None
                samples.append(result.probabilities)
            halves = write_uncertainty(raster, run.grid, samples, region, run.imagery.path)
        document = {
            "region": region.name,
            "step": step.name,
            "sampled_step": run.step.name,
            "seeds": step.seeds,
            "imagery": str(run.imagery.path),
            "raster": str(raster.path),
            "bands": ["agreement", "entropy"],
            **(halves or {}),
        }
        if report is not None and halves is not None:
            write_text_atomically(report.path, json.dumps(document, indent=2) + "\n")
            write_text_atomically(report.path.with_suffix(".md"), format_halves(document))
            log(format_halves(document))
        documents.append(document)
    return documents


def write_uncertainty(
    raster: OutputOptions,
    grid: Grid,
    samples: list[Path],
    region: RegionConfig,
    imagery: Path,
) -> dict[str, Any] | None:
    """Write agreement and entropy block by block; return the certainty halves' accuracy
    where the region has ground truth (else None)."""
    halves = CertaintyHalves(len(samples))
    truth = region.ground_truth
    with ExitStack() as stack:
        opened = [stack.enter_context(open_raster(path)) for path in samples]
        truth_file = truth_reader = None
        if truth is not None:
            truth_file = for_tile(truth.path, region, imagery)
            truth_reader = stack.enter_context(open_raster(truth_file))
            lookup = value_lookup(truth_classes(region))
        output = stack.enter_context(
            ValueOutput(
                raster, grid, 2, "float32", block_size=BLOCK, band_names=["agreement", "entropy"]
            )
        )
        for tile in TileLayout(grid, BLOCK, 0):
            window = tile.core
            probabilities = np.stack([d.read(window=window.to_rasterio()) for d in opened])
            summary = summarise_samples(probabilities)
            output.write_block(
                Block(tile, np.stack([summary.agreement, summary.entropy]), summary.valid)
            )
            if truth_reader is not None and truth is not None and truth_file is not None:
                data = read_aligned(
                    truth_reader,
                    grid,
                    window,
                    AlignedSource(truth_file, (truth.band,), "nearest"),
                    (window.height, window.width),
                )
                codes = data.values[0].astype(np.int64)
                known = data.valid & (codes >= 0) & (codes < len(lookup))
                classes = np.where(known, lookup[np.where(known, codes, 0)], -1)
                halves.add(summary, classes)
    return halves.summary() if truth is not None else None


def format_halves(document: dict[str, Any]) -> str:
    """A Markdown table of accuracy on all, the most and the least certain pixels."""

    def accuracy(value: float | None) -> str:
        return "–" if value is None else f"{value:.3f}"

    lines = [
        f"# Uncertainty of {document['sampled_step']} ({len(document['seeds'])} seeds) on "
        f"{Path(document['imagery']).name}",
        "",
        "| pixels | count | accuracy |",
        "| --- | --- | --- |",
    ]
    for key, label in (
        ("all", "all"),
        ("most_certain", "most certain half"),
        ("least_certain", "least certain half"),
    ):
        part = document[key]
        lines.append(f"| {label} | {part['pixels']} | {accuracy(part['accuracy'])} |")
    return "\n".join(lines) + "\n"
