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


@pytest.mark.parametrize(
    ("name", "mode", "gsd", "scheme", "steps"),
    [
        ("demo-joint", "joint", 4.0, "enviroatlas-5", 10000),
        ("demo-labels", "labels", 4.0, "enviroatlas-5", 6000),
        ("chesapeake-joint", "joint", 2.0, "chesapeake-4", 6000),
        ("chesapeake-labels", "labels", 2.0, "chesapeake-4", 6000),
    ],
)
def test_the_shipped_priors_carry_their_layout(
    name: str, mode: str, gsd: float, scheme: str, steps: int
) -> None:
    assert name in shipped_priors()
    path = prior_path(name)
    assert path.stat().st_size < 8 * 2**20  # small enough to ship

    checkpoint = load_checkpoint(path)
    layout = PatchLayout.from_dict(checkpoint.layout)

    assert (layout.mode, layout.size, layout.gsd) == (mode, 64, gsd)
    if mode == "joint":
        assert layout.bands == (1, 2, 3, 4) and layout.normalisation is not None
    assert layout.class_names == tuple(load_scheme(scheme).names)
    assert checkpoint.schedule.num_timesteps == 1000
    assert checkpoint.step == steps


def test_geoppp_sample_takes_a_shipped_prior_by_name(tmp_path: Path) -> None:
    out = tmp_path / "grid.png"
    assert main(["sample", "demo-joint", "-n", "2", "--steps", "3", "--out", str(out)]) == 0
    with rasterio.open(out) as png:
        assert png.count == 3 and png.width > png.height


def test_an_unknown_prior_lists_the_shipped_ones() -> None:
    with pytest.raises(CheckpointError, match="demo-joint"):
        prior_path("no-such-prior")
