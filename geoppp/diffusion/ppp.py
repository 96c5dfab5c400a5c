"""The plug-and-play optimiser of Graikos et al. (NeurIPS 2022): infer x under a frozen prior.

Minimise over a point estimate η, for a batch of independent problems at once,

    F(η) = ‖ε - ε_θ(√ᾱ_t η + √(1 - ᾱ_t) ε, t)‖² - λ_i · Σ_c w_c · log c(η)

with a fresh ε each step, the gradient taken through ε_θ, the timestep t_i annealed from
high to low (coarse to fine) and λ_i decaying over the steps. Then, optionally, refine:
noise η to a moderate t and run ancestral DDPM steps back to 0.

Each problem (a tile, a digit, a tour) draws its noise from its own generator, seeded by
the caller (a tile's position, say), and its loss is summed, not averaged, over the batch;
Adam works element by element, so a problem's answer does not depend on which others share
its batch. Knows nothing about maps: constraints are callables.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import torch
from torch import Tensor
from tqdm.auto import tqdm

from geoppp.diffusion.sampling import EpsilonModel
from geoppp.diffusion.schedule import NoiseSchedule
from geoppp.diffusion.settings import PlugAndPlayConfig, RefineConfig, TimeScheduleConfig


class Constraint(Protocol):
    """log c(x, y) for each problem of a batch: ``(B, C, H, W) -> (B,)``, higher is better.

    The side information y is bound into the callable when it is built for a batch.
    """

    def __call__(self, x: Tensor) -> Tensor: ...


@dataclass(frozen=True)
class WeightedConstraint:
    """A named constraint and its weight w_c in F."""

    name: str
    weight: float
    constraint: Constraint


@dataclass(frozen=True)
class PlugAndPlayResult:
    """What :func:`optimise` found."""

    x: Tensor
    """(B, C, H, W) float32, the optimised (and refined, if asked) η."""
    loss_history: list[tuple[int, float]]
    """(step, mean F per problem) every ``log_every`` steps."""
    latent: Tensor | None = None
    """The optimised latent when η was parametrised (see :func:`optimise`), else None."""


def timesteps(config: TimeScheduleConfig, steps: int, num_timesteps: int) -> list[int]:
    """t_i for i = 0 … steps - 1, as integers clipped to [0, T)."""
    n = steps
    values = []
    for i in range(n):
        remaining = (n - i) / n
        if config.kind == "reference":
            t = (
                num_timesteps
                * remaining
                * (config.scale + config.amplitude * math.cos(i / config.period))
            )
        elif config.kind == "linear":
            t = config.t_min + (config.t_max - config.t_min) * remaining
        else:
            t = config.t_min + (config.t_max - config.t_min) * remaining**config.power
        values.append(int(min(max(round(t), 0), num_timesteps - 1)))
    return values


def constraint_weights(kind: Literal["linear", "constant"], steps: int) -> list[float]:
    """λ_i for i = 0 … steps - 1."""
    if kind == "constant":
        return [1.0] * steps
    return [(steps - i) / steps for i in range(steps)]


def generators(seeds: Sequence[int], device: torch.device) -> list[torch.Generator]:
    """One generator per problem, seeded by the caller (a tile's position, say)."""
    made = []
    for seed in seeds:
        generator = torch.Generator(device=device)
        generator.manual_seed(int(seed))
        made.append(generator)
    return made


def per_problem_noise(like: Tensor, draws: Sequence[torch.Generator]) -> Tensor:
    """N(0, I) noise shaped like ``like``, problem b drawn from ``draws[b]`` alone."""
    return torch.stack(
        [
            torch.randn(like.shape[1:], generator=g, device=like.device, dtype=like.dtype)
            for g in draws
        ]
    )


def optimise(
    model: EpsilonModel,
    schedule: NoiseSchedule,
    init: Tensor,
    constraints: Sequence[WeightedConstraint],
    config: PlugAndPlayConfig,
    seeds: Sequence[int],
    progress: bool = False,
    log_every: int = 50,
    parametrisation: Callable[[Tensor], Tensor] | None = None,
) -> PlugAndPlayResult:
    """Minimise F(η) for a batch of problems, then refine if the config asks.

    Args:
        model: ε_θ, frozen; it runs where ``init`` is (CUDA when the caller put it there).
        schedule: the schedule the model was trained with.
        init: (B, C, H, W) η at step 0 (e.g. the weak-label prior in the model's encoding).
        constraints: terms of F, each giving log c per problem, weighted.
        config: steps, learning rate, t and λ schedules, refinement.
        seeds: one per problem; all of problem b's randomness comes from ``seeds[b]``.
        progress: show a tqdm bar.
        log_every: steps per entry of the loss history.
        parametrisation: optimise a latent z instead of η itself, with η = parametrisation(z)
            differentiable in z: ``init`` is then z at step 0, (B, ...) of any shape, and
            ``config.clip`` must be off (the parametrisation keeps η in range). The TSP task
            parametrises η as the image of a row-softmax adjacency matrix.

    Returns:
        the optimised η, the loss history and, with a parametrisation, the latent.
    """
    if parametrisation is None and init.ndim != 4:
        raise ValueError(f"init must be (B, C, H, W), got {tuple(init.shape)}")
    if parametrisation is not None and config.clip:
        raise ValueError(
            "clip keeps η in [-1, 1] by clamping the optimised variable, which is a latent "
            "when a parametrisation is given; turn clip off and bound η in the parametrisation"
        )
    if len(seeds) != init.shape[0]:
        raise ValueError(f"need one seed per problem: {len(seeds)} seeds, {init.shape[0]} problems")
    device = init.device
    draws = generators(seeds, device)
    variable = init.detach().clone().float().requires_grad_(True)
    optimiser = torch.optim.Adam([variable], lr=config.lr)
    ts = timesteps(config.time_schedule, config.steps, schedule.num_timesteps)
    lambdas = constraint_weights(config.weight_decay, config.steps)
    abar = schedule.alphas_cumprod
    module = model if isinstance(model, torch.nn.Module) else None
    if module is not None:
        module.eval()
    history: list[tuple[int, float]] = []
    batch = init.shape[0]
    steps = tqdm(
        range(config.steps),
        disable=not progress,
        desc=f"plug-and-play, {init.shape[0]} tiles",
        unit="step",
        leave=False,
    )
    for i in steps:
        t = ts[i]
        eta = variable if parametrisation is None else parametrisation(variable)
        loss = eta.new_zeros(())
        if config.prior_weight > 0:
            noise = per_problem_noise(eta, draws)
            signal, sigma = math.sqrt(float(abar[t])), math.sqrt(1.0 - float(abar[t]))
            predicted = model(signal * eta + sigma * noise, torch.full((batch,), t, device=device))
            # Per-problem mean, summed over problems: a problem's gradient ignores the rest.
            denoising = ((predicted.float() - noise) ** 2).flatten(1).mean(1)
            loss = loss + config.prior_weight * denoising.sum()
        constrained = eta.clamp(-1.0, 1.0) if config.clip_constraint_input else eta
        for term in constraints:
            if term.weight:
                loss = loss - lambdas[i] * term.weight * term.constraint(constrained).sum()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if config.clip:
            with torch.no_grad():
                variable.clamp_(-1.0, 1.0)
        if i % log_every == 0 or i == config.steps - 1:
            history.append((i, float(loss.detach()) / batch))
    latent = None
    if parametrisation is None:
        x = variable.detach()
    else:
        latent = variable.detach()
        with torch.no_grad():
            x = parametrisation(latent)
    if config.clip_constraint_input:
        x = x.clamp(-1.0, 1.0)
    if config.refine is not None:
        x = refine(model, schedule, x, config.refine, draws)
        if config.clip or config.clip_constraint_input:
            x = x.clamp(-1.0, 1.0)
    return PlugAndPlayResult(x, history, latent)


@torch.no_grad()
def refine(
    model: EpsilonModel,
    schedule: NoiseSchedule,
    x0: Tensor,
    config: RefineConfig,
    draws: Sequence[torch.Generator],
) -> Tensor:
    """Noise ``x0`` to ``config.t`` and run ancestral steps back (respaced to ``config.steps``).

    Each step predicts x̂_0, clips it to [-1, 1], and draws from q(x_{t'} | x_t, x̂_0) with
    the β̃ variance, as :func:`geoppp.diffusion.sampling.sample` does; noise per problem.
    """
    t_start = min(config.t, schedule.num_timesteps - 1)
    count = min(config.steps, t_start + 1)
    visited = torch.linspace(t_start, 0, count, dtype=torch.float64).round().long().unique()
    visited = visited.flip(0)  # decreasing: t_start … 0
    abar = schedule.alphas_cumprod
    x = schedule.add_noise(x0, torch.tensor(t_start), per_problem_noise(x0, draws))
    batch = x0.shape[0]
    estimate = x0
    for index, t in enumerate(visited.tolist()):
        abar_t = float(abar[t])
        t_next = int(visited[index + 1]) if index + 1 < len(visited) else -1
        abar_next = float(abar[t_next]) if t_next >= 0 else 1.0
        eps = model(x, torch.full((batch,), t, device=x.device)).float()
        estimate = ((x - math.sqrt(1 - abar_t) * eps) / math.sqrt(abar_t)).clamp(-1, 1)
        if t_next < 0:
            break
        beta = 1 - abar_t / abar_next
        mean = (
            beta * math.sqrt(abar_next) / (1 - abar_t) * estimate
            + (1 - abar_next) * math.sqrt(1 - beta) / (1 - abar_t) * x
        )
        variance = beta * (1 - abar_next) / (1 - abar_t)
        x = mean + math.sqrt(variance) * per_problem_noise(x, draws)
    return estimate
