"""The evaluation table: each constraint × each method, scored by the independent judge.

Constraints (for a digit d): ``digit d``, ``symmetric``, ``digit d + symmetric``, and
``inpaint top``: the bottom half of held-out images of d is generated, the top half kept.
Methods: the plug-and-play ``geoppp``, the prior's ``unconditional`` samples (drawn once,
scored against every row), and ``constraint_only`` η without the prior.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from geoppp.diffusion.checkpoint import LoadedCheckpoint
from geoppp.diffusion.ppp import PlugAndPlayConfig
from geoppp.tasks.digits.classifier import DigitClassifier
from geoppp.tasks.digits.data import Digits
from geoppp.tasks.digits.generation import generate
from geoppp.tasks.digits.metrics import Scores, features, score
from geoppp.tasks.digits.settings import METHODS, DigitConstraintsConfig, Method


@dataclass(frozen=True)
class Cell:
    """One row of the table: a constraint, a method, its scores and wall time."""

    constraint: str
    method: Method
    scores: Scores
    seconds: float


def evaluation_constraints(digit: int) -> list[DigitConstraintsConfig]:
    """The table's rows for target digit ``digit``."""
    return [
        DigitConstraintsConfig(digit=digit),
        DigitConstraintsConfig(symmetric=True),
        DigitConstraintsConfig(digit=digit, symmetric=True),
        DigitConstraintsConfig(inpaint="top"),
    ]


def evaluate(
    prior: LoadedCheckpoint,
    classifier: DigitClassifier,
    judge: DigitClassifier,
    held_out: Digits,
    digit: int,
    samples: int,
    settings: PlugAndPlayConfig,
    seed: int = 0,
    methods: Sequence[Method] = METHODS,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> list[Cell]:
    """Generate ``samples`` digits per cell and score them.

    Args:
        prior: the DDPM prior.
        classifier: the constraint's classifier.
        judge: the independent classifier that scores.
        held_out: real digits never trained on: the inpainting sources and the Fréchet
            reference (those of ``digit`` where a row asks for a class or inpaints them,
            all of them for ``symmetric`` alone).
        digit: the target class d.
        samples: per cell; at most the held-out count of d (for inpainting).
        settings: the optimiser's (its ``steps`` also sets the unconditional sampler's).
        seed: sample b of every cell uses seed ``seed + b``.
        methods: which columns.
        progress: tqdm bars.
        log: receives one line per finished cell.
    """
    of_digit = held_out.images[held_out.labels == digit]
    if samples > len(of_digit):
        raise ValueError(
            f"inpainting uses held-out images of {digit}; there are {len(of_digit)}, "
            f"ask for at most that many samples"
        )
    seeds = [seed + b for b in range(samples)]
    reference_digit, reference_all = features(judge, of_digit), features(judge, held_out.images)
    unconditional: tuple[torch.Tensor, float] | None = None
    cells = []
    for spec in evaluation_constraints(digit):
        known = of_digit[:samples] if spec.inpaint is not None else None
        wanted = spec.digit if spec.digit is not None else (digit if known is not None else None)
        targets = torch.full((samples,), wanted) if wanted is not None else None
        reference: np.ndarray = reference_digit if wanted is not None else reference_all
        for method in methods:
            started = time.perf_counter()
            if method == "unconditional" and unconditional is not None:
                x, seconds = unconditional
            else:
                x = generate(
                    prior.model, prior.schedule, spec, seeds, settings, method, classifier,
                    known, progress,
                )  # fmt: skip
                seconds = time.perf_counter() - started
                if method == "unconditional":
                    unconditional = (x, seconds)
            cell = Cell(
                spec.describe(),
                method,
                score(judge, x, reference, targets, spec.symmetric),
                seconds,
            )
            log(format_row(cell))
            cells.append(cell)
    return cells


HEADER = (
    f"{'constraint':<22} {'method':<16} {'success':>8} {'asymmetry':>10} {'diversity':>10} "
    f"{'Fréchet':>9} {'seconds':>8}"
)


def format_row(cell: Cell) -> str:
    s = cell.scores
    return (
        f"{cell.constraint:<22} {cell.method:<16} {s.success:>8.2f} {s.asymmetry:>10.3f} "
        f"{s.diversity:>10.3f} {s.frechet:>9.1f} {cell.seconds:>8.0f}"
    )


def format_table(cells: Sequence[Cell]) -> str:
    """The cells as a fixed-width text table with a header."""
    return "\n".join([HEADER, *(format_row(cell) for cell in cells)])
