"""``geoppp digits generate`` and ``geoppp digits eval``: the digits task's command line."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from geoppp.errors import ConfigError, OutputError
from geoppp.tasks.digits.settings import METHODS, SHIPPED, ConstraintsFile, DigitConstraintsConfig

if TYPE_CHECKING:
    from geoppp.diffusion.checkpoint import LoadedCheckpoint
    from geoppp.tasks.digits.classifier import DigitClassifier

# The commands import torch and the task's modules when they run, so that building the
# command line (`geoppp --help`, every other command) does not load them.


def add_commands(commands: Any) -> None:
    """Add ``digits generate`` and ``digits eval`` to argparse's subparsers ``commands``."""
    digits = commands.add_parser("digits", help="the digits reference task")
    actions = digits.add_subparsers(required=True, metavar="ACTION")

    make = actions.add_parser("generate", help="generate digits under constraints, as a PNG grid")
    make.add_argument("--digit", type=int, choices=range(10), help="target class")
    make.add_argument("--symmetric", action="store_true", help="left-right symmetry")
    make.add_argument(
        "--inpaint",
        choices=["top", "bottom", "left", "right"],
        help="keep this half of held-out images of --digit (or of 0 … 9 in turn)",
    )
    make.add_argument(
        "--constraints",
        type=Path,
        help="YAML with a `constraints:` mapping (digit, symmetric, inpaint, *_weight); "
        "flags given on the command line take precedence",
    )
    make.add_argument("--class-weight", type=float, help="weight of log p(digit | x)")
    make.add_argument("--symmetry-weight", type=float, help="weight of the symmetry term")
    make.add_argument("--inpainting-weight", type=float, help="weight of the inpainting term")
    make.add_argument(
        "--method", choices=METHODS, default="geoppp", help="plug-and-play or a baseline"
    )
    make.add_argument("-n", "--samples", type=int, default=16, help="digits to generate")
    make.add_argument("--out", type=Path, required=True, help="PNG file of the grid")
    make.add_argument("--overwrite", action="store_true", help="replace an existing PNG")
    _add_common(make)
    make.set_defaults(handler=_generate)

    score = actions.add_parser(
        "eval", help="score each constraint × method with the independent judge; print a table"
    )
    score.add_argument("--digit", type=int, choices=range(10), default=3, help="target class")
    score.add_argument("-n", "--samples", type=int, default=16, help="samples per cell")
    score.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    _add_common(score)
    score.set_defaults(handler=_evaluate)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=int, default=200, help="N, optimiser steps (ref. 1000)")
    parser.add_argument("--lr", type=float, help="Adam's rate (default 0.01 · 1000 / steps)")
    parser.add_argument("--seed", type=int, default=0, help="sample b uses seed SEED + b")
    parser.add_argument("--prior", type=Path, default=SHIPPED / "prior.safetensors")
    parser.add_argument(
        "--classifier", type=Path, default=SHIPPED / "constraint.safetensors",
        help="the constraint's classifier",
    )  # fmt: skip
    parser.add_argument("--judge", type=Path, default=SHIPPED / "judge.safetensors")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _models(arguments: argparse.Namespace) -> tuple[LoadedCheckpoint, DigitClassifier]:
    import torch

    from geoppp.diffusion.checkpoint import load_checkpoint
    from geoppp.tasks.digits.classifier import load_classifier
    from geoppp.tasks.digits.pipeline import LAYOUT

    torch.set_num_threads(arguments.threads)
    if arguments.steps < 1:
        raise ConfigError(f"--steps must be at least 1, got {arguments.steps}")
    prior = load_checkpoint(arguments.prior, expected_layout=LAYOUT)
    return prior, load_classifier(arguments.classifier)


def _spec(arguments: argparse.Namespace) -> DigitConstraintsConfig:
    from geoppp.config import load

    base: dict[str, Any] = {}
    if arguments.constraints is not None:
        base = load(arguments.constraints, ConstraintsFile).constraints.model_dump()
    flags = {
        "digit": arguments.digit,
        "symmetric": True if arguments.symmetric else None,
        "inpaint": arguments.inpaint,
        "class_weight": arguments.class_weight,
        "symmetry_weight": arguments.symmetry_weight,
        "inpainting_weight": arguments.inpainting_weight,
    }
    merged = {**base, **{k: v for k, v in flags.items() if v is not None}}
    try:
        return DigitConstraintsConfig.model_validate(merged)
    except ValidationError as error:
        problems = "; ".join(
            ".".join(str(part) for part in e["loc"]) + (": " if e["loc"] else "")
            + e["msg"].removeprefix("Value error, ")
            for e in error.errors()
        )  # fmt: skip
        raise ConfigError(
            f"digits generate: {problems}; give --digit, --symmetric or --inpaint (or a "
            "--constraints YAML)"
        ) from None


def _generate(arguments: argparse.Namespace) -> int:
    import torch
    from torchvision.utils import save_image

    from geoppp.tasks.digits.generation import generate_digits

    out: Path = arguments.out
    if not out.parent.is_dir():
        raise OutputError(f"folder {out.parent} of --out {out} does not exist; create it")
    if out.exists() and not arguments.overwrite:
        raise OutputError(f"{out} exists; pass --overwrite to replace it")
    if arguments.samples < 1:
        raise ConfigError(f"-n must be at least 1, got {arguments.samples}")
    spec = _spec(arguments)
    torch.set_num_threads(arguments.threads)
    print(f"generating {arguments.samples} digits ({spec.describe()}) by {arguments.method}")
    x = generate_digits(
        spec, arguments.samples, arguments.steps, arguments.lr, arguments.method,
        arguments.seed, arguments.prior, arguments.classifier, not arguments.no_progress,
    )  # fmt: skip
    rows = math.ceil(math.sqrt(arguments.samples))
    save_image((x + 1) / 2, out, nrow=rows, padding=2, pad_value=0.5)
    print(f"wrote {out}")
    return 0


def _evaluate(arguments: argparse.Namespace) -> int:
    from geoppp.tasks.digits.classifier import load_classifier
    from geoppp.tasks.digits.data import load_digits
    from geoppp.tasks.digits.evaluation import HEADER, evaluate, format_table
    from geoppp.tasks.digits.generation import reference_settings

    prior, classifier = _models(arguments)
    judge = load_classifier(arguments.judge)
    print(
        f"prior step {prior.step}; {arguments.samples} samples per cell, {arguments.steps} "
        f"steps, digit {arguments.digit}; scored by the judge {arguments.judge.name}"
    )
    print(HEADER)
    cells = evaluate(
        prior, classifier, judge, load_digits("held_out"), arguments.digit,
        arguments.samples, reference_settings(arguments.steps, arguments.lr),
        arguments.seed, arguments.methods, progress=not arguments.no_progress,
        log=lambda line: print(line, flush=True),
    )  # fmt: skip
    print()
    print(format_table(cells))
    return 0
