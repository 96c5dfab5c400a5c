"""A region of several small imagery files: a plug-and-play step fills its batches with tiles
of several files, and each file's map is the map of that file mapped alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from affine import Affine

import geoppp.steps.mapping
from geoppp.geo.engine import BatchModel
from geoppp.landcover.synthetic import DemoRegion, make_demo_region
from geoppp.pipeline import run_pipeline
from tests.regions import copy_demo, pipeline_document, region_document, write_yaml

SIZE = 256
PART = 128  # four files of 128² px: 2 × 2 tiles of 96-pixel cores each
PARTS = {f"part-{row}-{col}": (row * PART, col * PART) for row in range(2) for col in range(2)}


def quiet(line: str) -> None:
    pass


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRegion:
    demo = make_demo_region(tmp_path_factory.mktemp("demo") / "demo", "source", SIZE)
    with rasterio.open(demo.imagery) as dataset:
        profile = dict(dataset.profile)
        for name, (row, col) in PARTS.items():
            pixels = dataset.read(window=((row, row + PART), (col, col + PART)))
            transform = dataset.transform @ Affine.translation(col, row)
            part = {**profile, "width": PART, "height": PART, "transform": transform}
            part.update(blockxsize=64, blockysize=64)
            with rasterio.open(demo.imagery.parent / f"{name}.tif", "w", **part) as out:
                out.write(pixels)
    return demo


class RecordingModel:
    """A step's model that records the number of tiles of each batch it is given."""

    def __init__(self, model: BatchModel, batches: list[int]) -> None:
        self.model = model
        self.batches = batches

    def __call__(self, arrays: dict[str, np.ndarray], valid: np.ndarray) -> np.ndarray:
        self.batches.append(len(valid))
        return self.model(arrays, valid)


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every batch size the plug-and-play models of the test are given."""
    seen: list[int] = []
    build = geoppp.steps.mapping.plug_and_play_model

    def recording(*arguments: Any, **keywords: Any) -> RecordingModel:
        return RecordingModel(build(*arguments, **keywords), seen)

    monkeypatch.setattr(geoppp.steps.mapping, "plug_and_play_model", recording)
    return seen


def map_files(folder: Path, demo: DemoRegion, names: list[str]) -> Path:
    """Map the imagery files ``names`` of ``demo`` in one plug-and-play step (batch 10)."""
    copy_demo(demo, folder / "demo")
    region = region_document()
    region["imagery"]["paths"] = [f"demo/{name}.tif" for name in names]
    # NLCD alone: a file of one quarter of the town may hold no building to refuse.
    region["weak_labels"] = region["weak_labels"][:1]
    write_yaml(folder / "region.yaml", region)
    (folder / "out").mkdir()
    pipeline = pipeline_document()
    pipeline["execution"].update(workers=1, batch_size=10)
    pipeline["steps"] = [
        {
            "name": "ppp",
            "kind": "plug_and_play",
            "prior": "demo-labels",
            "tile_size": 96,
            "halo": 16,
            "optimiser": {"steps": 3},
            "constraints": {"weak_kl": 1.0},
            "outputs": {
                "class_map": "out/{imagery}.tif",
                "probabilities": "out/{imagery}-probabilities.tif",
            },
        }
    ]
    run_pipeline(write_yaml(folder / "pipeline.yaml", pipeline), log=quiet)
    return folder / "out"


def test_batches_span_files_and_each_file_maps_as_alone(
    tmp_path: Path, demo: DemoRegion, batches: list[int]
) -> None:
    together = map_files(tmp_path / "together", demo, list(PARTS))
    assert batches == [10, 6]  # 4 files of 4 tiles, in batches of 10 that span files
    for name in PARTS:
        batches.clear()
        alone = map_files(tmp_path / name, demo, [name])
        assert batches == [4]
        with (
            rasterio.open(together / f"{name}.tif") as shared,
            rasterio.open(alone / f"{name}.tif") as own,
            rasterio.open(demo.imagery.parent / f"{name}.tif") as imagery,
        ):
            assert shared.transform == own.transform == imagery.transform
            assert shared.crs == imagery.crs
            assert (shared.read() != own.read()).mean() < 1e-4
        with (
            rasterio.open(together / f"{name}-probabilities.tif") as shared,
            rasterio.open(alone / f"{name}-probabilities.tif") as own,
        ):
            # The same seeds and data: only a batch's float sums may differ in the last bit.
            np.testing.assert_allclose(shared.read(), own.read(), atol=1e-3, equal_nan=True)
    assert not list(together.glob("*.tiles"))  # every file's tile store deleted once written
