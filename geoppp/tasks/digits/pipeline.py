"""Checks and runs ``task: digits`` pipelines for the step runner (``geoppp run``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from geoppp.diffusion.checkpoint import load_checkpoint
from geoppp.diffusion.denoiser import DenoiserConfig, denoiser_config
from geoppp.diffusion.patches import TensorPatches
from geoppp.diffusion.schedule import NoiseSchedule
from geoppp.diffusion.training import resume_state_path, train
from geoppp.errors import ConfigError
from geoppp.tasks import TaskPipeline
from geoppp.tasks.digits.classifier import save_classifier, train_classifier
from geoppp.tasks.digits.config import (
    DigitsPipelineConfig,
    TrainClassifierStep,
    TrainDigitsPriorStep,
    load_digits_pipeline,
)
from geoppp.tasks.digits.data import SIZE, load_digits

LAYOUT = {"task": "digits", "channels": 1, "size": SIZE, "range": [-1.0, 1.0]}
"""What the prior's checkpoint records about its data; generation checks it."""


def prior_denoiser(step: TrainDigitsPriorStep) -> DenoiserConfig:
    """The step's U-Net, with the digits' channels and size (a ConfigError names the key)."""
    return denoiser_config(step.denoiser, 1, SIZE, f"step {step.name}")


def _check(pipeline: DigitsPipelineConfig, overwrite: bool) -> list[str]:
    lines = []
    for step in pipeline.steps:
        folder = step.checkpoint.parent
        if not folder.is_dir():
            raise ConfigError(
                f"step {step.name}: checkpoint folder {folder} does not exist; create it"
            )
        if isinstance(step, TrainDigitsPriorStep):
            prior_denoiser(step)
            # An existing prior is resumed, not refused (training is resumable); one without
            # a resume state can only be replaced.
            if step.checkpoint.exists():
                load_checkpoint(step.checkpoint, expected_layout=LAYOUT)
                if not resume_state_path(step.checkpoint).exists() and not overwrite:
                    raise ConfigError(
                        f"step {step.name}: {step.checkpoint} exists and has no resume state "
                        "to continue from; pass --overwrite to retrain it"
                    )
        elif step.checkpoint.exists() and not overwrite:
            raise ConfigError(
                f"step {step.name}: {step.checkpoint} exists; pass --overwrite to retrain it"
            )
        lines.append(f"step {step.name} ({step.kind}) → {step.checkpoint}: OK")
    return lines


def check(path: Path, overwrite: bool) -> list[str]:
    """Validate a digits pipeline and its outputs without running it."""
    return _check(load_digits_pipeline(path), overwrite)


def run(path: Path, overwrite: bool, progress: bool, log: Callable[[str], None]) -> None:
    """Run every step of a digits pipeline, in order (all checked first)."""
    pipeline = load_digits_pipeline(path)
    _check(pipeline, overwrite)
    for step in pipeline.steps:
        if isinstance(step, TrainDigitsPriorStep):
            _run_prior(step, overwrite, progress, log)
        else:
            _run_classifier(step, progress, log)


def _run_prior(
    step: TrainDigitsPriorStep, overwrite: bool, progress: bool, log: Callable[[str], None]
) -> None:
    digits = load_digits("train")
    log(f"step {step.name}: DDPM prior on {len(digits.labels)} training digits → {step.checkpoint}")
    resume = not (overwrite and not resume_state_path(step.checkpoint).exists())
    result = train(
        prior_denoiser(step),
        NoiseSchedule.linear(step.timesteps),
        TensorPatches(digits.images),  # no flips: digits have an orientation
        step.training,
        checkpoint_path=step.checkpoint,
        layout=LAYOUT,
        progress=progress,
        resume=resume,
    )
    history = ", ".join(f"{s}: {loss:.4f}" for s, loss in result.loss_history[-10:])
    log(f"  trained to step {result.step} in {result.seconds:.0f} s; last losses: {history}")


def _run_classifier(step: TrainClassifierStep, progress: bool, log: Callable[[str], None]) -> None:
    model, report = train_classifier(
        load_digits("train"), load_digits("held_out"), step.network, step.training, progress
    )
    save_classifier(step.checkpoint, model, step.training, report)
    log(
        f"step {step.name}: classifier accuracy {report.train_accuracy:.3f} (train), "
        f"{report.held_out_accuracy:.3f} (held out) → {step.checkpoint}"
    )


DIGITS_PIPELINE = TaskPipeline(model=DigitsPipelineConfig, check=check, run=run)
