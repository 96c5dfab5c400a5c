"""Ancestral sampling: shape and range, determinism, and the right distribution from an oracle."""

from __future__ import annotations

import pytest
import torch

from geoppp.diffusion import DenoiserConfig, NoiseSchedule, build_denoiser, sample
from geoppp.diffusion.denoiser import Denoiser
from geoppp.diffusion.sampling import sampling_timesteps


def noisy_model(config: DenoiserConfig) -> Denoiser:
    """A denoiser with random (not zero) output layers, so that it predicts something."""
    torch.manual_seed(0)
    model = build_denoiser(config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.05)
    return model


def test_samples_have_the_shape_asked_for_and_lie_in_the_data_range(
    tiny_config: DenoiserConfig,
) -> None:
    model = noisy_model(tiny_config)
    x = sample(
        model, NoiseSchedule.linear(), (3, 3, 16, 16), torch.Generator().manual_seed(0), steps=8
    )
    assert x.shape == (3, 3, 16, 16) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    assert x.std() > 0.01


def test_sampling_is_deterministic_under_a_generator(tiny_config: DenoiserConfig) -> None:
    model = noisy_model(tiny_config)
    model.train()
    schedule = NoiseSchedule.linear()

    def draw(seed: int) -> torch.Tensor:
        return sample(model, schedule, (2, 3, 16, 16), torch.Generator().manual_seed(seed), steps=5)

    assert torch.equal(draw(1), draw(1))
    assert not torch.equal(draw(1), draw(2))
    assert model.training  # restored after sampling


@pytest.mark.parametrize(("steps", "tolerance"), [(None, 0.03), (250, 0.06)])
def test_an_oracle_denoiser_gives_the_data_distribution(
    steps: int | None, tolerance: float
) -> None:
    """For data N(0, s²) per pixel, E[ε | x_t] = √(1-ᾱ_t) x_t / (ᾱ_t s² + 1 - ᾱ_t); sampling
    with it must give samples of standard deviation s. Respaced to fewer steps, the β̃
    variance under-disperses a little (std 0.254 at 50 steps, 0.286 at 200, 0.297 at 1000)."""
    s = 0.3
    schedule = NoiseSchedule.linear()
    abar = schedule.alphas_cumprod.float()

    def oracle(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = abar[t].reshape(-1, 1, 1, 1)
        return (1 - a).sqrt() * x / (a * s**2 + 1 - a)

    x = sample(oracle, schedule, (8, 1, 32, 32), torch.Generator().manual_seed(0), steps=steps)
    assert x.mean().item() == pytest.approx(0.0, abs=0.02)
    assert x.std().item() == pytest.approx(s, rel=tolerance)


def test_sampling_timesteps() -> None:
    assert torch.equal(sampling_timesteps(1000), torch.arange(1000))
    assert torch.equal(sampling_timesteps(1000, 2000), torch.arange(1000))
    ten = sampling_timesteps(1000, 10)
    assert ten[0] == 0 and ten[-1] == 999 and len(ten.unique()) == 10
    assert (ten.diff() > 0).all()
    assert sampling_timesteps(1000, 1).tolist() == [999]
    with pytest.raises(ValueError, match="at least 1 step"):
        sampling_timesteps(1000, 0)
