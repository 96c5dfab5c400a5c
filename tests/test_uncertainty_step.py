"""The uncertainty step through the pipeline: seeded plug-and-play runs on a tiny region give
an agreement/entropy raster on the imagery grid and a report of the certainty halves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

from geoppp.errors import ConfigError
from geoppp.pipeline import run_pipeline
from tests.regions import demo_project

PLUG_AND_PLAY = {
    "name": "labels",
    "kind": "plug_and_play",
    "prior": "demo-labels",
    "tile_size": 96,
    "halo": 16,
    "device": "cpu",
    # Few steps from a noisy start: where the weak labels say little, seeds disagree.
    "optimiser": {"steps": 3, "refine": {"t": 20, "steps": 2}},
    "constraints": {"weak_kl": 0.1},
    "outputs": {"class_map": "out/labels.tif", "probabilities": "out/labels-probabilities.tif"},
}
UNCERTAINTY = {
    "name": "uncertainty",
    "kind": "uncertainty",
    "step": "labels",
    "seeds": [0, 1, 2],  # 0: the step's own run, reused
    "outputs": {"raster": "out/uncertainty.tif", "report": "out/uncertainty.json"},
}


def quiet(line: str) -> None:
    pass


def project(folder: Path, steps: list[dict[str, Any]]) -> Path:
    return demo_project(folder, size=128, domain="target", steps=steps, workers=1)


def test_uncertainty_raster_and_report(tmp_path: Path, one_thread: None) -> None:
    lines: list[str] = []
    run_pipeline(project(tmp_path, [PLUG_AND_PLAY, UNCERTAINTY]), log=lines.append)
    assert any("seed 0: " in line for line in lines), "the step's own run was not reused"
    assert sum("step labels:" in line for line in lines) == 3
    out = tmp_path / "out"
    with (
        rasterio.open(tmp_path / "demo" / "imagery.tif") as imagery,
        rasterio.open(out / "uncertainty.tif") as raster,
    ):
        assert raster.count == 2 and raster.dtypes == ("float32", "float32")
        assert raster.descriptions == ("agreement", "entropy")
        assert (raster.crs, raster.transform, raster.shape) == (
            imagery.crs,
            imagery.transform,
            imagery.shape,
        )
        agreement, entropy = raster.read()
    valid = np.isfinite(agreement)
    assert valid.mean() > 0.9
    assert ((agreement[valid] >= 1 / 3 - 1e-6) & (agreement[valid] <= 1)).all()
    assert ((entropy[valid] >= 0) & (entropy[valid] <= 1)).all()
    assert (agreement[valid] < 1).any(), "the seeds never disagree"
    # where the seeds disagree, their mean is less sure
    assert entropy[valid & (agreement < 1)].mean() > entropy[valid & (agreement == 1)].mean()
    report = json.loads((out / "uncertainty.json").read_text())
    assert report["seeds"] == [0, 1, 2]
    assert (
        report["most_certain"]["pixels"] + report["least_certain"]["pixels"]
        == (report["all"]["pixels"])
    )
    assert 0 <= report["most_certain"]["accuracy"] <= 1
    assert "most certain half" in (out / "uncertainty.md").read_text()
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "samples left behind"


def test_sampling_a_step_that_is_not_plug_and_play_is_refused(tmp_path: Path) -> None:
    weak = {"name": "weak", "kind": "weak_argmax", "outputs": {"class_map": "out/weak.tif"}}
    with pytest.raises(ConfigError, match="not a plug_and_play step"):
        run_pipeline(project(tmp_path, [weak, UNCERTAINTY | {"step": "weak"}]), log=quiet)
