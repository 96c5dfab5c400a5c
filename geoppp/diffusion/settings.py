"""The diffusion machinery's settings: pydantic models with no torch behind them, so that a
YAML file is validated (``geoppp validate``) without loading torch."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


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


class TrainingConfig(BaseModel):
    """How to train. Frozen; refuses unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: int = Field(ge=1, description="Total optimiser steps (a resumed run counts on).")
    batch_size: int = Field(8, ge=1, description="Patches per step.")
    lr: float = Field(1e-4, gt=0, description="Adam learning rate.")
    ema_decay: float = Field(0.999, ge=0, lt=1, description="Decay of the weights' EMA.")
    ema_warmup: bool = Field(True, description="Use min(decay, (1+n)/(10+n)) early on.")
    grad_clip_norm: float | None = Field(
        1.0, gt=0, description="Clip the gradient's global norm to this (as DDPM); None: off."
    )
    seed: int = Field(0, ge=0, description="Seeds every random choice of the run.")
    checkpoint_every: int = Field(
        1000, ge=0, description="Write checkpoint and resume state every N steps (0: at the end)."
    )
    log_every: int = Field(100, ge=1, description="Steps per entry of the loss history.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: CUDA when torch sees a GPU, else CPU."
    )
    bf16_autocast: bool = Field(
        False, description="Run the denoiser under bfloat16 autocast (CUDA only)."
    )
