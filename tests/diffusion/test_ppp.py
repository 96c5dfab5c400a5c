"""The plug-and-play optimiser: schedules, F decreasing, per-problem independence, refinement."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from geoppp.diffusion import DenoiserConfig, NoiseSchedule, build_denoiser
from geoppp.diffusion.ppp import (
    PlugAndPlayConfig,
    RefineConfig,
    TimeScheduleConfig,
    WeightedConstraint,
    constraint_weights,
    optimise,
    timesteps,
)


def tiny_denoiser() -> torch.nn.Module:
    torch.manual_seed(0)
    config = DenoiserConfig(
        in_channels=2,
        sample_size=8,
        base_channels=8,
        channel_multipliers=(1, 2),
        layers_per_block=1,
        attention_resolutions=(),
        norm_groups=4,
    )
    model = build_denoiser(config)
    for parameter in model.parameters():  # zero-initialised outputs would make ε̂ ≡ 0
        parameter.data.add_(0.05 * torch.randn_like(parameter))
    return model.eval().requires_grad_(False)


def target_constraint(target: torch.Tensor) -> WeightedConstraint:
    return WeightedConstraint("match", 10.0, lambda x: -((x - target) ** 2).flatten(1).mean(1))


def test_reference_time_schedule_matches_the_formula() -> None:
    n, big_t = 200, 1000
    ts = timesteps(TimeScheduleConfig(kind="reference"), n, big_t)
    for i in (0, 17, 100, 199):
        expected = ((n - i) / 3 + (n - i) / 10 * math.cos(i / 30)) / n * big_t
        assert ts[i] == round(expected)
    assert ts[0] == 433 and ts[-1] < 10


def test_power_schedule_spends_more_steps_at_low_t_than_linear() -> None:
    linear = timesteps(TimeScheduleConfig(kind="linear", t_max=400), 100, 1000)
    power = timesteps(TimeScheduleConfig(kind="power", t_max=400, power=3), 100, 1000)
    assert linear[0] == power[0] == 400
    assert sum(t < 100 for t in power) > 2 * sum(t < 100 for t in linear)
    assert all(a >= b for a, b in itertools.pairwise(power))


def test_constraint_weights_decay_linearly_or_stay() -> None:
    assert constraint_weights("linear", 4) == [1.0, 0.75, 0.5, 0.25]
    assert constraint_weights("constant", 3) == [1.0, 1.0, 1.0]


def test_objective_decreases_under_the_optimiser() -> None:
    model, schedule = tiny_denoiser(), NoiseSchedule.linear(100)
    generator = torch.Generator().manual_seed(1)
    target = torch.rand(3, 2, 8, 8, generator=generator) * 2 - 1
    init = torch.zeros_like(target)
    config = PlugAndPlayConfig(
        steps=60,
        lr=2e-2,
        time_schedule=TimeScheduleConfig(kind="linear", t_max=20),
        weight_decay="constant",
    )
    result = optimise(model, schedule, init, [target_constraint(target)], config, [1, 2, 3])
    first, last = result.loss_history[0][1], result.loss_history[-1][1]
    assert last < 0.5 * first
    assert ((result.x - target) ** 2).mean() < ((init - target) ** 2).mean()
    assert float(result.x.abs().max()) <= 1.0


def test_a_problem_does_not_depend_on_its_batch_mates() -> None:
    model, schedule = tiny_denoiser(), NoiseSchedule.linear(100)
    generator = torch.Generator().manual_seed(2)
    target = torch.rand(4, 2, 8, 8, generator=generator) * 2 - 1
    config = PlugAndPlayConfig(steps=15, lr=1e-2, refine=RefineConfig(t=10, steps=5))
    seeds = [11, 12, 13, 14]
    together = optimise(model, schedule, target * 0, [target_constraint(target)], config, seeds)
    for b in (0, 3):
        alone = optimise(
            model,
            schedule,
            target[b : b + 1] * 0,
            [target_constraint(target[b : b + 1])],
            config,
            [seeds[b]],
        )
        torch.testing.assert_close(alone.x[0], together.x[b], atol=1e-5, rtol=0)


def test_seeds_change_the_answer_and_repeat_it() -> None:
    model, schedule = tiny_denoiser(), NoiseSchedule.linear(100)
    init = torch.zeros(1, 2, 8, 8)
    config = PlugAndPlayConfig(steps=10, lr=1e-2)
    a = optimise(model, schedule, init, [], config, [5]).x
    b = optimise(model, schedule, init, [], config, [5]).x
    c = optimise(model, schedule, init, [], config, [6]).x
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_without_the_prior_only_the_constraints_move_eta() -> None:
    model, schedule = tiny_denoiser(), NoiseSchedule.linear(100)
    target = torch.full((1, 2, 8, 8), 0.5)
    config = PlugAndPlayConfig(steps=200, lr=5e-2, prior_weight=0.0, weight_decay="constant")
    result = optimise(
        model, schedule, torch.zeros_like(target), [target_constraint(target)], config, [0]
    )
    torch.testing.assert_close(result.x, target, atol=2e-2, rtol=0)


def test_bad_arguments_are_refused() -> None:
    model, schedule = tiny_denoiser(), NoiseSchedule.linear(100)
    with pytest.raises(ValueError, match="one seed per problem"):
        optimise(model, schedule, torch.zeros(2, 2, 8, 8), [], PlugAndPlayConfig(steps=1), [0])
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        optimise(model, schedule, torch.zeros(2, 8, 8), [], PlugAndPlayConfig(steps=1), [0, 1])
