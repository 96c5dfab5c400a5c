"""Segmentation-network steps: train one on a region's imagery and labels (the U-Net
baselines, distillation of geoppp's map), and check a trained one before it maps a region."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from geoppp.config import (
    LabelRasterConfig,
    RegionConfig,
    TrainSegmentationStep,
    load_region,
)
from geoppp.errors import ConfigError
from geoppp.geo.grid import Grid
from geoppp.geo.output import OutputOptions, check_writable
from geoppp.geo.raster import grid_of, require_bands, require_overlap
from geoppp.landcover.evaluation import value_lookup
from geoppp.landcover.mapping import Imagery
from geoppp.landcover.normalisation import band_statistics
from geoppp.landcover.segmentation_metadata import SegmentationMetadata, read_metadata
from geoppp.landcover.segmentation_windows import (
    LabelledImagery,
    LabelOpener,
    WindowSampler,
    raster_labels,
    weak_argmax_labels,
)
from geoppp.region import for_tile, truth_classes, weak_label_sources

if TYPE_CHECKING:
    from geoppp.landcover.segmentation import NetworkTraining


@dataclass(frozen=True)
class PreparedNetworkTraining:
    """A segmentation-training step, checked, with the region it trains on."""

    step: TrainSegmentationStep
    region: RegionConfig
    files: list[LabelledImagery]
    pixel_size: float


def prepare_network_training(
    step: TrainSegmentationStep,
    pipeline_region: RegionConfig,
    overwrite: bool,
    produced: frozenset[Path] = frozenset(),
) -> PreparedNetworkTraining:
    """Check the step's region, labels and output; ``produced``: files that earlier steps
    will write (a class map to distil)."""
    region = load_region(step.region) if step.region is not None else pipeline_region
    if list(region.classes.names) != list(pipeline_region.classes.names):
        raise ConfigError(
            f"step {step.name}: region {region.name} has classes {list(region.classes.names)} "
            f"but the pipeline's region {pipeline_region.name} has "
            f"{list(pipeline_region.classes.names)}; train on a region of the same classes"
        )
    if len(region.imagery.bands) != len(pipeline_region.imagery.bands):
        raise ConfigError(
            f"step {step.name}: region {region.name} gives {len(region.imagery.bands)} "
            f"imagery band(s) but the pipeline's region gives "
            f"{len(pipeline_region.imagery.bands)}"
        )
    if step.labels == "ground_truth" and region.ground_truth is None:
        raise ConfigError(
            f"step {step.name} trains on the ground truth of region {region.name}, which has "
            "none; add `ground_truth` to the region or set `labels: weak_argmax`"
        )
    check_writable(
        OutputOptions(step.outputs.checkpoint, overwrite=overwrite or step.outputs.overwrite)
    )
    several = len(region.imagery.paths) > 1
    files = []
    pixel_sizes = set()
    for path in region.imagery.paths:
        grid = grid_of(path)
        require_bands(path, region.imagery.bands, "imagery")
        pixel_sizes.add(round(abs(grid.transform.a), 9))
        imagery = Imagery(path, tuple(region.imagery.bands), region.imagery.nodata)
        files.append(
            LabelledImagery(imagery, grid, _labels(step, region, path, grid, several, produced))
        )
    if len(pixel_sizes) > 1:
        raise ConfigError(
            f"step {step.name}: the imagery of region {region.name} has pixel sizes "
            f"{sorted(pixel_sizes)}; a network learns one resolution, resample the imagery"
        )
    return PreparedNetworkTraining(step, region, files, pixel_sizes.pop())


def _labels(
    step: TrainSegmentationStep,
    region: RegionConfig,
    imagery: Path,
    grid: Grid,
    several: bool,
    produced: frozenset[Path],
) -> LabelOpener:
    """Where the training labels of one imagery file come from."""
    if step.labels == "weak_argmax":
        return weak_argmax_labels(weak_label_sources(region, grid, imagery))
    if step.labels == "ground_truth":
        assert region.ground_truth is not None
        truth = for_tile(region.ground_truth.path, region, imagery)
        require_overlap(truth, grid, "ground truth")
        lookup = value_lookup(truth_classes(region))
        return raster_labels(truth, region.ground_truth.band, lookup, grid)
    assert isinstance(step.labels, LabelRasterConfig)
    template = step.labels.raster
    if several and "{imagery}" not in template.name:
        raise ConfigError(
            f"step {step.name}: labels.raster {template} is one file for "
            f"{len(region.imagery.paths)} imagery files; put `{{imagery}}` in its name"
        )
    raster = Path(str(template).replace("{imagery}", imagery.stem))
    if raster.resolve() not in produced:
        if not raster.exists():
            raise ConfigError(
                f"step {step.name}: labels.raster {raster} does not exist and no earlier step "
                "writes it; map the region first (e.g. with a plug_and_play step)"
            )
        require_overlap(raster, grid, "labels.raster")
    lookup = value_lookup({item.value: i for i, item in enumerate(region.classes.classes)})
    return raster_labels(raster, step.labels.band, lookup, grid)


def run_network_training(
    prepared: PreparedNetworkTraining, progress: bool, log: Callable[[str], None]
) -> NetworkTraining:
    """Train the network and write its checkpoint."""
    # Imported here: checking the step (``geoppp validate``) needs no torch.
    from geoppp.diffusion.training import resolve_device
    from geoppp.landcover.segmentation import build_network, save_network, train_network

    step, region = prepared.step, prepared.region
    labels = step.labels if isinstance(step.labels, str) else f"raster {step.labels.raster}"
    log(
        f"step {step.name}: {step.network.architecture}/{step.network.encoder} on region "
        f"{region.name} ({labels}), {step.training.steps} steps of "
        f"{step.training.batch_size}×{step.training.patch_size}² → {step.outputs.checkpoint}"
    )
    normalisation = band_statistics(
        region.imagery.paths, region.imagery.bands, region.imagery.nodata
    )
    classes = len(region.classes.classes)
    network = build_network(step.network, len(region.imagery.bands), classes)
    with ExitStack() as stack:
        sampler = WindowSampler(
            prepared.files,
            stack,
            step.training.patch_size,
            step.training.batch_size,
            normalisation,
            step.training.colour_jitter,
        )
        result = train_network(
            network,
            sampler,
            step.training,
            classes,
            resolve_device(step.device),
            progress=progress,
        )
    metadata = SegmentationMetadata(
        step.network,
        tuple(region.classes.names),
        tuple(region.imagery.bands),
        normalisation,
        prepared.pixel_size,
        f"{labels} of region {region.name}",
        step.training.steps,
    )
    save_network(step.outputs.checkpoint, result.network.cpu(), metadata)
    history = ", ".join(f"{s}: {loss:.3f}" for s, loss in result.loss_history)
    log(f"  trained in {result.seconds:.1f} s; loss by step: {history}")
    return result


def check_network(
    step: str, network: Path, region: RegionConfig, produced: frozenset[Path] = frozenset()
) -> None:
    """Refuse a network trained on other classes, bands or pixel size than the region's,
    unless an earlier step of the pipeline writes it (``produced``)."""
    if network.resolve() in produced:
        return
    metadata = read_metadata(network)
    if list(metadata.class_names) != list(region.classes.names):
        raise ConfigError(
            f"step {step}: network {network} was trained on classes "
            f"{list(metadata.class_names)} but region {region.name} has "
            f"{list(region.classes.names)}; train one on this class scheme"
        )
    if len(metadata.bands) != len(region.imagery.bands):
        raise ConfigError(
            f"step {step}: network {network} was trained on "
            f"{len(metadata.bands)} band(s) but region {region.name} gives "
            f"{len(region.imagery.bands)}; train one on these bands"
        )
    for path in region.imagery.paths:
        pixel = abs(grid_of(path).transform.a)
        if abs(pixel - metadata.pixel_size) > 1e-6 * max(pixel, 1.0):
            raise ConfigError(
                f"step {step}: network {network} was trained at "
                f"{metadata.pixel_size} m pixels but {path} has {pixel} m; resample the "
                "imagery or train at this resolution"
            )
