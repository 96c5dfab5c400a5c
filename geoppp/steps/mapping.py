"""Mapping steps: check every input and output first, then map the imagery files (in batches
that span files for the steps whose model is worth a full batch)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geoppp.config import (
    ColourVoteStep,
    ExecutionConfig,
    MappingStepConfig,
    OutputsConfig,
    PlugAndPlayStep,
    RegionConfig,
    SegmentationStep,
    WeakArgmaxStep,
)
from geoppp.diffusion.metadata import checkpoint_layout
from geoppp.errors import ConfigError
from geoppp.geo.grid import Grid
from geoppp.geo.output import OutputOptions, check_writable
from geoppp.geo.process_cache import per_process
from geoppp.geo.quicklook import codes_preview, imagery_preview, write_panels
from geoppp.geo.raster import grid_of, require_bands, require_overlap
from geoppp.geo.tilestore import file_identity, file_sha256
from geoppp.landcover.mapping import (
    Imagery,
    ImageryJob,
    MappingWork,
    MapResult,
    Scheduling,
    StorePlan,
    colour_vote_model,
    map_imagery,
    map_imagery_files,
    weak_argmax_model,
    weak_colour_model,
)
from geoppp.landcover.priors import prior_path, statistics_path
from geoppp.landcover.weak_labels import WeakLabelSources
from geoppp.region import classes_of, for_tile, rgb_bands, truth_colours, weak_label_sources
from geoppp.steps.report import format_scores, score_map, write_report
from geoppp.steps.segmentation import check_network
from geoppp.steps.statistics import read_statistics

if TYPE_CHECKING:
    from geoppp.diffusion.checkpoint import LoadedCheckpoint
    from geoppp.geo.cluster import Cluster
    from geoppp.geo.engine import BatchModel
    from geoppp.landcover.inference import PlugAndPlayModel

# The models that need torch (plug-and-play, segmentation networks, colour refinement) are
# imported where they are built: checking a step and mapping with the baselines load no torch.

MappingStep = MappingStepConfig


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

    step: MappingStep
    imagery: Imagery
    grid: Grid
    outputs: StepOutputs
    weak_labels: WeakLabelSources


def check_prior(
    step: PlugAndPlayStep, region: RegionConfig, produced: frozenset[Path] = frozenset()
) -> None:
    """Refuse the step's prior unless it was trained on the region's classes and bands (read
    from its file's metadata: the model is loaded when the step runs); its label statistics
    checked likewise, unless an earlier step will write them (``produced``)."""
    path = prior_path(step.prior)
    layout = checkpoint_layout(path)
    classes = layout.get("class_names")
    if classes is not None and list(classes) != list(region.classes.names):
        raise ConfigError(
            f"step {step.name}: prior {path} was trained on classes {list(classes)} but region "
            f"{region.name} has {list(region.classes.names)}; use a prior trained on this "
            "class scheme (train one with a train_prior step)"
        )
    bands = layout.get("bands") or []
    if layout.get("mode") == "joint" and len(bands) != len(region.imagery.bands):
        raise ConfigError(
            f"step {step.name}: prior {path} was trained on {len(bands)} image band(s) but "
            f"region {region.name} gives {len(region.imagery.bands)}"
        )
    if step.statistics is not None and Path(step.statistics) not in produced:
        measured = read_statistics(statistics_path(step.statistics))
        if list(measured.class_names) != list(region.classes.names):
            raise ConfigError(
                f"step {step.name}: statistics {step.statistics} were measured for classes "
                f"{list(measured.class_names)} but region {region.name} has "
                f"{list(region.classes.names)}"
            )


def prepare(
    steps: list[MappingStep],
    region: RegionConfig,
    overwrite: bool,
    produced: frozenset[Path] = frozenset(),
) -> list[PreparedRun]:
    """Check every input and output of every mapping step; raise the first problem found.

    ``produced``: files that earlier steps of the pipeline will write (not checked yet).
    """
    runs = []
    sources: dict[Path, WeakLabelSources] = {}
    several = len(region.imagery.paths) > 1
    for step in steps:
        if isinstance(step, PlugAndPlayStep):
            check_prior(step, region, produced)
        if isinstance(step, SegmentationStep):
            check_network(step.name, step.network, region, produced)
        if isinstance(step, PlugAndPlayStep) and step.network is not None:
            check_network(step.name, step.network, region, produced)
        if step.outputs.report is not None and region.ground_truth is None:
            raise ConfigError(
                f"step {step.name} asks for a report, but region {region.name} has no "
                "ground_truth to score against; add `ground_truth` to the region or remove "
                "`outputs.report`"
            )
        for path in region.imagery.paths:
            grid = grid_of(path)
            require_bands(path, region.imagery.bands, "imagery")
            outputs = step_outputs(step.outputs, path, several, overwrite)
            for options in outputs.all():
                check_writable(options)
            imagery = Imagery(path, tuple(region.imagery.bands), region.imagery.nodata)
            if path not in sources:  # opening them checks them: a bad one fails before any map
                sources[path] = weak_label_sources(region, grid, path)
            if outputs.report is not None and region.ground_truth is not None:
                truth = for_tile(region.ground_truth.path, region, path)
                require_bands(truth, [region.ground_truth.band], "ground truth")
                require_overlap(truth, grid, "ground truth")
            runs.append(PreparedRun(step, imagery, grid, outputs, sources[path]))
    paths = [str(options.path) for run in runs for options in run.outputs.all()]
    repeated = sorted({p for p in paths if paths.count(p) > 1})
    if repeated:
        names = ", ".join(step.name for step in steps)
        raise ConfigError(f"steps {names} write {repeated} more than once")
    return runs


@dataclass(frozen=True)
class PreparedMapping:
    """One mapping step over every imagery file of the region, checked and ready to run."""

    step: MappingStep
    runs: list[PreparedRun]


def shares_batches(step: MappingStep, execution: ExecutionConfig, files: int) -> bool:
    """Whether a step maps its ``files`` imagery files in batches that span files: a step
    whose model is worth a full batch (plug_and_play, segmentation), over several files,
    through tile stores (so not with ``tile_store: off``). Cheap models map file by file."""
    return (
        isinstance(step, PlugAndPlayStep | SegmentationStep)
        and files > 1
        and execution.tile_store != "off"
    )


def run_mapping_step(
    prepared: PreparedMapping,
    region: RegionConfig,
    execution: ExecutionConfig,
    log: Callable[[str], None],
    cluster: Cluster | None = None,
    restart: bool = False,
) -> list[MapResult]:
    """Map every imagery file of the region with one step: in batches that span files when
    the step :func:`shares_batches` (files of one pixel size together, as the model is made
    for it), else file by file."""
    runs = prepared.runs
    if not shares_batches(prepared.step, execution, len(runs)):
        return [run_mapping(run, region, execution, log, cluster, restart) for run in runs]
    results = []
    for _, group in itertools.groupby(runs, key=lambda run: abs(run.grid.transform.a)):
        results.extend(map_together(list(group), region, execution, log, cluster, restart))
    return results


def map_together(
    runs: list[PreparedRun],
    region: RegionConfig,
    execution: ExecutionConfig,
    log: Callable[[str], None],
    cluster: Cluster | None = None,
    restart: bool = False,
) -> list[MapResult]:
    """Map the imagery files of ``runs`` (one step, one pixel size) in batches that run on
    from one file into the next, each file written, scored and drawn as soon as its tiles
    are done."""
    step = runs[0].step
    files = [run.imagery.path for run in runs]
    log(
        f"step {step.name}: {len(runs)} imagery files in batches of {execution.batch_size} "
        "tiles that span files"
    )
    # One model for every file (in-process; a cluster's workers build theirs once each).
    model = step_model(runs[0], execution.progress) if cluster is None else None
    jobs = []
    for run in runs:
        store = store_plan(run, region, execution, restart, files)
        assert store is not None  # shares_batches asks for a tile store
        work = mapping_work(run, region, cluster, model)
        jobs.append(
            ImageryJob(work, run.grid, run.outputs.class_map, run.outputs.probabilities, store)
        )
    log(f"  tile stores {jobs[0].store.folder.parent}/<class map>.tiles")
    mapped = map_imagery_files(
        jobs,
        classes_of(region.classes),
        scheduling(step, execution),
        nodata=region.classes.nodata,
        executor=cluster.executor if cluster is not None else None,
        description=step.name,
    )
    results = []
    for run, result in zip(runs, mapped, strict=True):
        log(f"step {step.name}: {run.imagery.path.name} → {run.outputs.class_map.path}")
        finish(run, region, result, log)
        results.append(result)
    return results


def run_mapping(
    run: PreparedRun,
    region: RegionConfig,
    execution: ExecutionConfig,
    log: Callable[[str], None],
    cluster: Cluster | None = None,
    restart: bool = False,
) -> MapResult:
    """Map one imagery file with one step, then score it and draw its quicklook if asked.

    On a ``cluster`` the tiles are computed by its workers, which are sent the work's
    recipe (file paths and settings) and build the model once per process.
    """
    log(f"step {run.step.name}: {run.imagery.path.name} → {run.outputs.class_map.path}")
    store = store_plan(run, region, execution, restart)
    if store is not None:
        log(f"  tile store {store.folder}")
    model = step_model(run, execution.progress) if cluster is None else None
    result = map_imagery(
        mapping_work(run, region, cluster, model),
        run.grid,
        classes_of(region.classes),
        run.outputs.class_map,
        run.outputs.probabilities,
        scheduling(run.step, execution),
        nodata=region.classes.nodata,
        store=store,
        executor=cluster.executor if cluster is not None else None,
    )
    finish(run, region, result, log)
    return result


def mapping_work(
    run: PreparedRun,
    region: RegionConfig,
    cluster: Cluster | None,
    model: Callable[[], BatchModel] | None,
) -> MappingWork:
    """How a run's tiles are read and computed: with ``model`` in this process, or on a
    ``cluster`` by recipes (file paths and settings) that its workers build once each."""
    if cluster is None:
        assert model is not None
        return MappingWork(run.imagery, lambda: run.weak_labels, model, needs_image(run.step))
    return MappingWork(
        run.imagery,
        WeakLabelsRecipe(region, run.grid, run.imagery.path),
        step_recipe(run),
        needs_image(run.step),
    )


def scheduling(step: MappingStep, execution: ExecutionConfig) -> Scheduling:
    return Scheduling(
        step.tile_size,
        step.halo,
        execution.batch_size,
        execution.workers,
        execution.progress,
        execution.stripe_width,
    )


def finish(
    run: PreparedRun, region: RegionConfig, result: MapResult, log: Callable[[str], None]
) -> None:
    """Log a file's result, then score it and draw its quicklook if asked."""
    log(format_result(result))
    if run.outputs.report is not None:
        scores = score_map(region, run.imagery.path, result.class_map)
        write_report(
            run.outputs.report.path,
            region,
            run.step.name,
            run.imagery.path,
            result.class_map,
            scores,
        )
        log(format_scores(region, scores))
    if run.outputs.quicklook is not None:
        write_quicklook(run.outputs.quicklook.path, region, run.imagery.path, result)
        log(f"  quicklook {run.outputs.quicklook.path}")


def needs_image(step: MappingStep) -> bool:
    """Whether the step's model reads the imagery's bands (not only its nodata)."""
    if isinstance(step, WeakArgmaxStep):
        return step.colour_refinement is not None
    return isinstance(step, ColourVoteStep | PlugAndPlayStep | SegmentationStep)


def step_model(run: PreparedRun, progress: bool = False) -> Callable[[], BatchModel]:
    """The step's model for the engine, built here (a plug-and-play model shows the
    optimiser's progress) or by its recipe."""
    step = run.step
    if isinstance(step, PlugAndPlayStep):
        from geoppp.diffusion.checkpoint import load_checkpoint

        prior = load_checkpoint(prior_path(step.prior))
        model = plug_and_play_model(step, prior, abs(run.grid.transform.a), progress)
        return lambda: model
    return step_recipe(run)


def step_recipe(run: PreparedRun) -> Callable[[], BatchModel]:
    """The step's model as a small picklable recipe that a worker builds once and keeps."""
    step = run.step
    if isinstance(step, ColourVoteStep):
        return partial(colour_vote_model, step.n_clusters, step.seed)
    if isinstance(step, PlugAndPlayStep):
        return PlugAndPlayRecipe(step, abs(run.grid.transform.a))
    if isinstance(step, SegmentationStep):
        return SegmentationRecipe(step)
    if step.colour_refinement is not None:
        return partial(weak_colour_model, step.colour_refinement)
    return partial(_return, weak_argmax_model)


def _return(model: BatchModel) -> BatchModel:
    return model


def plug_and_play_model(
    step: PlugAndPlayStep, prior: LoadedCheckpoint, pixel_size: float, progress: bool = False
) -> PlugAndPlayModel:
    """The plug-and-play model of a step, on its prior."""
    from geoppp.diffusion.training import resolve_device
    from geoppp.landcover.inference import PlugAndPlayModel
    from geoppp.landcover.segmentation import SegmentationModel, load_network

    statistics = None
    if step.statistics is not None and step.constraints.statistics > 0:
        measured = read_statistics(statistics_path(step.statistics))
        statistics = (measured.statistics, measured.cell_metres)
    device = resolve_device(step.device)
    network = None
    if step.network is not None:
        network = SegmentationModel(load_network(step.network), device)
    return PlugAndPlayModel(
        prior,
        pixel_size=pixel_size,
        optimiser=step.optimiser,
        constraints=step.constraints,
        seed=step.seed,
        device=device,
        statistics=statistics,
        weak_detail=step.weak_detail,
        colour_refinement=step.colour_refinement,
        network=network,
        network_readout=step.network_readout,
        progress=progress,
    )


@dataclass(frozen=True)
class PlugAndPlayRecipe:
    """A plug-and-play step's model, built from its prior's file once per process."""

    step: PlugAndPlayStep
    pixel_size: float

    def __call__(self) -> BatchModel:
        key = ("plug_and_play", self.step.model_dump_json(), self.pixel_size)
        return per_process(key, self._build)

    def _build(self) -> BatchModel:
        from geoppp.diffusion.checkpoint import load_checkpoint

        prior = load_checkpoint(prior_path(self.step.prior))
        return plug_and_play_model(self.step, prior, self.pixel_size)


@dataclass(frozen=True)
class SegmentationRecipe:
    """A segmentation step's network, loaded from its file once per process."""

    step: SegmentationStep

    def __call__(self) -> BatchModel:
        key = ("segmentation", str(self.step.network), self.step.device)
        return per_process(key, self._build)

    def _build(self) -> BatchModel:
        from geoppp.diffusion.training import resolve_device
        from geoppp.landcover.segmentation import SegmentationModel, load_network

        return SegmentationModel(load_network(self.step.network), resolve_device(self.step.device))


@dataclass(frozen=True)
class WeakLabelsRecipe:
    """A region's weak-label sources for one imagery file, opened once per process."""

    region: RegionConfig
    grid: Grid
    imagery: Path

    def __call__(self) -> WeakLabelSources:
        key = ("weak_labels", self.region.model_dump_json(), str(self.imagery))
        return per_process(key, lambda: weak_label_sources(self.region, self.grid, self.imagery))


def store_plan(
    run: PreparedRun,
    region: RegionConfig,
    execution: ExecutionConfig,
    restart: bool,
    batched_with: Sequence[Path] = (),
) -> StorePlan | None:
    """Where the run's tile store goes and the identity it is keyed by; ``None`` when the
    run is not recorded (``tile_store: off``, or ``auto`` for a cheap model in-process).

    ``batched_with``: the imagery files whose tiles share batches with this run's (itself
    included), when they do; their stores are how batches span files.
    """
    wanted = execution.tile_store == "on" or (
        execution.tile_store == "auto"
        and (execution.on_cluster or isinstance(run.step, PlugAndPlayStep) or bool(batched_with))
    )
    if not wanted:
        return None
    class_map = run.outputs.class_map.path
    folder = execution.tile_store_folder or class_map.parent
    return StorePlan(
        folder / f"{class_map.name}.tiles",
        run_identity(run, region, execution, batched_with),
        restart=restart,
        keep=execution.keep_tile_store,
    )


def run_identity(
    run: PreparedRun,
    region: RegionConfig,
    execution: ExecutionConfig,
    batched_with: Sequence[Path] = (),
) -> dict[str, Any]:
    """What a tile store's tiles depend on: the step's settings (not its outputs), its
    model files' contents, the region and its input files, the tiling and batching (with
    batches that span files, which files share them: a float sum of a batch may change in
    its last bit with its other tiles)."""
    step = run.step
    models: dict[str, str] = {}
    if isinstance(step, PlugAndPlayStep):
        models["prior"] = file_sha256(prior_path(step.prior))
        if step.statistics is not None:
            models["statistics"] = file_sha256(statistics_path(step.statistics))
        if step.network is not None:
            models["network"] = file_sha256(step.network)
    if isinstance(step, SegmentationStep):
        models["network"] = file_sha256(step.network)
    grid = run.grid
    inputs = [file_identity(run.imagery.path)] + [
        file_identity(path) for path in _region_files(region, run.imagery.path)
    ]
    tiling: dict[str, Any] = {
        "grid": [grid.width, grid.height, list(grid.transform)[:6], str(grid.crs)],
        "batch_size": execution.batch_size,
    }
    if batched_with:
        tiling["batched_with"] = [str(path.resolve()) for path in batched_with]
    return {
        "step": step.model_dump(mode="json", exclude={"name", "outputs"}),
        "models": models,
        "region": region.model_dump(mode="json"),
        "inputs": inputs,
        "tiling": tiling,
    }


def _region_files(region: RegionConfig, imagery: Path) -> list[Path]:
    """The weak-label files read for ``imagery`` (the files a region's YAML names)."""
    paths = []
    for source in region.weak_labels:
        path = for_tile(source.path, region, imagery)
        paths.append(path)
        if path.suffix.lower() in (".shp",):
            paths.extend(path.with_suffix(suffix) for suffix in (".dbf", ".shx", ".prj"))
    return [path for path in paths if path.is_file()]


def write_quicklook(png: Path, region: RegionConfig, imagery: Path, result: MapResult) -> None:
    """Imagery, class map and (where the region has it) ground truth, side by side."""
    panels = [
        imagery_preview(imagery, rgb_bands(region)),
        codes_preview(result.class_map),
    ]
    truth = region.ground_truth
    if truth is not None:
        colours = truth_colours(region)
        panels.append(codes_preview(for_tile(truth.path, region, imagery), truth.band, colours))
    write_panels(png, panels)


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
        )
        + (
            f", {stats.tiles_reused} taken from the tile store of an interrupted run"
            if stats.tiles_reused
            else ""
        ),
    ]
    total = sum(result.class_pixels.values()) or 1
    for name, pixels in result.class_pixels.items():
        hectares = pixels * result.pixel_area / 1e4
        lines.append(f"    {name:<24} {100 * pixels / total:5.1f} %  {hectares:10.2f} ha")
    return "\n".join(lines)
