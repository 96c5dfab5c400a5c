"""YAML configuration: a region (what is on the ground) and a pipeline (what to do with it).

Both are pydantic v2 models that refuse unknown keys. Relative paths resolve against the
folder of the YAML file that names them. Every error names the file, the field path, what
was expected and what was found.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from geoppp.diffusion.settings import PlugAndPlayConfig, TrainingConfig
from geoppp.errors import ConfigError
from geoppp.landcover.cooccurrence import builtin_tables
from geoppp.landcover.schemes import ClassSchemeConfig, load_scheme
from geoppp.landcover.settings import (
    ColourRefinementConfig,
    ConstraintsConfig,
    NetworkConfig,
    SegmentationTrainingConfig,
)


def _resolve(path: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base")
    return path if path.is_absolute() or base is None else (base / path).resolve()


FilePath = Annotated[Path, AfterValidator(_resolve)]
"""A path, relative to the folder of the YAML file it appears in."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- region


class ImageryConfig(Strict):
    """High-resolution imagery: one or more GeoTIFFs with the same bands.

    Other paths of the region may contain `{tile}`: the name of each imagery file without
    its extension and without `tile_suffix`, so that each imagery tile finds its own NLCD,
    vectors and labels (e.g. `{tile}_b_nlcd.tif` beside `{tile}_a_naip.tif`).
    """

    paths: list[FilePath] = Field(
        min_length=1, description="GeoTIFF files of the region; wildcards (`*`) allowed."
    )
    tile_suffix: str = Field(
        "", description="End of the imagery file names that `{tile}` leaves out."
    )
    bands: list[Annotated[int, Field(ge=1)]] = Field(
        min_length=1, description="1-based band numbers to use, in order."
    )
    band_names: list[str] | None = Field(
        None, description="A name per band in `bands` (e.g. red, green, blue, nir)."
    )
    nodata: float | None = Field(
        None,
        description="Nodata value to use where the files declare none; the files' own "
        "nodata value, mask band or alpha band is always honoured.",
    )

    @field_validator("paths")
    @classmethod
    def _expand_wildcards(cls, paths: list[Path]) -> list[Path]:
        expanded: list[Path] = []
        for path in paths:
            if not any(char in str(path) for char in "*?["):
                expanded.append(path)
                continue
            matches = sorted(Path(path.anchor).glob(str(path.relative_to(path.anchor))))
            if not matches:
                raise ValueError(f"no file matches {path}")
            expanded.extend(matches)
        return expanded

    def tile_of(self, imagery: Path) -> str:
        """The `{tile}` name of one imagery file."""
        stem = imagery.name.split(".")[0]
        if self.tile_suffix and stem.endswith(self.tile_suffix):
            return stem.removesuffix(self.tile_suffix)
        return stem

    @model_validator(mode="after")
    def _names_match_bands(self) -> ImageryConfig:
        if self.band_names is not None and len(self.band_names) != len(self.bands):
            raise ValueError(
                f"band_names has {len(self.band_names)} names for {len(self.bands)} bands"
            )
        return self


ClassName = str
HARD_LABEL_CONFIDENCE = 0.8
"""Default probability of a hard weak label's class (a code naming one class, a mask): a
one-hot label is a floor no colour evidence can lift (a colour readout of block-majority
labels with 20 % of blocks wrong returned exactly their argmax)."""


class CodeRasterConfig(Strict):
    """A raster of class codes (e.g. NLCD), turned into class probabilities by a table."""

    kind: Literal["class_codes"]
    path: FilePath
    band: int = Field(1, ge=1)
    table: dict[int, ClassName | dict[ClassName, float]] = Field(
        description="Code → class name, or code → {class name: probability}. Codes not in "
        "the table carry no weak label."
    )
    confidence: float = Field(
        HARD_LABEL_CONFIDENCE,
        gt=0,
        le=1,
        description="Probability of the class a code names (a plain class name in `table`); "
        "the rest is spread over the other classes, so that the prior and the colour terms "
        "can correct a wrong code (1: one-hot).",
    )


class BlurConfig(Strict):
    """A Gaussian blur of the weak-label probabilities (Rolf et al. 2022: kernel 101 px and
    σ 31 px at 1 m), in ground units so that it means the same at any resolution."""

    sigma: float = Field(31.0, gt=0, description="Standard deviation, in imagery CRS units.")
    radius: float = Field(50.0, gt=0, description="Kernel half-width, in imagery CRS units.")


class NlcdConfig(Strict):
    """A 30 m NLCD raster, turned into class probabilities by a co-occurrence table of
    P(EnviroAtlas class | NLCD class) folded into the region's classes."""

    kind: Literal["nlcd"]
    path: FilePath
    band: int = Field(1, ge=1)
    table: str = Field(
        description="A built-in table (pittsburgh_pa, durham_nc, austin_tx, phoenix_az) "
        "or a CSV file in their format (relative to this YAML file)."
    )
    encoding: Literal["auto", "raw", "index"] = Field(
        "auto",
        description="`raw` NLCD codes (11, 21, ...), EnviroAtlas's 0-16 NLCD `index`, or "
        "`auto` to tell them apart from the raster's values.",
    )
    blur: BlurConfig | None = Field(
        default_factory=BlurConfig, description="Blur of the prior; null for none."
    )

    @field_validator("table")
    @classmethod
    def _table(cls, table: str, info: ValidationInfo) -> str:
        if table in builtin_tables():
            return table
        path = _resolve(Path(table), info)
        if not path.is_file():
            raise ValueError(
                f"{table!r} is neither a built-in co-occurrence table {builtin_tables()} "
                "nor a CSV file"
            )
        return str(path)


class ProbabilityRasterConfig(Strict):
    """A raster with one band of class probability per class, in the scheme's order."""

    kind: Literal["probabilities"]
    path: FilePath
    bands: list[Annotated[int, Field(ge=1)]] | None = Field(
        None, description="Bands holding the classes' probabilities; default 1..C."
    )


class VectorConfig(Strict):
    """A vector layer (GeoPackage, GeoJSON, Shapefile) whose features are one class."""

    kind: Literal["vector"]
    path: FilePath
    class_name: ClassName = Field(alias="class", description="Class the features belong to.")
    buffer: float = Field(0.0, ge=0, description="Buffer around features, in imagery CRS units.")
    confidence: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Probability of the class inside features, the rest spread over the "
        "others (1: one-hot; drawn geometry is usually right).",
    )


class MaskRasterConfig(Strict):
    """A raster whose non-zero pixels are one class (e.g. EnviroAtlas's roads, water and
    buildings layers)."""

    kind: Literal["mask"]
    path: FilePath
    band: int = Field(1, ge=1)
    class_name: ClassName = Field(alias="class", description="Class of the non-zero pixels.")
    buffer: float = Field(0.0, ge=0, description="Grow the mask by this, in imagery CRS units.")
    confidence: float = Field(
        HARD_LABEL_CONFIDENCE,
        gt=0,
        le=1,
        description="Probability of the class at non-zero pixels, the rest spread over the "
        "others, so that the prior and colour terms can correct it (1: one-hot).",
    )


WeakLabelConfig = Annotated[
    CodeRasterConfig | NlcdConfig | ProbabilityRasterConfig | VectorConfig | MaskRasterConfig,
    Field(discriminator="kind"),
]


class GroundTruthConfig(Strict):
    """High-resolution labels, for a source region and for evaluation."""

    path: FilePath
    band: int = Field(1, ge=1)
    table: dict[int, ClassName] | None = Field(
        None, description="Code → class name, when the file's codes are not the class values."
    )


class LayoutConfig(Strict):
    """A region in a known dataset layout, found from its data root (torchgeo's layouts)."""

    kind: Literal["enviroatlas", "chesapeake"]
    root: FilePath = Field(description="The data root, as given to torchgeo.")
    split: str = Field(
        description="e.g. `pittsburgh_pa-2010_1m-test` (EnviroAtlas) or `wv-test` (Chesapeake)."
    )
    weak_labels: Literal["nlcd", "prior"] = Field(
        "nlcd",
        description="EnviroAtlas: NLCD through the city's co-occurrence table, or the "
        "shipped `prior` layer as it is.",
    )


def _builtin_scheme(value: object) -> object:
    return load_scheme(value).model_dump() if isinstance(value, str) else value


class RegionConfig(Strict):
    """A region: imagery, weak-label sources, optional ground truth, class scheme."""

    name: str = Field(min_length=1, description="Names the region in reports and figures.")
    layout: LayoutConfig | None = Field(
        None,
        description="Find imagery, weak labels and ground truth in a dataset layout; keys "
        "given beside it take precedence.",
    )
    imagery: ImageryConfig = Field(description="The high-resolution imagery to map.")
    classes: Annotated[ClassSchemeConfig, BeforeValidator(_builtin_scheme)] = Field(
        description="A built-in scheme (enviroatlas-5, chesapeake-4) or the classes inline."
    )
    weak_labels: list[WeakLabelConfig] = Field(
        default_factory=list,
        description="Sources of per-pixel class probabilities, combined in order: rasters are "
        "averaged, then vectors and masks are burnt in.",
    )
    ground_truth: GroundTruthConfig | None = Field(
        None, description="High-resolution labels, for reports and for training a prior."
    )

    @model_validator(mode="before")
    @classmethod
    def _from_layout(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("layout"), dict):
            return data
        from geoppp.landcover.layouts import expand_layout

        try:
            layout = LayoutConfig.model_validate(data["layout"], context=info.context)
        except ValidationError:
            return data  # the `layout` field itself reports it, at its own location
        found = expand_layout(layout.kind, layout.root, layout.split, layout.weak_labels)
        return {**found, **data}

    @model_validator(mode="after")
    def _known_classes(self) -> RegionConfig:
        known = set(self.classes.names)
        for source in self.weak_labels:
            named: set[str] = set()
            if isinstance(source, CodeRasterConfig):
                for entry in source.table.values():
                    named |= {entry} if isinstance(entry, str) else set(entry)
            elif isinstance(source, VectorConfig | MaskRasterConfig):
                named = {source.class_name}
            unknown = sorted(named - known)
            if unknown:
                raise ValueError(
                    f"weak label source {source.path.name} names class(es) {unknown} that are "
                    f"not in the class scheme {sorted(known)}"
                )
        if self.ground_truth is not None and self.ground_truth.table is not None:
            unknown = sorted(set(self.ground_truth.table.values()) - known)
            if unknown:
                raise ValueError(
                    f"ground_truth table names class(es) {unknown} that are not in the class "
                    f"scheme {sorted(known)}"
                )
        return self


# ---------------------------------------------------------------- pipeline


class OutputsConfig(Strict):
    """Where a mapping step writes. `{imagery}` in a path is replaced by each imagery file's
    name without extension (needed when a region has several imagery files)."""

    class_map: FilePath = Field(description="Class map GeoTIFF (uint8, colour table).")
    probabilities: FilePath | None = Field(None, description="Optional probability GeoTIFF.")
    quicklook: FilePath | None = Field(
        None, description="Optional PNG: imagery, class map and ground truth side by side."
    )
    report: FilePath | None = Field(
        None,
        description="Optional JSON of accuracy and IoU against the region's ground truth "
        "(a Markdown table is written beside it).",
    )
    cog: bool = Field(False, description="Write Cloud Optimized GeoTIFFs with overviews.")
    overview_resampling: Literal["nearest", "mode"] = "nearest"
    overwrite: bool = Field(False, description="Replace outputs that already exist.")


class WeakArgmaxStep(Strict):
    """Per-pixel argmax of the region's weak-label class probabilities."""

    kind: Literal["weak_argmax"]
    name: str = Field(min_length=1, description="Unique within the pipeline.")
    tile_size: int = Field(1024, ge=16, description="Core size of a tile, in pixels.")
    halo: int = Field(0, ge=0, description="Context pixels read around each core.")
    colour_refinement: ColourRefinementConfig | None = Field(
        None,
        description="Read the weak labels out through per-tile class colour models (the "
        "plug_and_play step's readout without the prior); none: the plain argmax.",
    )
    outputs: OutputsConfig


class PatchesConfig(Strict):
    """Training patches of a prior, cut from the region's imagery and ground truth."""

    mode: Literal["joint", "labels"] = Field(
        "joint",
        description="`joint`: normalised image bands plus one-hot labels; `labels`: labels "
        "only (the paper's released code).",
    )
    gsd: float = Field(4.0, gt=0, description="Ground sampling distance of a patch pixel, m.")
    size: int = Field(64, ge=8, description="Patch pixels a side.")
    max_invalid: float = Field(
        0.05, ge=0, le=1, description="Skip patches with more nodata or unlabelled pixels."
    )


class PriorOutputsConfig(Strict):
    """Where a prior-training step writes."""

    checkpoint: FilePath = Field(description="The prior: one safetensors file.")
    samples: FilePath | None = Field(
        None, description="Optional PNG grid of unconditional samples after training."
    )
    sample_steps: int | None = Field(
        250,
        ge=1,
        description="Ancestral steps for those samples (evenly spaced; null: all T).",
    )


class TrainPriorStep(Strict):
    """Train a DDPM prior on patches of the region (which needs ground truth)."""

    kind: Literal["train_prior"]
    name: str = Field(min_length=1, description="Unique within the pipeline.")
    patches: PatchesConfig = PatchesConfig()
    denoiser: dict[str, Any] = Field(
        default_factory=dict,
        description="U-Net size (geoppp.diffusion.DenoiserConfig without in_channels and "
        "sample_size, which the patches set): base_channels, channel_multipliers, "
        "layers_per_block, attention_resolutions, dropout.",
    )
    schedule: Literal["linear", "cosine"] = Field("linear", description="Noise schedule.")
    timesteps: int = Field(1000, ge=2, description="T.")
    training: TrainingConfig
    outputs: PriorOutputsConfig


class ColourVoteStep(Strict):
    """Baseline: k-means clusters of each tile's image, each cluster taking the weak class
    most frequent in it (a cluster without weak labels: that of the nearest colour), so that
    every valid pixel of a tile with a weak label is labelled."""

    kind: Literal["colour_vote"]
    name: str = Field(min_length=1, description="Unique within the pipeline.")
    tile_size: int = Field(512, ge=16, description="Core size of a tile, in pixels.")
    halo: int = Field(0, ge=0, description="Context pixels read around each core.")
    n_clusters: int = Field(8, ge=2, description="k-means clusters per tile.")
    seed: int = Field(0, ge=0, description="Seed of the k-means initialisation.")
    outputs: OutputsConfig


class PlugAndPlayStep(Strict):
    """Map with a frozen diffusion prior: per tile, optimise η under the constraints."""

    kind: Literal["plug_and_play"]
    name: str = Field(min_length=1, description="Unique within the pipeline.")
    prior: str = Field(
        description="A shipped prior's name (e.g. demo-joint) or a checkpoint file (a path "
        "relative to this YAML)."
    )
    tile_size: int = Field(224, ge=16, description="Core size of a tile, in imagery pixels.")
    halo: int = Field(
        16,
        ge=0,
        description="Context pixels around each core; tile_size + 2·halo should be the "
        "prior's patch size times its GSD in pixels (64 × 4 m = 256 px at 1 m).",
    )
    optimiser: PlugAndPlayConfig = Field(
        PlugAndPlayConfig(), description="Steps, learning rate and schedules of the optimiser."
    )
    constraints: ConstraintsConfig = Field(
        ConstraintsConfig(), description="Which constraints, and their weights."
    )
    statistics: str | None = Field(
        None,
        description="Label statistics measured on the source region by a label_statistics "
        "step: shipped ones by name (e.g. demo-source) or a JSON file (a path relative to "
        "this YAML), for the `statistics` constraint.",
    )
    network: FilePath | None = Field(
        None,
        description="A segmentation network trained on the labelled source region (a "
        "train_segmentation checkpoint): its class probabilities on the imagery are the "
        "`network` constraint and a factor of the readout (`network_readout`).",
    )
    network_readout: float = Field(
        1.0,
        ge=0,
        description="With a `network`: the readout's probabilities are multiplied by the "
        "network's to this power, at the imagery's resolution (0: not at all).",
    )
    weak_detail: bool = Field(
        True,
        description="Multiply the prior's upsampled probabilities by the weak labels' detail "
        "within each prior cell (e.g. roads from vectors), rather than upsample alone.",
    )
    colour_refinement: ColourRefinementConfig | None = Field(
        None,
        description="Read the map out through per-tile class colour models at the imagery's "
        "resolution, after the weak labels' detail; none: do not.",
    )
    seed: int = Field(0, ge=0, description="Mixed into each tile's seed (from its position).")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: CUDA when torch sees a GPU, else CPU."
    )
    outputs: OutputsConfig

    @model_validator(mode="after")
    def _statistics_given(self) -> PlugAndPlayStep:
        if self.constraints.statistics > 0 and self.statistics is None:
            raise ValueError(
                "constraints.statistics is switched on but no `statistics` file is given; "
                "measure one with a label_statistics step on the source region"
            )
        if self.constraints.network > 0 and self.network is None:
            raise ValueError(
                "constraints.network is switched on but no `network` is given; train one on "
                "the source region with a train_segmentation step"
            )
        return self

    @field_validator("prior", "statistics")
    @classmethod
    def _resolve_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        base = (info.context or {}).get("base")
        if value is None or base is None:
            return value
        if value.endswith((".safetensors", ".json")) or "/" in value:
            return str((Path(base) / value).resolve())
        return value


class StatisticsOutputsConfig(Strict):
    """Where a label-statistics step writes."""

    statistics: FilePath = Field(description="JSON of the statistics.")
    overwrite: bool = Field(False, description="Replace the file if it exists.")


class LabelStatisticsStep(Strict):
    """Measure, per coarse class code (NLCD), the mean and variance of the high-resolution
    class fractions in blocks of about one coarse cell (Malkin et al. 2019), on a region with
    ground truth, for plug-and-play steps elsewhere."""

    kind: Literal["label_statistics"]
    name: str = Field(min_length=1, description="Unique within the pipeline.")
    region: FilePath | None = Field(
        None,
        description="Region YAML to measure on instead of the pipeline's (e.g. the labelled "
        "source region, when the pipeline maps a target); same classes.",
    )
    cell: float = Field(32.0, gt=0, description="Block side in metres (NLCD cells are 30 m).")
    min_cells: int = Field(5, ge=1, description="Fewest blocks a code needs to be kept.")
    outputs: StatisticsOutputsConfig


class CompareOutputsConfig(Strict):
    """Where a comparison step writes."""

    report: FilePath = Field(
        description="JSON of every map's scores (a Markdown table is written beside it)."
    )
    figure: FilePath | None = Field(
        None, description="Optional PNG: imagery, truth, weak labels and each map, side by side."
    )
    overwrite: bool = Field(False, description="Replace outputs that already exist.")


class CompareStep(Strict):
    """Score the class maps of earlier mapping steps against the region's ground truth, in
    one table (and one figure)."""

    kind: Literal["compare"]
    name: str = Field(min_length=1, description="Unique within the pipeline.")
    steps: list[str] = Field(min_length=1, description="Names of earlier mapping steps.")
    outputs: CompareOutputsConfig


class LabelRasterConfig(Strict):
    """Training labels from a raster of the region's class values, e.g. the class map of an
    earlier mapping step (distillation of geoppp's map)."""

    raster: FilePath = Field(
        description="The raster; `{imagery}` is replaced by each imagery file's name."
    )
    band: int = Field(1, ge=1)


class NetworkOutputsConfig(Strict):
    """Where a segmentation-training step writes."""

    checkpoint: FilePath = Field(description="The network: one safetensors file.")
    overwrite: bool = Field(False, description="Replace the file if it exists.")


class TrainSegmentationStep(Strict):
    """Train a segmentation network (segmentation-models-pytorch, no pretrained weights) on
    windows of a region's imagery with aligned labels: the baselines and distillation."""

    kind: Literal["train_segmentation"]
    name: str = Field(min_length=1, description="Unique within the pipeline.")
    region: FilePath | None = Field(
        None,
        description="Region YAML to train on instead of the pipeline's (e.g. the source "
        "region, for the source-only baseline); same classes and bands.",
    )
    labels: Literal["ground_truth", "weak_argmax"] | LabelRasterConfig = Field(
        "ground_truth",
        description="`ground_truth`, the weak labels' per-pixel argmax (`weak_argmax`), or "
        "`{raster: PATH}` (e.g. an earlier step's class map).",
    )
    network: NetworkConfig = Field(NetworkConfig(), description="Architecture and encoder.")
    training: SegmentationTrainingConfig = Field(
        SegmentationTrainingConfig(), description="Windows, steps and optimiser."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: CUDA when torch sees a GPU, else CPU."
    )
    outputs: NetworkOutputsConfig


class SegmentationStep(Strict):
    """Map with a trained segmentation network: softmax class probabilities per tile."""

    kind: Literal["segmentation"]
    name: str = Field(min_length=1, description="Unique within the pipeline.")
    network: FilePath = Field(
        description="Checkpoint written by a train_segmentation step (this or an earlier run)."
    )
    tile_size: int = Field(256, ge=16, description="Core size of a tile, in pixels.")
    halo: int = Field(32, ge=0, description="Context pixels read around each core.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: CUDA when torch sees a GPU, else CPU."
    )
    outputs: OutputsConfig


class UncertaintyOutputsConfig(Strict):
    """Where an uncertainty step writes; `{imagery}` as in mapping steps."""

    raster: FilePath = Field(
        description="2-band float32 GeoTIFF: agreement of the seeds' maps with their modal "
        "class (1/K..1) and entropy of their mean probabilities (0..1, over log C)."
    )
    report: FilePath | None = Field(
        None,
        description="Optional JSON: accuracy on the most and least certain halves of the "
        "pixels with ground truth (a Markdown table is written beside it).",
    )
    overwrite: bool = Field(False, description="Replace outputs that already exist.")


class UncertaintyStep(Strict):
    """Posterior samples of a plug_and_play step: run it once per seed and measure, per
    pixel, how much the runs agree."""

    kind: Literal["uncertainty"]
    name: str = Field(min_length=1, description="Unique within the pipeline.")
    step: str = Field(description="Name of an earlier plug_and_play step.")
    seeds: list[Annotated[int, Field(ge=0)]] = Field(
        min_length=2, description="One run per seed (mixed into each tile's seed)."
    )
    outputs: UncertaintyOutputsConfig

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError("seeds must be distinct")
        return seeds


MappingStepConfig = WeakArgmaxStep | ColourVoteStep | PlugAndPlayStep | SegmentationStep
MAPPING_STEPS = (WeakArgmaxStep, ColourVoteStep, PlugAndPlayStep, SegmentationStep)
StepConfig = Annotated[
    WeakArgmaxStep
    | ColourVoteStep
    | PlugAndPlayStep
    | SegmentationStep
    | TrainPriorStep
    | TrainSegmentationStep
    | LabelStatisticsStep
    | UncertaintyStep
    | CompareStep,
    Field(discriminator="kind"),
]


class ExecutionConfig(Strict):
    """How tiles are scheduled."""

    workers: int = Field(2, ge=1, description="dask threads.")
    batch_size: int = Field(8, ge=1, description="Tiles per model call.")
    stripe_width: int = Field(
        8192,
        ge=16,
        description="With a halo, map in vertical stripes about this many pixels wide, so "
        "that memory does not grow with the raster's width.",
    )
    gdal_cache_mb: int = Field(64, ge=8, description="GDAL block cache size, MiB.")
    progress: bool = True
    scheduler: str | None = Field(
        None,
        description="Address of a running dask.distributed scheduler (e.g. tcp://host:8786) "
        "to compute the tiles on; its workers must see the same files at the same paths.",
    )
    local_cluster: int | None = Field(
        None, ge=1, description="Start a dask LocalCluster of this many worker processes."
    )
    tile_store: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Record finished tiles so that an interrupted run continues where it "
        "stopped. auto: on for plug_and_play steps, for segmentation steps over several "
        "imagery files (their batches span files through the stores) and on a cluster (cheap "
        "models recompute faster than they store). off: batches do not span files.",
    )
    tile_store_folder: FilePath | None = Field(
        None,
        description="Where tile stores go (`<class map name>.tiles/` in it); default: beside "
        "each class map. On a cluster it must be on a file system every worker sees.",
    )
    keep_tile_store: bool = Field(
        False, description="Keep the tile store after the map is complete (default: delete)."
    )

    @model_validator(mode="after")
    def _one_cluster(self) -> ExecutionConfig:
        if self.scheduler is not None and self.local_cluster is not None:
            raise ValueError("give `scheduler` or `local_cluster`, not both")
        if self.tile_store == "off" and self.on_cluster:
            raise ValueError(
                "a cluster's workers hand their tiles over through the tile store; remove "
                "`tile_store: off` or run without a cluster"
            )
        return self

    @property
    def on_cluster(self) -> bool:
        return self.scheduler is not None or self.local_cluster is not None


class PipelineConfig(Strict):
    """A pipeline: a region and named steps to run on it, in order."""

    region: FilePath = Field(description="Region YAML file.")
    execution: ExecutionConfig = Field(ExecutionConfig(), description="How tiles are scheduled.")
    steps: list[StepConfig] = Field(min_length=1, description="Run in order.")

    @model_validator(mode="after")
    def _unique_steps(self) -> PipelineConfig:
        names = [step.name for step in self.steps]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"step names must be unique; repeated: {repeated}")
        for position, step in enumerate(self.steps):
            if isinstance(step, CompareStep):
                earlier = {s.name: s for s in self.steps[:position] if isinstance(s, MAPPING_STEPS)}
                unknown = [name for name in step.steps if name not in earlier]
                if unknown:
                    raise ValueError(
                        f"step {step.name} compares {unknown}, which are not mapping steps "
                        f"before it; expected some of {sorted(earlier)}"
                    )
            if isinstance(step, UncertaintyStep):
                sampled = [s.name for s in self.steps[:position] if isinstance(s, PlugAndPlayStep)]
                if step.step not in sampled:
                    raise ValueError(
                        f"step {step.name} samples {step.step!r}, which is not a plug_and_play "
                        f"step before it; expected one of {sampled}"
                    )
        return self


# ---------------------------------------------------------------- loading

Model = TypeVar("Model", bound=BaseModel)


def read_yaml(path: Path) -> dict[str, Any]:
    """The mapping at the top of a YAML file, or a :class:`ConfigError` saying what is wrong."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        # libyaml's parser where PyYAML has it: the pure-Python one took 0.1 s of a `validate`.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path}: byte {error.start} (0x{error.object[error.start]:02x}) is not UTF-8 text; "
            "save the file as UTF-8 (an editor's 'encoding' setting, or `iconv -t UTF-8`)"
        ) from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{path}:{where}: not valid YAML ({problem})") from error
    if not isinstance(document, dict):
        raise ConfigError(
            f"{path}: expected a mapping of keys at the top, found {type(document).__name__}"
        )
    return document


def load(path: Path, model: type[Model]) -> Model:
    """Validate the YAML file at ``path`` against ``model``, paths resolved beside it."""
    path = Path(path)
    return validate_document(read_yaml(path), model, path.resolve().parent, path)


def validate_document(
    document: dict[str, Any], model: type[Model], base: Path, source: Path | str
) -> Model:
    """Validate a mapping against ``model``, relative paths resolved against ``base``;
    problems raise a :class:`ConfigError` that names ``source`` (a file, or the caller)."""
    try:
        return model.model_validate(document, context={"base": base})
    except ValidationError as error:
        raise ConfigError(describe_errors(Path(source), model, error)) from None


def load_region(path: Path) -> RegionConfig:
    return load(path, RegionConfig)


def load_pipeline(path: Path) -> PipelineConfig:
    return load(path, PipelineConfig)


def kind_of(path: Path) -> type[RegionConfig] | type[PipelineConfig]:
    """Whether a YAML file holds a pipeline (it has `steps`) or a region."""
    return PipelineConfig if "steps" in read_yaml(path) else RegionConfig


def describe_errors(path: Path, model: type[BaseModel], error: ValidationError) -> str:
    """One line per problem: file, field path, what was expected, what was found."""
    lines = [f"{path}: {error.error_count()} problem(s)"]
    for problem in error.errors(include_url=False):
        location = _field_path(model, problem["loc"])
        found = _shorten(problem.get("input"))
        if problem["type"] == "extra_forbidden":
            key = str(problem["loc"][-1])
            allowed = _allowed_keys(model, problem["loc"][:-1])
            hint = difflib.get_close_matches(key, allowed, n=1)
            suggestion = f"; did you mean `{hint[0]}`?" if hint else ""
            lines.append(
                f"  {location}: unknown key; expected one of {sorted(allowed)}{suggestion}"
            )
        elif problem["type"] == "missing":
            lines.append(f"  {location}: required field is missing")
        elif not problem["loc"]:  # a check of the whole file: its content is no news
            lines.append(f"  {location}: {problem['msg'].removeprefix('Value error, ')}")
        else:
            message = problem["msg"].removeprefix("Value error, ")
            lines.append(f"  {location}: {message}; found {found}")
    return "\n".join(lines)


def _field_path(model: type[BaseModel], location: tuple[int | str, ...]) -> str:
    """The location as a user writes it, e.g. `steps[0].tile_size`.

    pydantic puts the tag of a discriminated union (e.g. `weak_argmax`) in the location of
    its members' errors; it is not a key of the YAML file, so it is left out.
    """
    text = ""
    current: Any = model
    for part in location:
        is_tag = not isinstance(current, type) and any(
            _tag(candidate) == part for candidate in alternatives(current)
        )
        current = _descend(current, part) if current is not None else None
        if is_tag:
            continue
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return f"`{text}`" if text else "(top level)"


def _shorten(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _allowed_keys(model: type[BaseModel], location: tuple[int | str, ...]) -> list[str]:
    """Field names (and aliases) of the model found at ``location`` inside ``model``."""
    current: Any = model
    for part in location:
        current = _descend(current, part)
        if current is None:
            return []
    # An optional section (`colour_refinement: {...}` or null) is a union with None.
    models = [c for c in alternatives(current) if isinstance(c, type) and issubclass(c, BaseModel)]
    if len(models) != 1:
        return []
    return [field.alias or name for name, field in models[0].model_fields.items()]


def _descend(annotation: Any, part: int | str) -> Any:
    """The annotation reached from ``annotation`` by one step of an error location."""
    candidates = alternatives(annotation)
    if isinstance(part, int):
        lists = [c for c in candidates if getattr(c, "__origin__", None) is list]
        return lists[0].__args__[0] if lists else None
    for candidate in candidates:
        if _tag(candidate) == part:  # the member of a discriminated union
            return candidate
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            fields = {f.alias or n: f for n, f in candidate.model_fields.items()}
            if part in fields:
                return fields[part].annotation
        elif getattr(candidate, "__origin__", None) is dict:
            return candidate.__args__[1]
    return None


def alternatives(annotation: Any) -> list[Any]:
    """The alternatives of an annotation, through Annotated, Optional and unions."""
    metadata = getattr(annotation, "__metadata__", None)
    if metadata is not None:
        return alternatives(annotation.__origin__)
    args = getattr(annotation, "__args__", None)
    if args and type(annotation).__name__ in {"UnionType", "_UnionGenericAlias"}:
        return [c for arg in args for c in alternatives(arg)]
    return [annotation]


def _tag(candidate: Any) -> str | None:
    if isinstance(candidate, type) and issubclass(candidate, BaseModel):
        kind = candidate.model_fields.get("kind")
        args = getattr(kind.annotation, "__args__", None) if kind is not None else None
        if args:
            return str(args[0])
    return None
