"""Label-statistics step: per coarse class code (NLCD), the mean and variance of the
high-resolution class fractions in blocks of about one coarse cell, measured on a region
that has both (Malkin et al., ICLR 2019). A plug-and-play step in another region uses them
as its `statistics` constraint."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geoppp.atomic import write_text_atomically
from geoppp.config import LabelStatisticsStep, RegionConfig, load_region
from geoppp.errors import ConfigError
from geoppp.geo.grid import TileLayout
from geoppp.geo.output import OutputOptions, check_writable
from geoppp.geo.raster import AlignedSource, grid_of, open_raster, read_aligned
from geoppp.landcover.evaluation import value_lookup
from geoppp.landcover.label_statistics import LabelStatistics, block_fractions
from geoppp.region import for_tile, truth_classes, weak_label_sources

READ_BLOCKS = 64
"""Statistics blocks a side read at once: memory follows the window, not the raster."""


@dataclass(frozen=True)
class PreparedStatistics:
    step: LabelStatisticsStep
    region: RegionConfig
    """The region measured: the step's own, or the pipeline's."""


def prepare_statistics(
    step: LabelStatisticsStep, pipeline_region: RegionConfig, overwrite: bool
) -> PreparedStatistics:
    """Check there are ground truth and a class-code raster, and the output can be written."""
    region = load_region(step.region) if step.region is not None else pipeline_region
    if list(region.classes.names) != list(pipeline_region.classes.names):
        raise ConfigError(
            f"step {step.name}: region {region.name} has classes {list(region.classes.names)} "
            f"but the pipeline's region {pipeline_region.name} has "
            f"{list(pipeline_region.classes.names)}; measure on a region of the same classes"
        )
    if region.ground_truth is None:
        raise ConfigError(
            f"step {step.name} measures label statistics, but region {region.name} has no "
            "ground_truth; measure them on a region with high-resolution labels"
        )
    if not any(
        source.kind == "nlcd" or source.kind == "class_codes" for source in region.weak_labels
    ):
        raise ConfigError(
            f"step {step.name}: region {region.name} has no `nlcd` or `class_codes` weak-label "
            "source, whose codes the statistics are measured per"
        )
    check_writable(
        OutputOptions(step.outputs.statistics, overwrite=overwrite or step.outputs.overwrite)
    )
    return PreparedStatistics(step, region)


def run_statistics(prepared: PreparedStatistics, log: Callable[[str], None]) -> LabelStatistics:
    """Measure the statistics over every imagery file of the region and write them."""
    step, region = prepared.step, prepared.region
    assert region.ground_truth is not None
    truth = region.ground_truth
    lookup = value_lookup(truth_classes(region))
    n_classes = len(region.classes.classes)
    all_codes, all_fractions = [], []
    pixel_size = None
    for imagery in region.imagery.paths:
        grid = grid_of(imagery)
        pixel_size = abs(grid.transform.a)
        cell = max(1, round(step.cell / pixel_size))
        sources = weak_label_sources(region, grid, imagery)
        truth_path = for_tile(truth.path, region, imagery)
        with sources.opened() as read_weak, open_raster(truth_path) as labels:
            for tile in TileLayout(grid, cell * READ_BLOCKS, 0):
                shape = (tile.core.height, tile.core.width)
                weak = read_weak(tile.core, shape)
                assert weak.codes is not None  # prepare checked for a code raster
                aligned = read_aligned(
                    labels,
                    grid,
                    tile.core,
                    AlignedSource(truth_path, (truth.band,), "nearest"),
                    shape,
                )
                values = np.clip(aligned.values[0].astype(np.int64), 0, len(lookup) - 1)
                classes = np.where(aligned.valid, lookup[values], -1)
                codes, fractions = block_fractions(weak.codes, classes, n_classes, cell)
                known = codes >= 0
                all_codes.append(codes[known])
                all_fractions.append(fractions[known])
    assert pixel_size is not None  # a region has at least one imagery file
    statistics = LabelStatistics.from_blocks(
        np.concatenate(all_codes), np.concatenate(all_fractions), cell, step.min_cells
    )
    document = statistics_document(statistics, region, step.cell, pixel_size)
    write_text_atomically(step.outputs.statistics, json.dumps(document, indent=2) + "\n")
    log(
        f"step {step.name}: statistics of {len(statistics.codes)} codes → {step.outputs.statistics}"
    )
    for code, mean in zip(statistics.codes, statistics.mean, strict=True):
        shares = ", ".join(
            f"{name} {share:.2f}" for name, share in zip(region.classes.names, mean, strict=True)
        )
        log(f"    code {code:>3}: {shares}")
    return statistics


def statistics_document(
    statistics: LabelStatistics, region: RegionConfig, cell_metres: float, pixel_size: float
) -> dict[str, Any]:
    return {
        "region": region.name,
        "class_names": list(region.classes.names),
        "cell_metres": statistics.cell * pixel_size,
        "asked_cell_metres": cell_metres,
        "statistics": statistics.to_dict(),
    }


@dataclass(frozen=True)
class SourceStatistics:
    """Statistics read back, with the classes and block size (m) they were measured for."""

    statistics: LabelStatistics
    class_names: tuple[str, ...]
    cell_metres: float


def read_statistics(path: Path) -> SourceStatistics:
    """Read a statistics file written by a `label_statistics` step."""
    try:
        document = json.loads(path.read_text())
        return SourceStatistics(
            LabelStatistics.from_dict(document["statistics"]),
            tuple(document["class_names"]),
            float(document["cell_metres"]),
        )
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such label-statistics file") from None
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            f"{path}: not a label-statistics file written by a label_statistics step ({error})"
        ) from None
