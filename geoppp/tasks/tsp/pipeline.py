"""The TSP task's pipeline YAML (``task: tsp``): train a tour-image prior.

Example (``pipelines/tsp50-train.yaml``)::

    task: tsp
    data: {nodes: 50, instances: 4000, seed: 0, solver_seconds: 0.02}
    denoiser: {base_channels: 16, channel_multipliers: [1, 2, 2, 4], ...}
    training: {steps: 800, batch_size: 16, lr: 2.0e-4, seed: 0}
    checkpoint: ../geoppp/tasks/tsp/data/tsp50.safetensors

Running it again resumes from the checkpoint's last saved step (``--overwrite`` starts
afresh).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from geoppp.config import FilePath, Strict, load
from geoppp.diffusion.checkpoint import load_checkpoint
from geoppp.diffusion.denoiser import DenoiserConfig, denoiser_config
from geoppp.diffusion.schedule import NoiseSchedule
from geoppp.diffusion.training import TrainingConfig, train
from geoppp.errors import ConfigError
from geoppp.tasks import TaskPipeline
from geoppp.tasks.tsp.images import TourImages
from geoppp.tasks.tsp.render import IMAGE_SIZE, geometry


class TrainingDataConfig(Strict):
    """The random instances whose fast-tsp tours the prior learns."""

    nodes: int = Field(50, ge=3, description="N, nodes per instance.")
    instances: int = Field(4000, ge=1, description="Instances in the pool (×8 symmetries).")
    seed: int = Field(0, ge=0, description="Seeds the instances' coordinates.")
    solver_seconds: float = Field(0.02, gt=0, description="fast-tsp's budget per instance.")


class TspPipelineConfig(Strict):
    """A ``task: tsp`` pipeline: train a prior on images of good tours."""

    task: Literal["tsp"]
    data: TrainingDataConfig = TrainingDataConfig()
    denoiser: dict[str, Any] = Field(
        default_factory=dict,
        description="DenoiserConfig fields other than in_channels and sample_size.",
    )
    timesteps: int = Field(1000, ge=2, description="T of the linear noise schedule.")
    training: TrainingConfig
    checkpoint: FilePath = Field(description="The .safetensors prior to write.")


def layout(nodes: int) -> dict[str, Any]:
    """What a TSP prior's checkpoint records about its images."""
    return {"task": "tsp", "nodes": nodes, **geometry()}


def prior_denoiser(path: Path, config: TspPipelineConfig) -> DenoiserConfig:
    return denoiser_config(config.denoiser, 1, IMAGE_SIZE, str(path))


def check(path: Path, overwrite: bool) -> list[str]:
    """Validate a TSP pipeline and its checkpoint path without training."""
    config = load(path, TspPipelineConfig)
    denoiser = prior_denoiser(path, config)
    if not config.checkpoint.parent.is_dir():
        raise ConfigError(
            f"{path}: checkpoint: folder {config.checkpoint.parent} does not exist; create it "
            "or point checkpoint elsewhere"
        )
    resumes = config.checkpoint.exists() and not overwrite
    if resumes:
        load_checkpoint(config.checkpoint, expected_layout=layout(config.data.nodes))
    return [
        f"{path}: TSP-{config.data.nodes} prior, U-Net {list(denoiser.level_channels)}, "
        f"{config.training.steps} steps of {config.training.batch_size} → {config.checkpoint}"
        + (" (resumes)" if resumes else "")
    ]


def run(path: Path, overwrite: bool, progress: bool, log: Callable[[str], None]) -> None:
    """Train (or resume) the prior the pipeline describes."""
    for line in check(path, overwrite):
        log(line)
    config = load(path, TspPipelineConfig)
    data = config.data
    source = TourImages(data.nodes, data.instances, data.seed, data.solver_seconds, progress)
    result = train(
        prior_denoiser(path, config),
        NoiseSchedule.linear(config.timesteps),
        source,
        config.training,
        checkpoint_path=config.checkpoint,
        layout=layout(data.nodes),
        progress=progress,
        resume=not overwrite,
    )
    history = ", ".join(f"{s}: {loss:.4f}" for s, loss in result.loss_history)
    log(f"trained to step {result.step} in {result.seconds:.0f} s; loss by step: {history}")


TSP_PIPELINE = TaskPipeline(model=TspPipelineConfig, check=check, run=run)
