"""The demo prior shipped inside the package: found by name, described, and sampled."""

from __future__ import annotations

from pathlib import Path

import pytest
import rasterio

from geoppp.cli import main
from geoppp.diffusion.checkpoint import load_checkpoint
from geoppp.errors import CheckpointError
from geoppp.landcover.patches import PatchLayout
from geoppp.landcover.priors import prior_path, shipped_priors
from geoppp.landcover.schemes import load_scheme


def test_the_demo_prior_ships_with_its_layout() -> None:
    assert "demo-joint" in shipped_priors()
    path = prior_path("demo-joint")
    assert path.stat().st_size < 8 * 2**20  # small enough to ship

    checkpoint = load_checkpoint(path)
    layout = PatchLayout.from_dict(checkpoint.layout)

    assert (layout.mode, layout.size, layout.gsd, layout.bands) == ("joint", 64, 4.0, (1, 2, 3, 4))
    assert layout.class_names == tuple(load_scheme("enviroatlas-5").names)
    assert checkpoint.schedule.num_timesteps == 1000
    assert checkpoint.step == 4000


def test_geoppp_sample_takes_a_shipped_prior_by_name(tmp_path: Path) -> None:
    out = tmp_path / "grid.png"
    assert main(["sample", "demo-joint", "-n", "2", "--steps", "3", "--out", str(out)]) == 0
    with rasterio.open(out) as png:
        assert png.count == 3 and png.width > png.height


def test_an_unknown_prior_lists_the_shipped_ones() -> None:
    with pytest.raises(CheckpointError, match="demo-joint"):
        prior_path("no-such-prior")
