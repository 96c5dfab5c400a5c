"""The noise schedule against its closed forms, and the statistics of forward noising."""

from __future__ import annotations

import math

import pytest
import torch

from geoppp.diffusion import NoiseSchedule


def test_linear_betas_are_evenly_spaced_between_the_endpoints() -> None:
    schedule = NoiseSchedule.linear()
    betas = schedule.betas
    assert betas.dtype == torch.float64 and betas.shape == (1000,)
    assert betas[0].item() == pytest.approx(1e-4, abs=1e-15)
    assert betas[-1].item() == pytest.approx(2e-2, abs=1e-15)
    spacing = (2e-2 - 1e-4) / 999
    torch.testing.assert_close(betas.diff(), torch.full((999,), spacing, dtype=torch.float64))


def test_alphas_cumprod_is_the_product_of_one_minus_beta() -> None:
    schedule = NoiseSchedule.linear(T=50, beta_start=1e-3, beta_end=0.2)
    product = 1.0
    for t in range(50):
        product *= 1.0 - schedule.betas[t].item()
        assert schedule.alphas_cumprod[t].item() == pytest.approx(product, rel=1e-12)
    torch.testing.assert_close(schedule.alphas, 1.0 - schedule.betas)
    assert schedule.alphas_cumprod_prev[0].item() == 1.0
    torch.testing.assert_close(schedule.alphas_cumprod_prev[1:], schedule.alphas_cumprod[:-1])


def test_reference_schedule_ends_in_almost_pure_noise() -> None:
    abar = NoiseSchedule.linear().alphas_cumprod
    assert abar[0].item() == pytest.approx(1 - 1e-4)
    assert abar[-1].item() < 1e-4  # Ho et al.: ᾱ_T ≈ 4e-5


def test_cosine_follows_nichol_and_dhariwal() -> None:
    T, s = 1000, 0.008

    def f(t: float) -> float:
        return math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2

    schedule = NoiseSchedule.cosine(T, s)
    for t in (0, 1, 10, 250, 500, 900, 990):
        assert schedule.alphas_cumprod[t].item() == pytest.approx(f(t + 1) / f(0), rel=1e-9)
        assert schedule.betas[t].item() == pytest.approx(1 - f(t + 1) / f(t), rel=1e-9)
    assert schedule.betas.max().item() == pytest.approx(0.999)  # clipped at the very end


def test_posterior_variance_closed_form() -> None:
    schedule = NoiseSchedule.linear(T=20, beta_start=0.01, beta_end=0.3)
    for t in (1, 7, 19):
        abar, abar_prev = schedule.alphas_cumprod[t].item(), schedule.alphas_cumprod[t - 1].item()
        expected = schedule.betas[t].item() * (1 - abar_prev) / (1 - abar)
        assert schedule.posterior_variance[t].item() == pytest.approx(expected, rel=1e-12)
    assert schedule.posterior_variance[0].item() == 0.0


@pytest.mark.parametrize(
    "schedule",
    [NoiseSchedule.linear(), NoiseSchedule.cosine(400, s=0.01)],
    ids=["linear", "cosine"],
)
def test_config_round_trip(schedule: NoiseSchedule) -> None:
    again = NoiseSchedule.from_config(schedule.to_config())
    assert again == schedule
    assert torch.equal(again.betas, schedule.betas)


def test_schedules_with_other_parameters_differ() -> None:
    assert NoiseSchedule.linear() != NoiseSchedule.linear(beta_end=0.02001)
    assert NoiseSchedule.linear(T=100) != NoiseSchedule.cosine(T=100)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"kind": "sigmoid", "num_timesteps": 10}, "kind must be one of"),
        ({"kind": "linear"}, "num_timesteps"),
        ({"kind": "linear", "num_timesteps": 10, "s": 0.1}, "does not fit kind 'linear'"),
        ({"kind": "linear", "num_timesteps": 10, "beta_start": 0.5, "beta_end": 0.1}, "beta"),
    ],
)
def test_bad_configs_say_what_is_wrong(config: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NoiseSchedule.from_config(config)


def test_forward_noising_statistics() -> None:
    """For x0 = c, x_t has mean √ᾱ_t c and variance 1 - ᾱ_t."""
    schedule = NoiseSchedule.linear()
    generator = torch.Generator().manual_seed(0)
    c, n = 0.7, 200_000
    x0 = torch.full((n, 1), c, dtype=torch.float64)
    for t in (0, 50, 300, 999):
        noise = torch.randn(x0.shape, generator=generator, dtype=torch.float64)
        xt = schedule.add_noise(x0, torch.full((n,), t), noise)
        abar = schedule.alphas_cumprod[t].item()
        assert xt.mean().item() == pytest.approx(math.sqrt(abar) * c, abs=0.01)
        assert xt.var().item() == pytest.approx(1 - abar, rel=0.02, abs=1e-6)


def test_first_step_is_almost_the_data_and_last_almost_pure_noise() -> None:
    schedule = NoiseSchedule.linear()
    generator = torch.Generator().manual_seed(1)
    x0 = torch.rand(64, 3, 8, 8, generator=generator) * 2 - 1
    noise = torch.randn(x0.shape, generator=generator)
    first = schedule.add_noise(x0, torch.zeros(64, dtype=torch.long), noise)
    assert (first - x0).abs().max().item() < 0.05  # σ_0 = 0.01
    last = schedule.add_noise(x0, torch.full((64,), 999), noise)
    assert (last - noise).abs().max().item() < 0.01  # √ᾱ_{T-1} ≈ 0.006
    assert last.mean().item() == pytest.approx(0.0, abs=0.05)
    assert last.std().item() == pytest.approx(1.0, abs=0.05)


def test_add_noise_per_sample_timesteps_and_dtype() -> None:
    schedule = NoiseSchedule.linear()
    x0 = torch.ones(2, 1, 2, 2, dtype=torch.float32)
    noise = torch.zeros_like(x0)
    xt = schedule.add_noise(x0, torch.tensor([0, 999]), noise)
    assert xt.dtype == torch.float32
    expected = schedule.alphas_cumprod[[0, 999]].sqrt().float()
    torch.testing.assert_close(xt[:, 0, 0, 0], expected)
    scalar = schedule.add_noise(x0, torch.tensor(10), noise)
    torch.testing.assert_close(scalar, x0 * schedule.alphas_cumprod[10].sqrt().float())


@pytest.mark.parametrize(
    ("t", "message"),
    [
        (torch.tensor([0, 1000]), r"\[0, 1000\)"),
        (torch.tensor([-1, 3]), r"\[0, 1000\)"),
        (torch.tensor([0.5, 1.0]), "integer"),
        (torch.tensor([1, 2, 3]), r"shape \(B,\) = \(2,\)"),
    ],
)
def test_add_noise_rejects_bad_timesteps(t: torch.Tensor, message: str) -> None:
    x0 = torch.zeros(2, 1, 2, 2)
    with pytest.raises(ValueError, match=message):
        NoiseSchedule.linear().add_noise(x0, t, torch.zeros_like(x0))
