"""`geoppp show`: a PNG preview of a region, its imagery, weak labels and labels side by side.

Everything is computed on a coarse copy of the imagery grid (at most ``max_size`` pixels a
side): the weak labels go through the same code as a full run (reprojection, co-occurrence
table, blur in ground units, vectors and masks burnt in), only on fewer pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from affine import Affine

# A Figure without pyplot draws to files only and leaves the caller's backend alone
# (pyplot would need one chosen: a notebook's inline one, or Agg on a server).
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from geoppp.atomic import written_atomically
from geoppp.config import RegionConfig, load_region
from geoppp.errors import ConfigError
from geoppp.geo.grid import Grid
from geoppp.geo.quicklook import codes_preview, imagery_preview
from geoppp.geo.raster import grid_of, require_bands
from geoppp.region import (
    for_tile,
    refuse_inputs_as_outputs,
    rgb_bands,
    truth_colours,
    weak_label_sources,
)


def coarse_grid(grid: Grid, max_size: int) -> Grid:
    """``grid`` over the same ground with at most ``max_size`` pixels a side."""
    scale = max(1.0, max(grid.width, grid.height) / max_size)
    width, height = max(1, round(grid.width / scale)), max(1, round(grid.height / scale))
    transform = grid.transform @ Affine.scale(grid.width / width, grid.height / height)
    return Grid(grid.crs, transform, width, height)


def weak_label_panel(region: RegionConfig, imagery: Path, grid: Grid) -> np.ndarray:
    """``(H, W, 3)`` uint8: the argmax of the weak labels in class colours, white unlabelled."""
    sources = weak_label_sources(region, grid, imagery)
    with sources.opened() as read:
        weak = read(grid.full_window, (grid.height, grid.width))
    palette = np.array([item.rgb for item in region.classes.classes], dtype=np.uint8)
    panel = palette[np.argmax(weak.probabilities, axis=0)]
    panel[~weak.labelled] = 255
    return panel


def write_region_preview(
    region_path: Path, out: Path, imagery_index: int = 0, max_size: int = 768
) -> Path:
    """Write a PNG of imagery, weak labels and (if any) ground truth, with a class legend."""
    region = load_region(region_path)
    if not 0 <= imagery_index < len(region.imagery.paths):
        raise ConfigError(
            f"region {region.name} has {len(region.imagery.paths)} imagery file(s); "
            f"there is no file number {imagery_index}"
        )
    refuse_inputs_as_outputs(region, [out], region_path)
    imagery = region.imagery.paths[imagery_index]
    require_bands(imagery, rgb_bands(region), "imagery")
    grid = coarse_grid(grid_of(imagery), max_size)
    panels = [
        (
            "imagery (RGB)",
            np.moveaxis(imagery_preview(imagery, rgb_bands(region), max_size), 0, -1),
        ),
        ("weak labels (argmax)", weak_label_panel(region, imagery, grid)),
    ]
    truth = region.ground_truth
    if truth is not None:
        require_bands(for_tile(truth.path, region, imagery), [truth.band], "ground truth")
        labels = codes_preview(
            for_tile(truth.path, region, imagery), truth.band, truth_colours(region), max_size
        )
        panels.append(("labels", np.moveaxis(labels, 0, -1)))

    figure = Figure(figsize=(4.2 * len(panels), 4.8))
    axes = figure.subplots(1, len(panels))
    for axis, (title, image) in zip(np.atleast_1d(axes), panels, strict=True):
        axis.imshow(image, interpolation="nearest")
        axis.set_title(title)
        axis.set_axis_off()
    legend = [
        Patch(facecolor=item.colour, edgecolor="black", label=item.name)
        for item in region.classes.classes
    ]
    legend.append(Patch(facecolor="white", edgecolor="black", label="nodata / unlabelled"))
    figure.legend(handles=legend, loc="lower center", ncol=len(legend), frameon=False)
    figure.suptitle(f"{region.name}: {imagery.name}")
    figure.tight_layout(rect=(0, 0.07, 1, 0.95))
    with written_atomically(out, ".png") as temporary:
        figure.savefig(temporary, dpi=100)
    return out
