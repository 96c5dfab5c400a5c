"""Readers, models and a runner for driving the geo engine end to end in tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from geoppp.geo.engine import RunStats, TileInputs, run_tiles
from geoppp.geo.grid import Grid, Tile, TileLayout
from geoppp.geo.output import OutputOptions, ValueOutput
from geoppp.geo.raster import grid_of, open_raster, read_window


class ImageReader:
    """Reads ``bands`` of the imagery at ``path`` for each tile's read window."""

    def __init__(self, path: Path, bands: Sequence[int], nodata: float | None = None) -> None:
        self.path = path
        self.bands = tuple(bands)
        self.nodata = nodata

    def __call__(self, tiles: Sequence[Tile]) -> list[TileInputs]:
        inputs = []
        with open_raster(self.path) as dataset:
            for tile in tiles:
                data = read_window(dataset, tile.read, self.bands, tile.padded_shape, self.nodata)
                inputs.append(TileInputs({"image": data.values}, data.valid))
        return inputs


class IdentityModel:
    """Returns the image as float32 and records every batch it is given."""

    def __init__(self) -> None:
        self.valid_seen: list[np.ndarray] = []
        self.shapes_seen: list[tuple[int, ...]] = []

    def __call__(self, arrays: dict[str, np.ndarray], valid: np.ndarray) -> np.ndarray:
        self.valid_seen.append(valid.copy())
        self.shapes_seen.append(arrays["image"].shape)
        return arrays["image"].astype(np.float32)


def run_identity(
    source: Path,
    output: Path,
    core: int,
    halo: int,
    bands: Sequence[int] = (1,),
    dtype: str = "uint8",
    nodata: float | None = None,
    batch_size: int = 4,
    workers: int = 2,
    reader_nodata: float | None = None,
    stripe_width: int = 8192,
    **options: object,
) -> tuple[RunStats, IdentityModel, Grid]:
    """Run the identity model over ``source`` and write ``output`` through ``ValueOutput``."""
    grid = grid_of(source)
    layout = TileLayout(grid, core, halo)
    model = IdentityModel()
    with ValueOutput(
        OutputOptions(output, **options),  # type: ignore[arg-type]
        grid,
        len(bands),
        dtype,
        nodata,
        block_size=max(16, core),
    ) as sink:
        stats = run_tiles(
            layout,
            ImageReader(source, bands, reader_nodata),
            model,
            [sink],
            batch_size=batch_size,
            stripe_width=stripe_width,
            workers=workers,
            progress=False,
        )
    return stats, model, grid
