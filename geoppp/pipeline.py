"""The step runner: turns validated YAML into runs of the library, step by step.

Everything a run can refuse (missing or unreadable inputs, rasters that do not overlap,
missing bands, outputs that exist or cannot be written) is checked for every step before
the first pixel is computed, so a bad configuration fails fast and leaves no output.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import rasterio

from geoppp.config import (
    ExecutionConfig,
    OutputsConfig,
    PipelineConfig,
    RegionConfig,
    WeakArgmaxStep,
    kind_of,
    load_pipeline,
    load_region,
)
from geoppp.errors import ConfigError
from geoppp.geo.grid import Grid
from geoppp.geo.output import OutputOptions, check_writable
from geoppp.geo.quicklook import codes_preview, imagery_preview, write_panels
from geoppp.geo.raster import grid_of, require_bands
from geoppp.landcover.evaluation import evaluate_map, value_lookup
from geoppp.landcover.mapping import (
    Imagery,
    MapResult,
    Scheduling,
    map_imagery,
    weak_argmax_model,
)
from geoppp.landcover.metrics import Scores
from geoppp.region import classes_of, for_tile, rgb_bands, weak_label_sources


@dataclass(frozen=True)
class Overrides:
    """Command-line settings that take precedence over the pipeline YAML."""

    overwrite: bool = False
    workers: int | None = None
    batch_size: int | None = None
    progress: bool | None = None

    def apply(self, execution: ExecutionConfig) -> ExecutionConfig:
        changes = {
            "workers": self.workers,
            "batch_size": self.batch_size,
            "progress": self.progress,
        }
        return execution.model_copy(update={k: v for k, v in changes.items() if v is not None})


@dataclass
class StepReport:
    name: str
    kind: str
    results: list[MapResult] = field(default_factory=list)


@dataclass(frozen=True)
class StepOutputs:
    """Where one step writes for one imagery file."""

    class_map: OutputOptions
    probabilities: OutputOptions | None
    quicklook: OutputOptions | None
    report: OutputOptions | None

    def all(self) -> list[OutputOptions]:
        outputs = (self.class_map, self.probabilities, self.quicklook, self.report)
        return [o for o in outputs if o is not None]


def step_outputs(
    outputs: OutputsConfig, imagery: Path, several: bool, overwrite: bool
) -> StepOutputs:
    """The outputs of a step for one imagery file, `{imagery}` replaced by its name."""

    def options(path: Path | None) -> OutputOptions | None:
        if path is None:
            return None
        if several and "{imagery}" not in path.name:
            raise ConfigError(
                f"output {path} would be written once per imagery file; put `{{imagery}}` in "
                "its name (it is replaced by each imagery file's name)"
            )
        return OutputOptions(
            Path(str(path).replace("{imagery}", imagery.stem)),
            overwrite=outputs.overwrite or overwrite,
            cog=outputs.cog,
            overview_resampling=outputs.overview_resampling,
        )

    class_map = options(outputs.class_map)
    assert class_map is not None  # a required field
    return StepOutputs(
        class_map,
        options(outputs.probabilities),
        options(outputs.quicklook),
        options(outputs.report),
    )


@dataclass(frozen=True)
class PreparedRun:
    """One step on one imagery file, checked and ready to run."""

    step: WeakArgmaxStep
    imagery: Imagery
    grid: Grid
    outputs: StepOutputs


def prepare(
    pipeline: PipelineConfig, region: RegionConfig, overrides: Overrides
) -> list[PreparedRun]:
    """Check every input and output of every step; raise the first problem found."""
    runs = []
    several = len(region.imagery.paths) > 1
    for step in pipeline.steps:
        if step.outputs.report is not None and region.ground_truth is None:
            raise ConfigError(
                f"step {step.name} asks for a report, but region {region.name} has no "
                "ground_truth to score against; add `ground_truth` to the region or remove "
                "`outputs.report`"
            )
        for path in region.imagery.paths:
            grid = grid_of(path)
            require_bands(path, region.imagery.bands, "imagery")
            outputs = step_outputs(step.outputs, path, several, overrides.overwrite)
            for options in outputs.all():
                check_writable(options)
            imagery = Imagery(path, tuple(region.imagery.bands), region.imagery.nodata)
            runs.append(PreparedRun(step, imagery, grid, outputs))
    paths = [str(options.path) for run in runs for options in run.outputs.all()]
    repeated = sorted({p for p in paths if paths.count(p) > 1})
    if repeated:
        raise ConfigError(f"steps {pipeline_name(pipeline)} write {repeated} more than once")
    return runs


def pipeline_name(pipeline: PipelineConfig) -> str:
    return ", ".join(step.name for step in pipeline.steps)


def run_pipeline(
    path: Path, overrides: Overrides = Overrides(), log: Callable[[str], None] = print
) -> list[StepReport]:
    """Run every step of the pipeline YAML at ``path``, in order."""
    pipeline = load_pipeline(path)
    region = load_region(pipeline.region)
    execution = overrides.apply(pipeline.execution)
    reports = {step.name: StepReport(step.name, step.kind) for step in pipeline.steps}
    # GDAL sizes its block cache once, at the first read, and rasterio takes bytes here.
    with rasterio.Env(GDAL_CACHEMAX=execution.gdal_cache_mb * 2**20):
        runs = prepare(pipeline, region, overrides)
        sources = {
            run.imagery.path: weak_label_sources(region, run.grid, run.imagery.path) for run in runs
        }  # checked for every file before any is mapped
        for run in runs:
            log(f"step {run.step.name}: {run.imagery.path.name} → {run.outputs.class_map.path}")
            result = map_imagery(
                run.imagery,
                run.grid,
                sources[run.imagery.path],
                weak_argmax_model,
                classes_of(region.classes),
                run.outputs.class_map,
                run.outputs.probabilities,
                Scheduling(
                    run.step.tile_size,
                    run.step.halo,
                    execution.batch_size,
                    execution.workers,
                    execution.progress,
                    execution.stripe_width,
                ),
                nodata=region.classes.nodata,
            )
            reports[run.step.name].results.append(result)
            log(format_result(result))
            if run.outputs.report is not None:
                scores = score_map(region, run.imagery.path, result.class_map)
                write_report(run.outputs.report.path, region, run, scores)
                log(format_scores(region, scores))
            if run.outputs.quicklook is not None:
                write_quicklook(run.outputs.quicklook.path, region, run.imagery.path, result)
                log(f"  quicklook {run.outputs.quicklook.path}")
    return list(reports.values())


def write_quicklook(png: Path, region: RegionConfig, imagery: Path, result: MapResult) -> None:
    """Imagery, class map and (where the region has it) ground truth, side by side."""
    panels = [
        imagery_preview(imagery, rgb_bands(region)),
        codes_preview(result.class_map),
    ]
    truth = region.ground_truth
    if truth is not None:
        colours = {item.value: item.rgb for item in region.classes.classes}
        by_name = {item.name: item.rgb for item in region.classes.classes}
        if truth.table is not None:
            colours = {code: by_name[name] for code, name in truth.table.items()}
        panels.append(codes_preview(for_tile(truth.path, region, imagery), truth.band, colours))
    write_panels(png, panels)


def score_map(region: RegionConfig, imagery: Path, class_map: Path) -> Scores:
    """Accuracy and IoU of a class map of ``imagery`` against the region's ground truth."""
    assert region.ground_truth is not None
    truth = region.ground_truth
    index_of_value = {item.value: i for i, item in enumerate(region.classes.classes)}
    index_of_name = {item.name: i for i, item in enumerate(region.classes.classes)}
    truth_index = (
        {code: index_of_name[name] for code, name in truth.table.items()}
        if truth.table is not None
        else index_of_value
    )
    return evaluate_map(
        class_map,
        for_tile(truth.path, region, imagery),
        truth.band,
        value_lookup(index_of_value),
        value_lookup(truth_index),
        len(region.classes.classes),
    )


def write_report(path: Path, region: RegionConfig, run: PreparedRun, scores: Scores) -> None:
    """The scores as JSON at ``path`` and as a Markdown table beside it."""
    names = region.classes.names
    document = {
        "region": region.name,
        "step": run.step.name,
        "imagery": str(run.imagery.path),
        "class_map": str(run.outputs.class_map.path),
        "pixels": scores.pixels,
        "accuracy": scores.accuracy,
        "miou": scores.miou,
        "iou": dict(zip(names, scores.iou, strict=True)),
    }
    rows = "".join(f"| {name} | {iou:.3f} |\n" for name, iou in zip(names, scores.iou, strict=True))
    markdown = (
        f"# {run.step.name} on {region.name}: {run.imagery.path.name}\n\n"
        f"accuracy **{scores.accuracy:.3f}**, mIoU **{scores.miou:.3f}** over "
        f"{scores.pixels} pixels\n\n| class | IoU |\n| --- | --- |\n{rows}"
    )
    write_text_atomically(path, json.dumps(document, indent=2) + "\n")
    write_text_atomically(path.with_suffix(".md"), markdown)


def write_text_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        temporary.write_text(text)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def format_scores(region: RegionConfig, scores: Scores) -> str:
    per_class = ", ".join(
        f"{name} {iou:.3f}" for name, iou in zip(region.classes.names, scores.iou, strict=True)
    )
    return (
        f"  against ground truth: accuracy {scores.accuracy:.3f}, mIoU {scores.miou:.3f} "
        f"(IoU: {per_class})"
    )


def format_result(result: MapResult) -> str:
    """A short report: speed, tiles, and the area of each class."""
    stats = result.stats
    lines = [
        f"  wrote {result.class_map}"
        + (f" and {result.probabilities}" if result.probabilities else ""),
        f"  {result.megapixels:.1f} Mpx in {result.seconds:.1f} s "
        f"({result.megapixels / max(result.seconds, 1e-9):.1f} Mpx/s); {stats.tiles} tiles, "
        f"{stats.tiles_skipped} skipped as nodata"
        + (
            f", {stats.tiles_recomputed} predicted again at stripe borders"
            if stats.tiles_recomputed
            else ""
        ),
    ]
    total = sum(result.class_pixels.values()) or 1
    for name, pixels in result.class_pixels.items():
        hectares = pixels * result.pixel_area / 1e4
        lines.append(f"    {name:<24} {100 * pixels / total:5.1f} %  {hectares:10.2f} ha")
    return "\n".join(lines)


def check_file(path: Path, overrides: Overrides = Overrides()) -> list[str]:
    """Validate a region or pipeline YAML and the inputs it names, without running it.

    Returns:
        Human-readable lines describing what was checked; problems raise.
    """
    if kind_of(path) is PipelineConfig:
        pipeline = load_pipeline(path)
        region = load_region(pipeline.region)
        runs = prepare(pipeline, region, overrides)
        for run in runs:
            weak_label_sources(region, run.grid, run.imagery.path)
        return [
            f"{path}: pipeline with {len(pipeline.steps)} step(s) "
            f"({pipeline_name(pipeline)}) on region {region.name!r}: inputs and outputs OK"
        ]
    region = load_region(path)
    for image in region.imagery.paths:
        grid = grid_of(image)
        require_bands(image, region.imagery.bands, "imagery")
        weak_label_sources(region, grid, image)
    return [
        f"{path}: region {region.name!r}, {len(region.imagery.paths)} imagery file(s), "
        f"{len(region.weak_labels)} weak-label source(s), {len(region.classes.classes)} "
        "classes: inputs OK"
    ]
