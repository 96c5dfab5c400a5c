"""Scoring a class map against the region's ground truth, and writing the report."""

from __future__ import annotations

import json
from pathlib import Path

from geoppp.atomic import write_text_atomically
from geoppp.config import RegionConfig
from geoppp.landcover.evaluation import MapScores, evaluate_map, value_lookup
from geoppp.landcover.metrics import Scores
from geoppp.region import for_tile, truth_classes


def score_map(region: RegionConfig, imagery: Path, class_map: Path) -> MapScores:
    """Accuracy and IoU of a class map of ``imagery`` against the region's ground truth."""
    assert region.ground_truth is not None
    truth = region.ground_truth
    index_of_value = {item.value: i for i, item in enumerate(region.classes.classes)}
    return evaluate_map(
        class_map,
        for_tile(truth.path, region, imagery),
        truth.band,
        value_lookup(index_of_value),
        value_lookup(truth_classes(region)),
        len(region.classes.classes),
    )


def write_report(
    path: Path, region: RegionConfig, step: str, imagery: Path, class_map: Path, scores: Scores
) -> None:
    """The scores as JSON at ``path`` and as a Markdown table beside it."""
    names = region.classes.names
    document = {
        "region": region.name,
        "step": step,
        "imagery": str(imagery),
        "class_map": str(class_map),
        "pixels": scores.pixels,
        "accuracy": scores.accuracy,
        "miou": scores.miou,
        "iou": dict(zip(names, scores.iou, strict=True)),
    }
    if isinstance(scores, MapScores):
        document["coverage"] = {
            "truth_pixels": scores.truth_pixels,
            "map_nodata": scores.map_nodata,
            "map_unknown": scores.map_unknown,
            "truth_resampled": scores.truth_resampled,
            "truth_extent_covered": scores.truth_extent_covered,
        }
    rows = "".join(f"| {name} | {iou:.3f} |\n" for name, iou in zip(names, scores.iou, strict=True))
    markdown = (
        f"# {step} on {region.name}: {imagery.name}\n\n"
        f"accuracy **{scores.accuracy:.3f}**, mIoU **{scores.miou:.3f}** over "
        f"{scores.pixels} pixels\n\n| class | IoU |\n| --- | --- |\n{rows}"
    )
    write_text_atomically(path, json.dumps(document, indent=2) + "\n")
    write_text_atomically(path.with_suffix(".md"), markdown)


def format_coverage(scores: MapScores) -> list[str]:
    """What the scores were computed over: the pixels scored and left out, resampling, and
    how much of the ground truth the map covers."""
    lines = [
        f"  scored {100 * scores.coverage:.1f} % of the {scores.truth_pixels} map pixels "
        f"with ground truth; left out: {scores.map_nodata} nodata in the map, "
        f"{scores.map_unknown} of values outside the class scheme",
        f"  the map covers {100 * scores.truth_extent_covered:.1f} % of the ground truth's extent",
    ]
    if scores.truth_resampled:
        lines.append(
            "  the ground truth is on another grid: it was resampled (nearest) onto the map's"
        )
    return lines


def format_scores(region: RegionConfig, scores: Scores) -> str:
    per_class = ", ".join(
        f"{name} {iou:.3f}" for name, iou in zip(region.classes.names, scores.iou, strict=True)
    )
    return (
        f"  against ground truth: accuracy {scores.accuracy:.3f}, mIoU {scores.miou:.3f} "
        f"(IoU: {per_class})"
    )
