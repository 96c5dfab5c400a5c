"""Conditional generation of digits: plug-and-play under the prior, and the two baselines.

- ``geoppp``: η ~ N(0, I) optimised by :func:`geoppp.diffusion.ppp.optimise` against the
  prior's denoising loss plus the weighted constraints (the paper's method).
- ``unconditional``: ancestral samples of the prior, blind to the constraints.
- ``constraint_only``: the same optimisation of η with the prior's term off, which shows
  what the prior adds (constraints alone give adversarial-looking, unrealistic images).

The reference settings (Graikos et al.'s digits code) are :func:`reference_settings`:
1000 Adam steps at lr 0.01, constraint weights decaying as (N - i)/N, the wiggling t
schedule with k = 1/4 and b = 50, and the constraints fed η clipped to [-1, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from geoppp.diffusion.checkpoint import load_checkpoint
from geoppp.diffusion.ppp import (
    Constraint,
    PlugAndPlayConfig,
    TimeScheduleConfig,
    WeightedConstraint,
    optimise,
)
from geoppp.diffusion.sampling import EpsilonModel, sample
from geoppp.diffusion.schedule import NoiseSchedule
from geoppp.errors import ConfigError
from geoppp.tasks.digits.classifier import DigitClassifier, load_classifier
from geoppp.tasks.digits.constraints import ClassConstraint, InpaintingConstraint, symmetry
from geoppp.tasks.digits.data import SIZE, load_digits
from geoppp.tasks.digits.pipeline import LAYOUT
from geoppp.tasks.digits.settings import SHIPPED, DigitConstraintsConfig, Known, Method


def reference_settings(steps: int = 1000, lr: float | None = None) -> PlugAndPlayConfig:
    """The released digits code's optimiser settings, with ``steps`` = N (1000 there).

    Args:
        steps: N.
        lr: Adam's learning rate; None: 0.01 · 1000 / N, the reference's 0.01 at N = 1000.
            Adam moves each pixel by about lr a step, so fewer steps need a larger rate to
            travel as far from η ~ N(0, I) (at 50 steps and lr 0.01 η barely moves).
    """
    return PlugAndPlayConfig(
        steps=steps,
        lr=lr if lr is not None else 0.01 * 1000 / steps,
        time_schedule=TimeScheduleConfig(kind="reference", scale=1.0, amplitude=0.25, period=50),
        weight_decay="linear",
        clip=False,
        clip_constraint_input=True,
    )


def known_mask(where: Known, batch: int) -> Tensor:
    """(B, 1, 32, 32) float32: 1 on the known half."""
    mask = torch.zeros(batch, 1, SIZE, SIZE)
    half = SIZE // 2
    region = {
        "top": (slice(0, half), slice(None)),
        "bottom": (slice(half, None), slice(None)),
        "left": (slice(None), slice(0, half)),
        "right": (slice(None), slice(half, None)),
    }[where]
    mask[:, :, region[0], region[1]] = 1.0
    return mask


@dataclass(frozen=True)
class Constraints:
    """The weighted terms for a batch, and the inpainting term (to paste known pixels)."""

    terms: list[WeightedConstraint]
    inpainting: InpaintingConstraint | None


def build_constraints(
    spec: DigitConstraintsConfig,
    batch: int,
    classifier: DigitClassifier | None = None,
    known: Tensor | None = None,
) -> Constraints:
    """The terms of F for ``batch`` problems.

    Args:
        spec: which constraints and their weights.
        batch: B.
        classifier: the constraint's classifier; needed when ``spec.digit`` is set.
        known: (B, 1, 32, 32) images whose ``spec.inpaint`` half is kept; needed then.
    """
    terms: list[WeightedConstraint] = []
    if spec.digit is not None:
        if classifier is None:
            raise ValueError("a target digit needs the constraint's classifier")
        targets = torch.full((batch,), spec.digit, dtype=torch.int64)
        terms.append(
            WeightedConstraint("class", spec.class_weight, ClassConstraint(classifier, targets))
        )
    if spec.symmetric:
        term: Constraint = symmetry
        terms.append(WeightedConstraint("symmetry", spec.symmetry_weight, term))
    inpainting = None
    if spec.inpaint is not None:
        if known is None or len(known) != batch:
            raise ValueError(f"inpainting needs {batch} known images, one per sample")
        inpainting = InpaintingConstraint(known, known_mask(spec.inpaint, batch))
        terms.append(WeightedConstraint("inpainting", spec.inpainting_weight, inpainting))
    return Constraints(terms, inpainting)


def initial_eta(seeds: Sequence[int]) -> Tensor:
    """(B, 1, 32, 32) η ~ N(0, I), problem b from its own seed (a stream apart from the
    optimiser's noise, which ``seeds[b]`` itself seeds)."""
    draws = [torch.Generator().manual_seed(1_000_003 * int(seed) + 7) for seed in seeds]
    return torch.stack([torch.randn(1, SIZE, SIZE, generator=g) for g in draws])


def generate(
    model: EpsilonModel,
    schedule: NoiseSchedule,
    spec: DigitConstraintsConfig,
    seeds: Sequence[int],
    settings: PlugAndPlayConfig,
    method: Method = "geoppp",
    classifier: DigitClassifier | None = None,
    known: Tensor | None = None,
    progress: bool = False,
) -> Tensor:
    """Generate one digit per seed.

    Args:
        model: the prior's ε_θ.
        schedule: its noise schedule.
        spec: the constraints.
        seeds: one per sample; all of sample b's randomness comes from ``seeds[b]``
            (``unconditional`` draws the batch from ``seeds[0]``).
        settings: the optimiser's (see :func:`reference_settings`); ``settings.steps`` is
            also the number of ancestral steps of ``unconditional``.
        method: ``geoppp``, ``unconditional`` or ``constraint_only``.
        classifier: the constraint's classifier (for ``spec.digit``).
        known: (B, 1, 32, 32) images for ``spec.inpaint``; their known half is pasted
            into the result of the optimising methods (known pixels stay fixed).
        progress: show a tqdm bar.

    Returns:
        (B, 1, 32, 32) float32 in [-1, 1].
    """
    batch = len(seeds)
    if method == "unconditional":
        generator = torch.Generator().manual_seed(int(seeds[0]))
        return sample(model, schedule, (batch, 1, SIZE, SIZE), generator, settings.steps, progress)
    constraints = build_constraints(spec, batch, classifier, known)
    if method == "constraint_only":
        settings = settings.model_copy(update={"prior_weight": 0.0})
    result = optimise(
        model, schedule, initial_eta(seeds), constraints.terms, settings, seeds, progress
    )
    x = result.x.clamp(-1.0, 1.0)
    return constraints.inpainting.paste(x) if constraints.inpainting is not None else x


def generate_digits(
    spec: DigitConstraintsConfig,
    n: int,
    steps: int = 1000,
    lr: float | None = None,
    method: Method = "geoppp",
    seed: int = 0,
    prior: Path = SHIPPED / "prior.safetensors",
    classifier: Path = SHIPPED / "constraint.safetensors",
    progress: bool = False,
) -> Tensor:
    """Generate ``n`` digits under ``spec`` with the models at ``prior`` and ``classifier``.

    Inpainting keeps a half of held-out images: of ``spec.digit``, or of 0 … 9 in turn.

    Args:
        spec: the constraints and their weights.
        n: samples; sample b is seeded by ``seed + b``.
        steps: optimiser steps (the reference: 1000).
        lr: Adam's rate; 0.01 · 1000 / steps when None.
        method: ``geoppp``, ``unconditional`` or ``constraint_only``.
        seed: the first sample's seed.
        prior: a digits prior checkpoint.
        classifier: the constraint's classifier.
        progress: show a tqdm bar.

    Returns:
        (n, 1, 32, 32) float32 in [-1, 1].
    """
    if steps < 1 or n < 1:
        raise ConfigError(f"steps and n must be at least 1, got steps {steps}, n {n}")
    loaded = load_checkpoint(prior, expected_layout=LAYOUT)
    known = None
    if spec.inpaint is not None:
        held_out = load_digits("held_out")
        order = torch.argsort(held_out.labels, stable=True).view(10, -1).T.reshape(-1)
        pool = held_out.images[held_out.labels == spec.digit] if spec.digit is not None else (
            held_out.images[order]
        )  # fmt: skip
        known = pool[torch.arange(n) % len(pool)]
    return generate(
        loaded.model, loaded.schedule, spec, [seed + b for b in range(n)],
        reference_settings(steps, lr), method, load_classifier(classifier), known, progress,
    )  # fmt: skip
