"""Scores against ground truth written by a pipeline run, and the `geoppp show` preview."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import yaml
from affine import Affine
from matplotlib.image import imread
from rasterio.crs import CRS

from geoppp.cli import main
from geoppp.errors import ConfigError
from geoppp.geo.grid import Grid
from geoppp.pipeline import check_file, run_pipeline
from geoppp.preview import coarse_grid
from tests.rasters import PITTSBURGH_UTM, UTM_17N, random_image, write_raster

X0, Y0 = PITTSBURGH_UTM
SIZE = 64
NAMES = ["water", "impervious", "barren", "trees", "grass"]  # enviroatlas-5, values 1..5
COLOURS = {"water": (0x00, 0xC5, 0xFF), "trees": (0x26, 0x73, 0x00), "grass": (0xA3, 0xFF, 0x73)}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def quiet(line: str) -> None:
    pass


def write_yaml(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def write_tile(folder: Path, tile: str, offset: int, seed: int) -> np.ndarray:
    """Imagery, weak-label codes and labels of one 64 m tile; returns the labels.

    Labels are class values (0 nodata) in vertical bands of water, trees and grass with a
    block of impervious; the weak-label codes are the labels with a fifth of pixels redrawn
    at random.
    """
    transform = Affine(1.0, 0.0, X0 + offset * SIZE, 0.0, -1.0, Y0)
    rng = np.random.default_rng(seed)
    columns = np.arange(SIZE)
    labels = np.tile(np.select([columns < 20, columns < 44], [1, 4], 5), (SIZE, 1))
    labels[40:56, 8:30] = 2
    labels[:4, :] = 0  # unlabelled strip
    codes = np.where(rng.random((SIZE, SIZE)) < 0.2, rng.choice([1, 2, 4, 5], (SIZE, SIZE)), labels)
    codes[codes == 0] = 5
    write_raster(
        folder / f"{tile}_image.tif", random_image(SIZE, SIZE, seed=seed), UTM_17N, transform
    )
    write_raster(folder / f"{tile}_codes.tif", codes.astype(np.uint8), UTM_17N, transform)
    write_raster(
        folder / f"{tile}_labels.tif", labels.astype(np.uint8), UTM_17N, transform, nodata=0
    )
    return labels


def write_project(folder: Path, tiles: int = 1, ground_truth: bool = True, **outputs: str) -> Path:
    """A region of ``tiles`` tiles and a one-step weak-argmax pipeline; returns the pipeline."""
    data = folder / "data"
    data.mkdir()
    for index in range(tiles):
        write_tile(data, "ab"[index], index, seed=index)
    region: dict[str, Any] = {
        "name": "scored",
        "imagery": {
            "paths": ["data/*_image.tif"],
            "tile_suffix": "_image",
            "bands": [1, 2, 3, 4],
            "band_names": ["red", "green", "blue", "nir"],
        },
        "classes": "enviroatlas-5",
        "weak_labels": [
            {
                "kind": "class_codes",
                "path": "data/{tile}_codes.tif",
                "table": {1: "water", 2: "impervious", 4: "trees", 5: "grass"},
            }
        ],
    }
    if ground_truth:
        region["ground_truth"] = {"path": "data/{tile}_labels.tif"}
    write_yaml(folder / "region.yaml", region)
    (folder / "out").mkdir()
    step = {
        "name": "weak-argmax",
        "kind": "weak_argmax",
        "tile_size": 32,
        "outputs": {"class_map": "out/{imagery}.tif", **outputs},
    }
    pipeline = {
        "region": "region.yaml",
        "execution": {"workers": 1, "batch_size": 4, "progress": False},
        "steps": [step],
    }
    return write_yaml(folder / "pipeline.yaml", pipeline)


def scores_from_files(class_map: Path, labels: Path) -> dict[str, Any]:
    """Accuracy and IoU computed here from the written map and the labels (same grid)."""
    with rasterio.open(class_map) as dataset:
        predicted = dataset.read(1).astype(int)
    with rasterio.open(labels) as dataset:
        truth = dataset.read(1).astype(int)
    keep = (predicted > 0) & (truth > 0)
    iou = {}
    for value, name in enumerate(NAMES, start=1):
        p, t = predicted[keep] == value, truth[keep] == value
        union = np.count_nonzero(p | t)
        iou[name] = np.count_nonzero(p & t) / union if union else math.nan
    present = [v for v in iou.values() if not math.isnan(v)]
    return {
        "pixels": int(keep.sum()),
        "accuracy": float(np.mean(predicted[keep] == truth[keep])),
        "miou": sum(present) / len(present),
        "iou": iou,
    }


def assert_report_matches(report: dict[str, Any], expected: dict[str, Any]) -> None:
    assert report["pixels"] == expected["pixels"]
    assert report["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-12)
    assert report["miou"] == pytest.approx(expected["miou"], abs=1e-12)
    assert list(report["iou"]) == NAMES
    for name in NAMES:
        if math.isnan(expected["iou"][name]):
            assert report["iou"][name] is None or math.isnan(report["iou"][name])
        else:
            assert report["iou"][name] == pytest.approx(expected["iou"][name], abs=1e-12)


# ---------------------------------------------------------------- reports


def test_a_report_scores_the_written_map_against_the_labels(tmp_path: Path) -> None:
    pipeline = write_project(tmp_path, report="out/{imagery}.json")
    lines: list[str] = []

    run_pipeline(pipeline, log=lines.append)

    report_path = tmp_path / "out" / "a_image.json"
    report = json.loads(report_path.read_text(), parse_constant=lambda name: math.nan)
    expected = scores_from_files(tmp_path / "out" / "a_image.tif", tmp_path / "data/a_labels.tif")
    assert_report_matches(report, expected)
    assert expected["pixels"] == SIZE * (SIZE - 4)  # the unlabelled strip is left out
    assert 0.75 < report["accuracy"] < 0.95  # the weak labels are a fifth wrong
    assert math.isnan(expected["iou"]["barren"])  # in neither map: NaN, out of the mean
    assert report["region"] == "scored"
    assert report["step"] == "weak-argmax"
    assert Path(report["class_map"]) == tmp_path / "out" / "a_image.tif"

    markdown = report_path.with_suffix(".md").read_text()
    assert f"accuracy **{report['accuracy']:.3f}**" in markdown
    assert f"mIoU **{report['miou']:.3f}**" in markdown
    assert f"| trees | {report['iou']['trees']:.3f} |" in markdown
    assert any("accuracy" in line and "mIoU" in line for line in lines)


def test_each_tile_is_scored_against_its_own_labels(tmp_path: Path) -> None:
    pipeline = write_project(tmp_path, tiles=2, report="out/{imagery}.json")

    run_pipeline(pipeline, log=quiet)

    for tile in "ab":
        report = json.loads(
            (tmp_path / "out" / f"{tile}_image.json").read_text(),
            parse_constant=lambda name: math.nan,
        )
        expected = scores_from_files(
            tmp_path / "out" / f"{tile}_image.tif", tmp_path / "data" / f"{tile}_labels.tif"
        )
        assert_report_matches(report, expected)
        assert report["imagery"].endswith(f"{tile}_image.tif")


def test_a_report_without_ground_truth_is_a_config_error_before_any_output(
    tmp_path: Path,
) -> None:
    pipeline = write_project(tmp_path, ground_truth=False, report="out/{imagery}.json")

    with pytest.raises(ConfigError, match=r"report.*ground_truth"):
        check_file(pipeline)
    with pytest.raises(ConfigError, match=r"region scored has no ground_truth"):
        run_pipeline(pipeline, log=quiet)

    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []


# ---------------------------------------------------------------- preview


def png_pixels(path: Path) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB of a PNG file."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    rgba = imread(path)  # floats in [0, 1] for a PNG
    return np.round(rgba[..., :3] * 255).astype(np.uint8)


def test_show_writes_a_png_of_the_region(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_project(tmp_path)
    out = tmp_path / "preview.png"

    code = main(["show", str(tmp_path / "region.yaml"), "--out", str(out), "--max-size", "48"])

    assert code == 0
    assert str(out) in capsys.readouterr().out
    pixels = png_pixels(out)
    height, width, _ = pixels.shape
    assert (height, width) == (480, 1260)  # three panels of 4.2 × 4.8 inches at 100 dpi
    colours = {tuple(int(v) for v in colour) for colour in pixels.reshape(-1, 3)}
    for name, colour in COLOURS.items():  # weak labels and labels in the scheme's colours
        assert colour in colours, name
    assert not list(tmp_path.glob(".*partial*"))


def test_show_without_ground_truth_has_two_panels(tmp_path: Path) -> None:
    write_project(tmp_path, ground_truth=False)
    out = tmp_path / "preview.png"

    assert main(["show", str(tmp_path / "region.yaml"), "--out", str(out)]) == 0

    assert png_pixels(out).shape[:2] == (480, 840)


def test_show_refuses_an_imagery_file_the_region_does_not_have(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    write_project(tmp_path)
    out = tmp_path / "preview.png"

    code = main(["show", str(tmp_path / "region.yaml"), "--out", str(out), "--imagery", "3"])

    assert code == 2
    assert "no file number 3" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("width", "height", "max_size", "expected"),
    [
        (1000, 600, 100, (100, 60)),
        (333, 1001, 250, (83, 250)),
        (40, 30, 768, (40, 30)),  # already small: unchanged
    ],
)
def test_a_coarse_grid_keeps_the_bounds_and_limits_the_size(
    width: int, height: int, max_size: int, expected: tuple[int, int]
) -> None:
    grid = Grid(CRS.from_string(UTM_17N), Affine(0.6, 0.0, X0, 0.0, -0.6, Y0), width, height)

    coarse = coarse_grid(grid, max_size)

    assert (coarse.width, coarse.height) == expected
    assert max(coarse.width, coarse.height) <= max_size
    assert coarse.crs == grid.crs
    np.testing.assert_allclose(coarse.bounds, grid.bounds, atol=1e-6)
    if (width, height) == expected:
        assert coarse == grid


def test_compare_pools_every_file_into_one_row_per_map(tmp_path: Path) -> None:
    pipeline = write_project(tmp_path, tiles=2)
    document = yaml.safe_load(pipeline.read_text())
    compare = {"name": "compare", "kind": "compare", "steps": ["weak-argmax"]}
    document["steps"].append({**compare, "outputs": {"report": "out/c.json"}})
    write_yaml(pipeline, document)

    run_pipeline(pipeline, log=quiet)

    rows = json.loads((tmp_path / "out" / "c.json").read_text())["maps"]
    files = [row for row in rows if row["imagery"] is not None]
    (pooled,) = [row for row in rows if row["imagery"] is None]
    assert len(files) == 2
    summed = np.sum([row["confusion"]["counts"] for row in files], axis=0)
    np.testing.assert_array_equal(pooled["confusion"]["counts"], summed)
    assert pooled["pixels"] == sum(row["pixels"] for row in files) == summed.sum()
    assert pooled["accuracy"] == pytest.approx(np.trace(summed) / summed.sum())
    # Every labelled pixel has a mapped class: full coverage, counted from the labels.
    labelled = 0
    for tile in "ab":
        with rasterio.open(tmp_path / "data" / f"{tile}_labels.tif") as dataset:
            labelled += int(np.count_nonzero(dataset.read(1)))
    assert pooled["truth_pixels"] == labelled
    assert pooled["coverage"] == pytest.approx(1.0)
    table = (tmp_path / "out" / "c.md").read_text()
    assert "all (pooled)" in table and "coverage" in table
