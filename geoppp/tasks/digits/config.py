"""The digits task's pipeline YAML: ``task: digits`` and a list of steps.

Steps: ``train_prior`` (the DDPM over the training digits) and ``train_classifier`` (the
constraint's classifier or the independent judge). Relative paths resolve beside the YAML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from geoppp.config import FilePath, Strict, load
from geoppp.diffusion.training import TrainingConfig
from geoppp.tasks.digits.classifier import ClassifierConfig, ClassifierTrainingConfig


class TrainDigitsPriorStep(Strict):
    """Train the DDPM prior on the training split (4 500 digits, 1 × 32 × 32)."""

    kind: Literal["train_prior"]
    name: str = Field(min_length=1)
    denoiser: dict[str, Any] = Field(
        default_factory=dict,
        description="U-Net size (geoppp.diffusion.DenoiserConfig without in_channels and "
        "sample_size, which the digits set to 1 and 32).",
    )
    timesteps: int = Field(1000, ge=2, description="T of the linear β schedule.")
    training: TrainingConfig
    checkpoint: FilePath = Field(description="The prior: one safetensors file.")


class TrainClassifierStep(Strict):
    """Train a digit classifier on the training split; held-out accuracy is logged."""

    kind: Literal["train_classifier"]
    name: str = Field(min_length=1)
    network: ClassifierConfig = ClassifierConfig()
    training: ClassifierTrainingConfig = ClassifierTrainingConfig()
    checkpoint: FilePath = Field(description="The classifier: one safetensors file.")


DigitsStep = Annotated[TrainDigitsPriorStep | TrainClassifierStep, Field(discriminator="kind")]


class DigitsPipelineConfig(Strict):
    """A digits pipeline: ``task: digits`` and its steps, run in order."""

    task: Literal["digits"]
    steps: list[DigitsStep] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> DigitsPipelineConfig:
        names = [step.name for step in self.steps]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"step names must be unique; repeated: {repeated}")
        outputs = [step.checkpoint for step in self.steps]
        if len(set(outputs)) != len(outputs):
            raise ValueError("two steps write the same checkpoint; give each its own file")
        return self


def load_digits_pipeline(path: Path) -> DigitsPipelineConfig:
    """Validate a digits pipeline YAML (raises :class:`geoppp.errors.ConfigError`)."""
    return load(path, DigitsPipelineConfig)
