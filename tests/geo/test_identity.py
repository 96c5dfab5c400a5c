"""An identity model through the tiling, blending and writing reproduces the input exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from geoppp.errors import TilingError
from geoppp.geo.grid import TileLayout
from tests.geo.helpers import run_identity
from tests.rasters import random_image, write_raster


def check_identity(
    directory: Path,
    height: int,
    width: int,
    core: int,
    halo: int,
    batch_size: int = 4,
    bands: int = 3,
    workers: int = 2,
    stripe_width: int = 8192,
) -> None:
    image = random_image(height, width, bands=bands, seed=height * 1000 + width)
    source = write_raster(directory / "image.tif", image)
    out = directory / "out.tif"
    stats, model, grid = run_identity(
        source,
        out,
        core,
        halo,
        bands=tuple(range(1, bands + 1)),
        batch_size=batch_size,
        workers=workers,
        stripe_width=stripe_width,
    )
    layout = TileLayout(grid, core, halo)
    assert stats.tiles == len(layout)
    assert stats.tiles_skipped == 0
    assert stats.blocks_written == len(layout)
    # The model always sees fixed-size windows, batched.
    for shape in model.shapes_seen:
        assert shape[1:] == (bands, layout.window_size, layout.window_size)
        assert 1 <= shape[0] <= batch_size
    # Tiles at stripe borders are predicted by both stripes, and only those.
    assert sum(shape[0] for shape in model.shapes_seen) == len(layout) + stats.tiles_recomputed
    stripes = -(-layout.shape[1] // max(1, stripe_width // core)) if halo else 1
    assert stats.tiles_recomputed <= 2 * (stripes - 1) * layout.shape[0]
    with rasterio.open(out) as dataset:
        assert (dataset.height, dataset.width, dataset.count) == (height, width, bands)
        assert dataset.dtypes == ("uint8",) * bands
        assert dataset.crs == grid.crs
        assert dataset.transform == grid.transform
        result = dataset.read()
    np.testing.assert_array_equal(result, image)


@pytest.mark.parametrize(
    ("height", "width", "core", "halo"),
    [
        (37, 53, 16, 0),  # odd sizes, hard cut
        (37, 53, 16, 5),
        (37, 53, 16, 8),  # halo == core // 2
        (37, 53, 15, 7),  # odd core, halo == core // 2
        (64, 64, 16, 8),  # exact multiple of the core
        (5, 7, 32, 8),  # raster smaller than a window in both axes
        (5, 90, 16, 4),  # smaller than a window in one axis only
        (90, 3, 16, 8),
        (12, 12, 16, 2),  # smaller than a single core
        (1, 1, 8, 4),  # a single pixel
        (40, 41, 40, 20),  # a window bigger than the raster, several tiles
    ],
)
def test_identity_reproduces_input(
    tmp_path: Path, height: int, width: int, core: int, halo: int
) -> None:
    check_identity(tmp_path, height, width, core, halo)


def test_identity_single_worker_batch_of_one(tmp_path: Path) -> None:
    check_identity(tmp_path, 29, 31, 8, 4, batch_size=1, workers=1, bands=1)


@pytest.mark.parametrize("stripe_width", [8, 16, 24, 40])
def test_identity_in_stripes(tmp_path: Path, stripe_width: int) -> None:
    """Stripes of one to several tile columns, each predicting its borders again."""
    check_identity(tmp_path, 45, 71, 8, 3, batch_size=3, stripe_width=stripe_width)


@settings(max_examples=30, deadline=None)
@given(
    height=st.integers(1, 90),
    width=st.integers(1, 90),
    core=st.integers(4, 48),
    data=st.data(),
)
def test_identity_property(
    tmp_path_factory: pytest.TempPathFactory,
    height: int,
    width: int,
    core: int,
    data: st.DataObject,
) -> None:
    halo = data.draw(st.integers(0, core // 2), label="halo")
    batch_size = data.draw(st.integers(1, 6), label="batch_size")
    stripe_width = core * data.draw(st.integers(1, 4), label="stripe_tiles")
    assume(-(-height // core) * -(-width // core) <= 200)
    check_identity(
        tmp_path_factory.mktemp("identity"),
        height,
        width,
        core,
        halo,
        batch_size,
        stripe_width=stripe_width,
    )


def test_invalid_batch_size_and_workers(tmp_path: Path) -> None:
    source = write_raster(tmp_path / "image.tif", random_image(8, 8, bands=1))
    with pytest.raises(TilingError):
        run_identity(source, tmp_path / "a.tif", 4, 0, batch_size=0)
    with pytest.raises(TilingError):
        run_identity(source, tmp_path / "b.tif", 4, 0, workers=0)
    # A refused run publishes nothing.
    assert not (tmp_path / "a.tif").exists() and not (tmp_path / "b.tif").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.tif"]
