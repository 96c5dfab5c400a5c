"""Fixtures for the TSP tests: instance files and a tiny untrained prior."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from geoppp.diffusion import DenoiserConfig, NoiseSchedule, build_denoiser, save_checkpoint
from geoppp.tasks.tsp.pipeline import layout

BURMA14 = """NAME: burma14
TYPE: TSP
COMMENT: 14-Staedte in Burma (Zaw Win)
DIMENSION: 14
EDGE_WEIGHT_TYPE: GEO
EDGE_WEIGHT_FORMAT: FUNCTION
DISPLAY_DATA_TYPE: COORD_DISPLAY
NODE_COORD_SECTION
   1  16.47       96.10
   2  16.47       94.44
   3  20.09       92.54
   4  22.39       93.37
   5  25.23       97.24
   6  22.00       96.05
   7  20.47       97.02
   8  17.20       96.29
   9  16.30       97.38
  10  14.05       98.12
  11  16.53       97.38
  12  21.52       95.59
  13  19.41       97.13
  14  20.09       94.55
EOF
"""

TINY_DENOISER = {
    "base_channels": 8,
    "channel_multipliers": [1, 1, 1, 1],
    "layers_per_block": 1,
    "attention_resolutions": [8],
    "norm_groups": 8,
}


@pytest.fixture(autouse=True)
def _single_threaded(one_thread: None) -> None:
    """Every test here runs torch on one thread (see tests/conftest.py)."""


@pytest.fixture
def burma14(tmp_path: Path) -> Path:
    path = tmp_path / "burma14.tsp"
    path.write_text(BURMA14)
    return path


@pytest.fixture(scope="session")
def tiny_prior(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained TSP prior of 64 × 64 images (the real geometry)."""
    torch.manual_seed(0)
    config = DenoiserConfig(in_channels=1, sample_size=64, **TINY_DENOISER)
    model = build_denoiser(config)
    # Fresh branches are zero (ε̂ = 0, no gradient to η): perturb them so the latent moves.
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    path = tmp_path_factory.mktemp("prior") / "tiny-tsp.safetensors"
    return save_checkpoint(path, model, NoiseSchedule.linear(), layout(8), None, 0)
