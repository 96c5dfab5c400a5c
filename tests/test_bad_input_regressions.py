"""Regression tests for issue 18's defects 1-3, written before their fixes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from geoppp.cli import main
from geoppp.landcover.synthetic import DemoRegion, make_demo_region
from tests.rasters import write_raster
from tests.regions import copy_demo, region_document, write_yaml


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRegion:
    return make_demo_region(tmp_path_factory.mktemp("demo") / "demo", "source", 128)


def test_colour_vote_labels_every_valid_pixel_with_vector_only_weak_labels(
    tmp_path: Path, demo: DemoRegion, capsys: pytest.CaptureFixture[str]
) -> None:
    copy_demo(demo, tmp_path / "demo")
    document = region_document()
    document["weak_labels"] = document["weak_labels"][1:]  # roads and buildings only
    region = write_yaml(tmp_path / "region.yaml", document)
    out = tmp_path / "vote.tif"

    code = main(
        ["segment", str(region), "--out", str(out), "--method", "colour_vote", "--no-progress"]
    )

    assert code == 0, capsys.readouterr().err
    with rasterio.open(out) as written, rasterio.open(demo.imagery) as imagery:
        classes = written.read(1)
        valid = imagery.dataset_mask() > 0
    assert (classes[valid] > 0).all()


@pytest.mark.parametrize("victim", ["imagery.tif", "nlcd.tif", "labels.tif"])
def test_segment_refuses_to_write_over_an_input_even_with_overwrite(
    tmp_path: Path, demo: DemoRegion, capsys: pytest.CaptureFixture[str], victim: str
) -> None:
    copy_demo(demo, tmp_path / "demo")
    region = write_yaml(tmp_path / "region.yaml", region_document())
    target = tmp_path / "demo" / victim
    before = target.read_bytes()

    code = main(
        [
            "segment",
            str(region),
            "--out",
            str(target),
            "--method",
            "weak_argmax",
            "--overwrite",
            "--no-progress",
        ]
    )

    err = capsys.readouterr().err
    assert code == 2
    assert str(target) in err
    assert "input" in err
    assert target.read_bytes() == before


def write_map(
    path: Path, classes: np.ndarray, origin: tuple[float, float], pixel: float, **profile: object
) -> Path:
    transform = Affine(pixel, 0.0, origin[0], 0.0, -pixel, origin[1])
    return write_raster(path, classes, transform=transform, **profile)


def test_evaluate_refuses_a_map_that_does_not_overlap_the_truth(
    tmp_path: Path, demo: DemoRegion, capsys: pytest.CaptureFixture[str]
) -> None:
    copy_demo(demo, tmp_path / "demo")
    region = write_yaml(tmp_path / "region.yaml", region_document())
    with rasterio.open(demo.labels) as labels:
        left, top = labels.transform.c, labels.transform.f
    far = write_map(
        tmp_path / "far.tif", np.full((32, 32), 2, np.uint8), (left + 10_000, top), 1.0, nodata=0
    )

    code = main(["evaluate", str(region), str(far)])

    captured = capsys.readouterr()
    assert code == 2
    assert "nan" not in captured.out
    assert str(far) in captured.err
    assert "overlap" in captured.err


def test_evaluate_refuses_a_float_map(
    tmp_path: Path, demo: DemoRegion, capsys: pytest.CaptureFixture[str]
) -> None:
    copy_demo(demo, tmp_path / "demo")
    region = write_yaml(tmp_path / "region.yaml", region_document())
    with rasterio.open(demo.labels) as labels:
        classes = labels.read(1).astype(np.float32)
        origin, pixel = (labels.transform.c, labels.transform.f), labels.transform.a
    floats = write_map(tmp_path / "floats.tif", classes, origin, pixel)

    code = main(["evaluate", str(region), str(floats)])

    err = capsys.readouterr().err
    assert code == 2
    assert str(floats) in err
    assert "float32" in err
    assert "Traceback" not in err


def test_evaluate_reports_resampling_and_coverage(
    tmp_path: Path, demo: DemoRegion, capsys: pytest.CaptureFixture[str]
) -> None:
    copy_demo(demo, tmp_path / "demo")
    region = write_yaml(tmp_path / "region.yaml", region_document())
    with rasterio.open(demo.labels) as labels:
        coarse = labels.read(1)[::2, ::2].copy()
        origin = (labels.transform.c, labels.transform.f)
        pixel = 2 * labels.transform.a
    coarse[:, 16:] = 0  # a map of a sliver: a quarter of the ground
    sliver = write_map(tmp_path / "sliver.tif", coarse, origin, pixel, nodata=0)

    code = main(["evaluate", str(region), str(sliver)])

    out = capsys.readouterr().out
    assert code == 0
    assert "resampled" in out
    assert re.search(r"scored 2[45]\.\d % of the", out)  # a quarter; the truth has gaps
    assert "nodata" in out
