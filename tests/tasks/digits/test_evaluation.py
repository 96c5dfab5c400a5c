from __future__ import annotations

import argparse
from pathlib import Path

from geoppp.tasks.digits.cli import _spec
from geoppp.tasks.digits.data import load_digits
from geoppp.tasks.digits.evaluation import HEADER, evaluate, format_table
from geoppp.tasks.digits.generation import reference_settings


def test_evaluate_scores_every_constraint_for_each_method(  # type: ignore[no-untyped-def]
    prior, classifier, judge
) -> None:
    lines: list[str] = []
    cells = evaluate(
        prior, classifier, judge, load_digits("held_out"), digit=3, samples=2,
        settings=reference_settings(3), methods=["constraint_only"], log=lines.append,
    )  # fmt: skip
    assert [cell.constraint for cell in cells] == [
        "digit 3",
        "symmetric",
        "digit 3 + symmetric",
        "inpaint top",
    ]
    assert all(0.0 <= cell.scores.success <= 1.0 for cell in cells)
    assert all(cell.scores.diversity > 0 for cell in cells)
    table = format_table(cells).splitlines()
    assert table[0] == HEADER and len(table) == 5 and table[1:] == lines


def test_constraints_and_weights_come_from_yaml_and_flags_override(tmp_path: Path) -> None:
    yaml = tmp_path / "constraints.yaml"
    yaml.write_text("constraints: {digit: 5, symmetric: true, symmetry_weight: 0.5}\n")
    flags = dict.fromkeys(
        ["digit", "inpaint", "class_weight", "symmetry_weight", "inpainting_weight"]
    )
    spec = _spec(argparse.Namespace(constraints=yaml, symmetric=False, **flags))
    assert (spec.digit, spec.symmetric, spec.symmetry_weight) == (5, True, 0.5)
    overridden = _spec(
        argparse.Namespace(constraints=yaml, symmetric=False, **{**flags, "digit": 2})
    )
    assert overridden.digit == 2 and overridden.symmetry_weight == 0.5
