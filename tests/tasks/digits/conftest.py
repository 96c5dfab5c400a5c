"""Fixtures for the digits tests: the shipped models, and a tiny untrained prior."""

from __future__ import annotations

import pytest

from geoppp.diffusion import DenoiserConfig
from geoppp.diffusion.checkpoint import LoadedCheckpoint, load_checkpoint
from geoppp.diffusion.denoiser import Denoiser, build_denoiser
from geoppp.tasks.digits.classifier import DigitClassifier, load_classifier
from geoppp.tasks.digits.pipeline import LAYOUT
from geoppp.tasks.digits.settings import SHIPPED


@pytest.fixture(autouse=True)
def _single_threaded(one_thread: None) -> None:
    """Every test here runs torch on one thread (see tests/conftest.py)."""


@pytest.fixture(scope="session")
def prior() -> LoadedCheckpoint:
    return load_checkpoint(SHIPPED / "prior.safetensors", expected_layout=LAYOUT)


@pytest.fixture(scope="session")
def classifier() -> DigitClassifier:
    return load_classifier(SHIPPED / "constraint.safetensors")


@pytest.fixture(scope="session")
def judge() -> DigitClassifier:
    return load_classifier(SHIPPED / "judge.safetensors")


@pytest.fixture
def tiny_prior() -> Denoiser:
    """An untrained one-level U-Net at 32 × 32 (milliseconds a step)."""
    config = DenoiserConfig(
        in_channels=1,
        sample_size=32,
        base_channels=8,
        channel_multipliers=(1,),
        layers_per_block=1,
        attention_resolutions=(),
        norm_groups=8,
    )
    return build_denoiser(config).eval().requires_grad_(False)
