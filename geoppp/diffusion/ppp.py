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
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor
from tqdm.auto import tqdm

from geoppp.diffusion.sampling import EpsilonModel
from geoppp.diffusion.schedule import NoiseSchedule


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


class TimeScheduleConfig(BaseModel):
    """How t_i falls over the N steps (i = 0 … N - 1), in [0, T).

    - ``reference``: the released segmentation code's wiggle,
      t_i = T · (N - i)/N · (scale + amplitude · cos(i / period)), with scale 1/3,
      amplitude 1/10, period 30 by default (t starts near 0.43 T).
      The released digits code's t_i = ((N - i) + k (N - i) cos(i / b)) / N · T with
      k = 1/4, b = 50 is this kind with scale 1, amplitude 1/4, period 50 (t is clipped to
      T - 1 while it would exceed it).
    - ``linear``: from ``t_max`` down to ``t_min``.
    - ``power``: t_min + (t_max - t_min) · ((N - i)/N)^power; power > 1 spends more steps
      at low t, where a small prior tells a sharp map from a blurry one.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["reference", "linear", "power"] = "reference"
    scale: float = Field(1 / 3, gt=0, description="reference: fraction of T at i = 0.")
    amplitude: float = Field(0.1, ge=0, description="reference: cosine wiggle, fraction of T.")
    period: float = Field(30.0, gt=0, description="reference: steps per radian of the wiggle.")
    t_max: int = Field(400, ge=0, description="linear/power: t at the first step.")
    t_min: int = Field(0, ge=0, description="linear/power: t at the last step.")
    power: float = Field(2.0, gt=0, description="power: exponent of the fall.")


class RefineConfig(BaseModel):
    """Noise the optimised η to ``t`` and run ``steps`` ancestral DDPM steps back to 0."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    t: int = Field(150, ge=1, description="Timestep to noise to (the reference: 100–200).")
    steps: int = Field(50, ge=1, description="Denoising steps back to t = 0 (respaced).")


class PlugAndPlayConfig(BaseModel):
    """The optimiser's settings (the reference segmentation run: 200–500 Adam steps, lr
    1e-3 to 5e-3, the reference t schedule, λ_i = (N - i)/N)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: int = Field(200, ge=1, description="N, Adam steps on η.")
    lr: float = Field(5e-3, gt=0, description="Adam learning rate.")
    prior_weight: float = Field(
        1.0, ge=0, description="Weight of the denoising term (0: constraints alone, no prior)."
    )
    time_schedule: TimeScheduleConfig = Field(
        TimeScheduleConfig(), description="How t falls over the steps."
    )
    weight_decay: Literal["linear", "constant"] = Field(
        "linear", description="λ_i: (N - i)/N (the reference) or 1 throughout."
    )
    clip: bool = Field(True, description="Keep η in [-1, 1], the range the prior was trained on.")
    clip_constraint_input: bool = Field(
        False,
        description="Give the constraints η clipped to [-1, 1] while η itself may leave it "
        "(the reference digits code, with clip off); the result is then clipped too.",
    )
    refine: RefineConfig | None = Field(
        None, description="Optional: noise η to t and run ancestral steps back."
    )


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
