"""The step runner: turns validated YAML into runs of the library, step by step.

Everything a run can refuse (missing or unreadable inputs, rasters that do not overlap,
missing bands, outputs that exist or cannot be written) is checked for every step before
the first pixel is computed, so a bad configuration fails fast and leaves no output.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

import rasterio
from pydantic import ValidationError

from geoppp.config import (
    MAPPING_STEPS,
    CompareStep,
    ExecutionConfig,
    LabelStatisticsStep,
    PipelineConfig,
    RegionConfig,
    TrainPriorStep,
    TrainSegmentationStep,
    UncertaintyStep,
    kind_of,
    load_pipeline,
    load_region,
    read_yaml,
)
from geoppp.errors import ConfigError
from geoppp.geo.raster import grid_of, require_bands, require_overlap
from geoppp.region import for_tile, refuse_inputs_as_outputs, weak_label_sources
from geoppp.steps.compare import PreparedComparison, prepare_comparison, run_comparison
from geoppp.steps.mapping import PreparedMapping, prepare, run_mapping_step, step_outputs
from geoppp.steps.segmentation import (
    PreparedNetworkTraining,
    prepare_network_training,
    run_network_training,
)
from geoppp.steps.statistics import PreparedStatistics, prepare_statistics, run_statistics
from geoppp.steps.uncertainty import PreparedUncertainty, prepare_uncertainty, run_uncertainty

if TYPE_CHECKING:
    from geoppp.diffusion.training import TrainingResult
    from geoppp.geo.cluster import Cluster
    from geoppp.landcover.mapping import MapResult
    from geoppp.landcover.segmentation import NetworkTraining
    from geoppp.steps.compare import ComparisonRow
    from geoppp.steps.training import PreparedTraining
    from geoppp.tasks import TaskPipeline

    PreparedStep = (
        PreparedMapping
        | PreparedTraining
        | PreparedStatistics
        | PreparedComparison
        | PreparedNetworkTraining
        | PreparedUncertainty
    )

# Imported where a step or a command needs them, as torch, dask.distributed and the tasks
# are: checking a YAML and the torch-free steps (weak_argmax, colour_vote) do not load them.

TASK_PIPELINES: dict[str, tuple[str, str]] = {
    "digits": ("geoppp.tasks.digits.pipeline", "DIGITS_PIPELINE"),
    "tsp": ("geoppp.tasks.tsp.pipeline", "TSP_PIPELINE"),
}
"""The reference tasks' pipelines, by the value of their YAML's top-level `task:` key: the
module and the name of its :class:`~geoppp.tasks.TaskPipeline`."""


@dataclass(frozen=True)
class Overrides:
    """Command-line settings that take precedence over the pipeline YAML."""

    overwrite: bool = False
    workers: int | None = None
    batch_size: int | None = None
    progress: bool | None = None
    scheduler: str | None = None
    local_cluster: int | None = None
    restart: bool = False

    def apply(self, execution: ExecutionConfig) -> ExecutionConfig:
        changes: dict[str, object] = {
            "workers": self.workers,
            "batch_size": self.batch_size,
            "progress": self.progress,
        }
        update = {k: v for k, v in changes.items() if v is not None}
        if self.scheduler is not None or self.local_cluster is not None:
            if self.scheduler is not None and self.local_cluster is not None:
                raise ConfigError("give --scheduler or --local-cluster, not both")
            # A cluster named on the command line replaces the YAML's, whichever kind.
            update.update(scheduler=self.scheduler, local_cluster=self.local_cluster)
        try:
            return ExecutionConfig.model_validate({**execution.model_dump(), **update})
        except ValidationError as error:
            problems = "; ".join(str(e["msg"]) for e in error.errors())
            raise ConfigError(f"command-line options: {problems}") from error


@dataclass
class StepReport:
    """What a step did: the maps it made, or the prior it trained."""

    name: str
    kind: str
    results: list[MapResult] = field(default_factory=list)
    training: TrainingResult | None = None
    comparison: list[ComparisonRow] | None = None
    network: NetworkTraining | None = None
    uncertainty: list[dict[str, Any]] | None = None


def pipeline_name(pipeline: PipelineConfig) -> str:
    return ", ".join(step.name for step in pipeline.steps)


def prepare_steps(
    pipeline: PipelineConfig, region: RegionConfig, overwrite: bool
) -> list[PreparedStep]:
    """Check every step (inputs, outputs, configuration) before any of them runs."""
    refuse_inputs_as_outputs(region, pipeline_outputs(pipeline, region), pipeline.region)
    mapping_steps = [step for step in pipeline.steps if isinstance(step, MAPPING_STEPS)]
    produced = frozenset(
        step.outputs.statistics.resolve()
        for step in pipeline.steps
        if isinstance(step, LabelStatisticsStep)
    ) | frozenset(
        step.outputs.checkpoint.resolve()
        for step in pipeline.steps
        if isinstance(step, TrainSegmentationStep)
    )
    mapping = prepare(mapping_steps, region, overwrite, produced)
    prepared: list[PreparedStep] = []
    for position, step in enumerate(pipeline.steps):
        if isinstance(step, TrainPriorStep):
            from geoppp.steps.training import prepare_training

            prepared.append(prepare_training(step, region, overwrite))
        elif isinstance(step, TrainSegmentationStep):
            # A class map of an earlier step may be the labels (distillation).
            maps = frozenset(
                step_outputs(
                    s.outputs, path, len(region.imagery.paths) > 1, True
                ).class_map.path.resolve()
                for s in pipeline.steps[:position]
                if isinstance(s, MAPPING_STEPS)
                for path in region.imagery.paths
            )
            prepared.append(prepare_network_training(step, region, overwrite, maps))
        elif isinstance(step, UncertaintyStep):
            sampled = [run for run in mapping if run.step.name == step.step]
            prepared.append(prepare_uncertainty(step, sampled, region, overwrite))
        elif isinstance(step, LabelStatisticsStep):
            prepared.append(prepare_statistics(step, region, overwrite))
        elif isinstance(step, CompareStep):
            prepared.append(prepare_comparison(step, mapping_steps, region, overwrite))
        else:
            prepared.append(PreparedMapping(step, [run for run in mapping if run.step is step]))
    return prepared


def pipeline_outputs(pipeline: PipelineConfig, region: RegionConfig) -> list[Path]:
    """Every file the steps' ``outputs`` name, ``{imagery}`` replaced for each imagery file."""
    named = [
        value for step in pipeline.steps for _, value in step.outputs if isinstance(value, Path)
    ]
    return [
        Path(str(path).replace("{imagery}", imagery.stem))
        for path in named
        for imagery in region.imagery.paths
    ]


def run_pipeline(
    path: Path, overrides: Overrides = Overrides(), log: Callable[[str], None] = print
) -> list[StepReport]:
    """Run every step of the pipeline YAML at ``path``, in order."""
    task = task_pipeline(path)
    if task is not None:
        progress = True if overrides.progress is None else overrides.progress
        task.run(path, overrides.overwrite, progress, log)
        return []
    return run_pipeline_config(load_pipeline(path), overrides, log)


def run_pipeline_config(
    pipeline: PipelineConfig, overrides: Overrides = Overrides(), log: Callable[[str], None] = print
) -> list[StepReport]:
    """Run every step of a validated pipeline, in order (the API builds these in memory)."""
    region = load_region(pipeline.region)
    execution = overrides.apply(pipeline.execution)
    reports = {step.name: StepReport(step.name, step.kind) for step in pipeline.steps}
    with ExitStack() as stack:
        # GDAL sizes its block cache once, at the first read, and rasterio takes bytes here.
        stack.enter_context(rasterio.Env(GDAL_CACHEMAX=execution.gdal_cache_mb * 2**20))
        steps = prepare_steps(pipeline, region, overrides.overwrite)
        cluster = None
        if execution.on_cluster and any(isinstance(p, PreparedMapping) for p in steps):
            cluster = stack.enter_context(open_cluster(execution, log))
        for prepared in steps:
            if isinstance(prepared, PreparedMapping):
                reports[prepared.step.name].results.extend(
                    run_mapping_step(prepared, region, execution, log, cluster, overrides.restart)
                )
            elif isinstance(prepared, PreparedNetworkTraining):
                reports[prepared.step.name].network = run_network_training(
                    prepared, execution.progress, log
                )
            elif isinstance(prepared, PreparedUncertainty):
                reports[prepared.step.name].uncertainty = run_uncertainty(
                    prepared, region, execution, log
                )
            elif isinstance(prepared, PreparedStatistics):
                run_statistics(prepared, log)
            elif isinstance(prepared, PreparedComparison):
                reports[prepared.step.name].comparison = run_comparison(prepared, region, log)
            else:
                from geoppp.steps.training import run_training

                reports[prepared.step.name].training = run_training(
                    prepared, execution.progress, log
                )
    return list(reports.values())


@contextmanager
def open_cluster(execution: ExecutionConfig, log: Callable[[str], None]) -> Iterator[Cluster]:
    """Connect to the execution's cluster, with each worker's torch threads set to its share
    of its machine's cores."""
    from geoppp.geo.cluster import connect

    with connect(execution.scheduler, execution.local_cluster, limit_torch_threads) as cluster:
        log(f"running tiles on {cluster.description}")
        yield cluster


def limit_torch_threads(threads: int) -> None:
    """Run torch on ``threads`` threads in this process (a cluster's worker), whether it is
    loaded yet or not: a worker that maps with weak_argmax never loads it."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    else:
        # torch sizes its thread pool from this when it is first imported.
        os.environ["OMP_NUM_THREADS"] = str(threads)


def check_file(path: Path, overrides: Overrides = Overrides()) -> list[str]:
    """Validate a region or pipeline YAML and the inputs it names, without running it.

    Returns:
        Human-readable lines describing what was checked; problems raise.
    """
    task = task_pipeline(path)
    if task is not None:
        return task.check(path, overrides.overwrite)
    if kind_of(path) is PipelineConfig:
        pipeline = load_pipeline(path)
        region = load_region(pipeline.region)
        prepare_steps(pipeline, region, overrides.overwrite)
        return [
            f"{path}: pipeline with {len(pipeline.steps)} step(s) "
            f"({pipeline_name(pipeline)}) on region {region.name!r}: inputs and outputs OK"
        ]
    region = load_region(path)
    for image in region.imagery.paths:
        grid = grid_of(image)
        require_bands(image, region.imagery.bands, "imagery")
        weak_label_sources(region, grid, image)
        if region.ground_truth is not None:
            truth = for_tile(region.ground_truth.path, region, image)
            require_bands(truth, [region.ground_truth.band], "ground truth")
            require_overlap(truth, grid, "ground truth")
    return [
        f"{path}: region {region.name!r}, {len(region.imagery.paths)} imagery file(s), "
        f"{len(region.weak_labels)} weak-label source(s), {len(region.classes.classes)} "
        "classes: inputs OK"
    ]


def task_pipeline(path: Path) -> TaskPipeline | None:
    """The reference task whose pipeline the YAML at ``path`` is, or None for a region's."""
    document = read_yaml(path)
    if "task" not in document:
        return None
    name = document["task"]
    if name not in TASK_PIPELINES:
        raise ConfigError(
            f"{path}: task: unknown task {name!r}; expected one of {sorted(TASK_PIPELINES)}"
        )
    return load_task(name)


def load_task(name: str) -> TaskPipeline:
    """The :class:`~geoppp.tasks.TaskPipeline` of the reference task ``name`` (imports it)."""
    module, attribute = TASK_PIPELINES[name]
    task: TaskPipeline = getattr(import_module(module), attribute)
    return task
