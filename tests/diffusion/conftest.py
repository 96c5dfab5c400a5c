"""Fixtures for the diffusion tests: tiny models that train in milliseconds per step."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from geoppp.diffusion import DenoiserConfig


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Run torch single-threaded: these models are so small that a second thread only adds
    synchronisation, and on a loaded 2-core machine it slowed steps down up to 50-fold."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
