"""Prior-training steps: patches of a region with ground truth → a DDPM prior checkpoint."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from geoppp.config import PatchesConfig, RegionConfig, TrainPriorStep
from geoppp.diffusion.checkpoint import load_checkpoint
from geoppp.diffusion.denoiser import DenoiserConfig, denoiser_config
from geoppp.diffusion.sampling import sample
from geoppp.diffusion.schedule import NoiseSchedule
from geoppp.diffusion.training import TrainingResult, train
from geoppp.errors import CheckpointError, ConfigError
from geoppp.geo.output import OutputOptions, check_writable
from geoppp.landcover.patches import PatchLayout, RegionPatches, band_means, class_frequencies
from geoppp.landcover.priors import prior_path
from geoppp.landcover.sample_grid import write_patch_grid
from geoppp.region import for_tile, truth_classes

SAMPLES_IN_GRID = 16


@dataclass(frozen=True)
class PreparedTraining:
    """A prior-training step, checked and with its patches read."""

    step: TrainPriorStep
    patches: RegionPatches
    denoiser: DenoiserConfig
    schedule: NoiseSchedule
    colours: list[tuple[int, int, int]]


def region_patches(region: RegionConfig, patches: PatchesConfig) -> RegionPatches:
    """The training patches of a region with ground truth, as ``patches`` describes them."""
    assert region.ground_truth is not None
    imagery = region.imagery.paths
    return RegionPatches(
        imagery,
        region.imagery.bands,
        [for_tile(region.ground_truth.path, region, path) for path in imagery],
        truth_classes(region),
        len(region.classes.classes),
        gsd=patches.gsd,
        size=patches.size,
        mode=patches.mode,
        max_invalid=patches.max_invalid,
        nodata=region.imagery.nodata,
        label_band=region.ground_truth.band,
        band_names=region.imagery.band_names,
        class_names=region.classes.names,
    )


def prepare_training(
    step: TrainPriorStep, region: RegionConfig, overwrite: bool
) -> PreparedTraining:
    """Check the step's outputs and configuration and read its patches.

    An existing checkpoint is not refused: training resumes from it, provided it was trained
    on patches laid out as these are (same bands, classes, mode, size, ground sampling
    distance and normalisation); otherwise a CheckpointError says what differs.
    """
    if region.ground_truth is None:
        raise ConfigError(
            f"step {step.name} trains a prior on region {region.name}, which has no "
            "ground_truth; a prior is trained where high-resolution labels exist"
        )
    checkpoint = step.outputs.checkpoint
    if not checkpoint.parent.is_dir():
        raise ConfigError(f"step {step.name}: folder {checkpoint.parent} does not exist")
    if step.outputs.samples is not None:
        check_writable(OutputOptions(step.outputs.samples, overwrite=overwrite))
    patches = region_patches(region, step.patches)
    denoiser = denoiser_config(
        step.denoiser, patches.channels, step.patches.size, f"step {step.name}"
    )
    schedule = (
        NoiseSchedule.linear(step.timesteps)
        if step.schedule == "linear"
        else NoiseSchedule.cosine(step.timesteps)
    )
    if checkpoint.exists():
        load_checkpoint(checkpoint, expected_layout=patches.layout.to_dict())
    colours = [item.rgb for item in region.classes.classes]
    return PreparedTraining(step, patches, denoiser, schedule, colours)


def run_training(
    prepared: PreparedTraining, progress: bool, log: Callable[[str], None]
) -> TrainingResult:
    """Train (or resume) the prior, then draw a grid of samples if asked."""
    step = prepared.step
    layout = prepared.patches.layout
    log(
        f"step {step.name}: {len(prepared.patches)} patch windows of {layout.size}² at "
        f"{layout.gsd} m, {layout.channels} channels ({layout.mode}) → {step.outputs.checkpoint}"
    )
    training_patches = np.concatenate([b.numpy() for b in prepared.patches.all_patches()])
    log(
        f"  training patches ({len(training_patches)} without overlap): "
        + describe_patches(training_patches, layout)
    )
    result = train(
        prepared.denoiser,
        prepared.schedule,
        prepared.patches,
        step.training,
        checkpoint_path=step.outputs.checkpoint,
        layout={**layout.to_dict(), "class_colours": [list(c) for c in prepared.colours]},
        progress=progress,
    )
    history = ", ".join(f"{s}: {loss:.4f}" for s, loss in result.loss_history)
    log(f"  trained to step {result.step} in {result.seconds:.0f} s; loss by step: {history}")
    if step.outputs.samples is not None:
        generator = torch.Generator().manual_seed(step.training.seed)
        samples = sample(
            result.model,
            prepared.schedule,
            (SAMPLES_IN_GRID, layout.channels, layout.size, layout.size),
            generator,
            steps=step.outputs.sample_steps,
        )
        write_patch_grid(step.outputs.samples, samples.cpu().numpy(), layout, prepared.colours)
        log(f"  samples {step.outputs.samples}")
    return result


def sample_checkpoint(
    checkpoint: Path, count: int, out: Path, seed: int, steps: int | None
) -> tuple[Path, str]:
    """Draw ``count`` unconditional samples from a land-cover prior and write their grid.

    Returns:
        The PNG path, and the samples' class frequencies and band means as text.
    """
    loaded = load_checkpoint(prior_path(checkpoint))
    layout = PatchLayout.from_dict(loaded.layout)
    colours = [tuple(colour) for colour in loaded.layout.get("class_colours", [])]
    if len(colours) != layout.n_classes:
        raise CheckpointError(
            f"checkpoint {checkpoint} does not describe land-cover patches (no class colours "
            "in its layout); it was not trained by a geoppp train_prior step"
        )
    samples = sample(
        loaded.model,
        loaded.schedule,
        (count, layout.channels, layout.size, layout.size),
        torch.Generator().manual_seed(seed),
        steps=steps,
    )
    drawn = samples.cpu().numpy()
    return write_patch_grid(out, drawn, layout, colours), describe_patches(drawn, layout)


def describe_patches(patches: np.ndarray, layout: PatchLayout) -> str:
    """Class frequencies (and mean band values, in imagery units) of patches or samples, to
    compare a prior's samples with its training patches."""
    names = layout.class_names or tuple(str(i) for i in range(layout.n_classes))
    frequencies = class_frequencies(patches, layout)
    text = "classes " + ", ".join(f"{n} {f:.3f}" for n, f in zip(names, frequencies, strict=True))
    if layout.mode == "joint":
        bands = layout.band_names or tuple(str(b) for b in layout.bands)
        means = band_means(patches, layout, image_units=True)
        text += "; band means " + ", ".join(
            f"{b} {m:.1f}" for b, m in zip(bands, means, strict=True)
        )
    return text
