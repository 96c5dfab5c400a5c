"""Comparison step: the class maps of earlier steps scored side by side, as JSON, Markdown and
a figure."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geoppp.atomic import write_text_atomically, written_atomically
from geoppp.config import CompareStep, MappingStepConfig, RegionConfig
from geoppp.errors import ConfigError
from geoppp.geo.output import OutputOptions, check_writable
from geoppp.geo.quicklook import codes_preview, imagery_preview
from geoppp.landcover.metrics import Scores
from geoppp.region import for_tile, rgb_bands, truth_colours
from geoppp.steps.mapping import step_outputs
from geoppp.steps.report import score_map


@dataclass(frozen=True)
class ComparisonRow:
    """One map's scores on one imagery file, or on all of them pooled."""

    step: str
    kind: str
    imagery: Path | None
    """None: the row pools every imagery file (confusions summed)."""
    class_map: Path | None
    scores: Scores


def pooled_rows(rows: Sequence[ComparisonRow]) -> list[ComparisonRow]:
    """One row per step over all its imagery files, confusions summed: a region's score
    as one map of all its files, each pixel counted once."""
    steps = dict.fromkeys((row.step, row.kind) for row in rows)
    return [
        ComparisonRow(
            step, kind, None, None, Scores.pooled([r.scores for r in rows if r.step == step])
        )
        for step, kind in steps
    ]


@dataclass(frozen=True)
class PreparedComparison:
    step: CompareStep
    compared: list[MappingStepConfig]


def prepare_comparison(
    step: CompareStep,
    mapping_steps: Sequence[MappingStepConfig],
    region: RegionConfig,
    overwrite: bool,
) -> PreparedComparison:
    """Check that there is ground truth and that the outputs can be written."""
    if region.ground_truth is None:
        raise ConfigError(
            f"step {step.name} compares maps against ground truth, but region {region.name} "
            "has none; add `ground_truth` to the region"
        )
    outputs = [step.outputs.report, step.outputs.report.with_suffix(".md")]
    if step.outputs.figure is not None:
        outputs.append(step.outputs.figure)
    for path in outputs:
        check_writable(OutputOptions(path, overwrite=overwrite or step.outputs.overwrite))
    by_name = {s.name: s for s in mapping_steps}
    return PreparedComparison(step, [by_name[name] for name in step.steps])


def run_comparison(
    prepared: PreparedComparison, region: RegionConfig, log: Callable[[str], None]
) -> list[ComparisonRow]:
    """Score every compared map of every imagery file; write the table and the figure."""
    step = prepared.step
    several = len(region.imagery.paths) > 1
    rows = []
    for imagery in region.imagery.paths:
        for compared in prepared.compared:
            class_map = step_outputs(compared.outputs, imagery, several, True).class_map.path
            if not class_map.exists():
                raise ConfigError(
                    f"step {step.name}: {class_map} of step {compared.name} is missing"
                )
            scores = score_map(region, imagery, class_map)
            rows.append(ComparisonRow(compared.name, compared.kind, imagery, class_map, scores))
    if several:
        rows.extend(pooled_rows(rows))
    write_comparison(step.outputs.report, region, rows)
    log(f"step {step.name}: {step.outputs.report} and {step.outputs.report.with_suffix('.md')}")
    log(format_table(region, rows))
    if step.outputs.figure is not None:
        write_figure(step.outputs.figure, region, rows)
        log(f"  figure {step.outputs.figure}")
    return rows


def format_table(region: RegionConfig, rows: Sequence[ComparisonRow]) -> str:
    """A Markdown table: accuracy, mIoU, per-class IoU and coverage of each map (pooled
    rows, where there are any, last)."""
    names = region.classes.names
    header = "| map | imagery | accuracy | mIoU | " + " | ".join(names) + " | coverage |"
    rule = "|" + " --- |" * (5 + len(names))
    lines = [header, rule]
    for row in rows:
        ious = " | ".join(_number(value) for value in row.scores.iou)
        imagery = "all (pooled)" if row.imagery is None else row.imagery.name
        lines.append(
            f"| {row.step} ({row.kind}) | {imagery} | {row.scores.accuracy:.3f} | "
            f"{row.scores.miou:.3f} | {ious} | {_number(row.scores.coverage)} |"
        )
    return "\n".join(lines)


def _number(value: float) -> str:
    return "–" if not np.isfinite(value) else f"{value:.3f}"


def write_comparison(path: Path, region: RegionConfig, rows: Sequence[ComparisonRow]) -> None:
    """JSON of every row (with its confusion matrix) and the Markdown table beside it."""
    names = region.classes.names
    document = {
        "region": region.name,
        "classes": list(names),
        "maps": [
            {
                "step": row.step,
                "kind": row.kind,
                "imagery": None if row.imagery is None else str(row.imagery),
                "class_map": None if row.class_map is None else str(row.class_map),
                "pixels": row.scores.pixels,
                "truth_pixels": row.scores.truth_pixels,
                "coverage": _json_number(row.scores.coverage),
                "accuracy": row.scores.accuracy,
                "miou": row.scores.miou,
                "iou": dict(zip(names, (_json_number(v) for v in row.scores.iou), strict=True)),
                "confusion": {
                    "rows": "ground truth",
                    "columns": "map",
                    "counts": [list(counts) for counts in row.scores.confusion],
                },
            }
            for row in rows
        ],
    }
    write_text_atomically(path, json.dumps(document, indent=2) + "\n")
    markdown = f"# Maps of {region.name} against ground truth\n\n{format_table(region, rows)}\n"
    write_text_atomically(path.with_suffix(".md"), markdown)


def _json_number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def write_figure(path: Path, region: RegionConfig, rows: Sequence[ComparisonRow]) -> None:
    """Per imagery file: imagery, ground truth and each map, titled with its scores."""
    # Imported here, when a figure is drawn: checking the step needs no matplotlib. A Figure
    # without pyplot draws to files only and leaves the caller's backend alone (pyplot would
    # need one chosen: a notebook's inline one, or Agg on a server).
    from matplotlib.figure import Figure

    assert region.ground_truth is not None
    imagery_files = list(dict.fromkeys(row.imagery for row in rows if row.imagery is not None))
    columns = 2 + max(sum(1 for r in rows if r.imagery == i) for i in imagery_files)
    figure = Figure(figsize=(3.2 * columns, 3.4 * len(imagery_files)))
    axes = figure.subplots(len(imagery_files), columns, squeeze=False)
    colours = truth_colours(region)
    for line, imagery in enumerate(imagery_files):
        panels = [
            ("imagery", imagery_preview(imagery, rgb_bands(region), max_size=512)),
            (
                "ground truth",
                codes_preview(
                    for_tile(region.ground_truth.path, region, imagery),
                    region.ground_truth.band,
                    colours,
                    max_size=512,
                ),
            ),
        ]
        for row in (r for r in rows if r.imagery == imagery):
            assert row.class_map is not None  # a row of one imagery file
            title = f"{row.step}\nacc {row.scores.accuracy:.3f}, mIoU {row.scores.miou:.3f}"
            panels.append((title, codes_preview(row.class_map, max_size=512)))
        for axis in axes[line]:
            axis.axis("off")
        for axis, (title, panel) in zip(axes[line], panels, strict=False):
            axis.imshow(np.moveaxis(panel, 0, -1), interpolation="nearest")
            axis.set_title(title, fontsize=9)
    figure.tight_layout()
    with written_atomically(path, ".png") as temporary:
        figure.savefig(temporary, dpi=110, bbox_inches="tight")
