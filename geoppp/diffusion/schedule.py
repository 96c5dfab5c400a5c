"""The forward (noising) process of a DDPM: β_t, alpha_t = 1 - β_t and ᾱ_t = Π_{s≤t} alpha_s.

Timesteps are 0-based, ``t ∈ [0, T)``: ``x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε`` with
``ᾱ_t = Π_{s=0..t} (1 - β_s)``, so ``t = 0`` is already one step of noise (the DDPM paper's
t = 1). Every table is computed and held in float64 and cast only where it meets data.

Written by hand rather than taken from diffusers' ``DDPMScheduler``: that class computes
its linear betas in float32 and carries sampling state, while this is three closed forms and
a multiply-add, and a frozen value is what checkpoints and the plug-and-play optimiser need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

ScheduleKind = Literal["linear", "cosine"]


@dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """A noise schedule of ``T = num_timesteps`` steps, as float64 tensors of shape ``(T,)``.

    Build one with :meth:`linear` (the DDPM paper's) or :meth:`cosine` (Nichol & Dhariwal);
    :meth:`to_config` and :meth:`from_config` turn it into a JSON-able dict and back.
    """

    kind: ScheduleKind
    parameters: dict[str, float]
    """The arguments of the constructor that built it (beyond ``num_timesteps``)."""
    betas: Tensor
    """(T,) float64 β_t, the variance added at step t."""
    alphas: Tensor = field(init=False)
    """(T,) float64 alpha_t = 1 - β_t."""
    alphas_cumprod: Tensor = field(init=False)
    """(T,) float64 ᾱ_t = Π_{s≤t} alpha_s."""
    alphas_cumprod_prev: Tensor = field(init=False)
    """(T,) float64 ᾱ_{t-1}, with ᾱ_{-1} = 1."""
    posterior_variance: Tensor = field(init=False)
    """(T,) float64 β̃_t = β_t (1 - ᾱ_{t-1}) / (1 - ᾱ_t), the variance of q(x_{t-1} | x_t, x_0)."""

    def __post_init__(self) -> None:
        betas = self.betas
        if betas.ndim != 1 or betas.numel() < 1:
            raise ValueError(f"betas must have shape (T,) with T ≥ 1, got {tuple(betas.shape)}")
        if betas.dtype != torch.float64:
            raise ValueError(f"betas must be float64, got {betas.dtype}")
        if not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError("every beta must lie in (0, 1)")
        alphas = 1.0 - betas
        alphas_cumprod = torch.cumprod(alphas, dim=0)
        prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
        object.__setattr__(self, "alphas", alphas)
        object.__setattr__(self, "alphas_cumprod", alphas_cumprod)
        object.__setattr__(self, "alphas_cumprod_prev", prev)
        object.__setattr__(
            self, "posterior_variance", betas * (1.0 - prev) / (1.0 - alphas_cumprod)
        )

    @property
    def num_timesteps(self) -> int:
        """T, the number of noising steps."""
        return int(self.betas.numel())

    @classmethod
    def linear(
        cls, T: int = 1000, beta_start: float = 1e-4, beta_end: float = 2e-2
    ) -> NoiseSchedule:
        """β evenly spaced from ``beta_start`` (t = 0) to ``beta_end`` (t = T - 1) (Ho et al.)."""
        if T < 1:
            raise ValueError(f"a schedule needs T ≥ 1 steps, got {T}")
        if not 0 < beta_start <= beta_end < 1:
            raise ValueError(
                f"linear schedule needs 0 < beta_start ≤ beta_end < 1, "
                f"got beta_start={beta_start}, beta_end={beta_end}"
            )
        betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
        return cls("linear", {"beta_start": beta_start, "beta_end": beta_end}, betas)

    @classmethod
    def cosine(cls, T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> NoiseSchedule:
        """ᾱ_t = f(t + 1) / f(0), f(u) = cos²(π/2 · (u/T + s)/(1 + s)) (Nichol & Dhariwal).

        ``β_t = 1 - f(t + 1)/f(t)``, clipped to ``max_beta`` so the last steps stay finite.
        """
        if T < 1:
            raise ValueError(f"a schedule needs T ≥ 1 steps, got {T}")
        if s < 0 or not 0 < max_beta < 1:
            raise ValueError(
                f"cosine schedule needs s ≥ 0 and 0 < max_beta < 1, got s={s}, max_beta={max_beta}"
            )
        u = torch.arange(T + 1, dtype=torch.float64) / T
        f = torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2
        betas = (1.0 - f[1:] / f[:-1]).clamp(max=max_beta)
        return cls("cosine", {"s": s, "max_beta": max_beta}, betas)

    def add_noise(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """Sample q(x_t | x_0): ``√ᾱ_t x0 + √(1 - ᾱ_t) noise``.

        Args:
            x0: (B, ...) clean data, any float dtype and device.
            t: (B,) integer timesteps in [0, T), or a 0-d tensor for the whole batch.
            noise: ε, the same shape as ``x0``, usually N(0, I).

        Returns:
            x_t, the shape, dtype and device of ``x0``.
        """
        if noise.shape != x0.shape:
            raise ValueError(f"noise has shape {tuple(noise.shape)} but x0 has {tuple(x0.shape)}")
        signal, sigma = self.signal_and_noise_scales(t, x0)
        return signal * x0 + sigma * noise

    def signal_and_noise_scales(self, t: Tensor, like: Tensor) -> tuple[Tensor, Tensor]:
        """``(√ᾱ_t, √(1 - ᾱ_t))`` shaped to broadcast against ``like`` (B, ...).

        ``t`` is (B,) or 0-d, integer, in [0, T); the scales take ``like``'s dtype and device.
        """
        if t.dtype.is_floating_point or t.dtype == torch.bool:
            raise ValueError(f"timesteps must be an integer tensor, got {t.dtype}")
        if t.ndim > 1 or (t.ndim == 1 and t.shape[0] != like.shape[0]):
            raise ValueError(
                f"timesteps must have shape (B,) = ({like.shape[0]},) or be 0-d, "
                f"got {tuple(t.shape)}"
            )
        # One host copy: the checks and the table lookup read it, so a CUDA caller pays a
        # single sync, and the float64 table never has to live on the device.
        t_host = t.detach().cpu()
        if t_host.numel() and (int(t_host.min()) < 0 or int(t_host.max()) >= self.num_timesteps):
            raise ValueError(
                f"timesteps must lie in [0, {self.num_timesteps}), "
                f"got min {int(t_host.min())} and max {int(t_host.max())}"
            )
        abar = self.alphas_cumprod[t_host]
        shape = (-1,) + (1,) * (like.ndim - 1) if t.ndim else ()
        signal = abar.sqrt().reshape(shape).to(device=like.device, dtype=like.dtype)
        sigma = (1.0 - abar).sqrt().reshape(shape).to(device=like.device, dtype=like.dtype)
        return signal, sigma

    def to_config(self) -> dict[str, Any]:
        """A JSON-able dict that :meth:`from_config` turns back into this schedule."""
        return {"kind": self.kind, "num_timesteps": self.num_timesteps, **self.parameters}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> NoiseSchedule:
        """The schedule that :meth:`to_config` described.

        Raises:
            ValueError: the kind is unknown or the parameters do not fit it.
        """
        config = dict(config)
        kind = config.pop("kind", None)
        T = config.pop("num_timesteps", None)
        if not isinstance(T, int):
            raise ValueError(f"schedule config needs an integer 'num_timesteps', got {T!r}")
        builders = {"linear": cls.linear, "cosine": cls.cosine}
        if kind not in builders:
            raise ValueError(f"schedule kind must be one of {sorted(builders)}, got {kind!r}")
        try:
            return builders[kind](T, **config)
        except TypeError as error:
            raise ValueError(
                f"schedule config {config} does not fit kind {kind!r}: {error}"
            ) from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NoiseSchedule):
            return NotImplemented
        return self.to_config() == other.to_config() and torch.equal(self.betas, other.betas)

    __hash__ = None  # type: ignore[assignment]  # holds tensors: equal by value, not hashable
