"""Fixtures for the diffusion tests: tiny models that train in milliseconds per step."""

from __future__ import annotations

import pytest

from geoppp.diffusion import DenoiserConfig


@pytest.fixture(autouse=True)
def _single_threaded(one_thread: None) -> None:
    """Every test here runs torch on one thread (see tests/conftest.py)."""


@pytest.fixture
def tiny_config() -> DenoiserConfig:
    """Two levels (16 and 8 pixels), attention at 8, about 0.18 M parameters."""
    return DenoiserConfig(
        in_channels=3,
        sample_size=16,
        base_channels=16,
        channel_multipliers=(1, 2),
        layers_per_block=1,
        attention_resolutions=(8,),
        norm_groups=8,
    )
