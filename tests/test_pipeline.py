"""The step runner on a synthetic demo region: what it writes, and what it refuses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.features import rasterize
from rasterio.warp import reproject

import geoppp.steps.mapping
from geoppp.config import load_pipeline, load_region
from geoppp.errors import (
    BandError,
    ConfigError,
    GeopppError,
    MissingCRSError,
    NoOverlapError,
    OutputError,
    RasterOpenError,
    VectorOpenError,
)
from geoppp.landcover.synthetic import DemoRegion, make_demo_region
from geoppp.pipeline import Overrides, StepReport, check_file, run_pipeline
from geoppp.steps.mapping import prepare
from tests.rasters import UTM_17N, write_raster
from tests.regions import demo_project, pipeline_document, region_document, write_yaml

SIZE = 256
IMPERVIOUS = 2


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRegion:
    """A 256 m source demo region (Pittsburgh, like the table of ``region_document``), shared
    read-only by the tests of this module (they copy it)."""
    return make_demo_region(tmp_path_factory.mktemp("demo") / "demo", "source", SIZE)


@pytest.fixture(scope="module")
def reference_map(tmp_path_factory: pytest.TempPathFactory, demo: DemoRegion) -> np.ndarray:
    """The class map the pipeline writes for the intact demo region."""
    pipeline = demo_project(tmp_path_factory.mktemp("reference"), demo)
    run_pipeline(pipeline, log=lambda line: None)
    with rasterio.open(pipeline.parent / "out" / "map.tif") as dataset:
        return np.asarray(dataset.read(1))


def quiet(line: str) -> None:
    pass


def read_band(path: Path, band: int = 1) -> np.ndarray:
    with rasterio.open(path) as dataset:
        return np.asarray(dataset.read(band))


def rewrite_raster(path: Path, change: Callable[[np.ndarray, dict[str, Any]], None]) -> None:
    """Rewrite the raster at ``path`` after ``change`` edits its pixels and profile in place."""
    with rasterio.open(path) as dataset:
        pixels = dataset.read()
        profile = dict(dataset.profile)
    change(pixels, profile)
    path.unlink()
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(pixels)


def leftovers(folder: Path) -> list[str]:
    """Temporary files a run may have left anywhere under ``folder``."""
    return sorted(p.name for p in folder.rglob("*") if ".partial" in p.name or ".cog-" in p.name)


def expected_weak_argmax(demo: DemoRegion) -> tuple[np.ndarray, np.ndarray]:
    """The class map and labelled mask computed here, independently of geoppp.

    NLCD is reprojected onto the imagery grid (nearest) and mapped through the table of
    ``tests.regions.region_document``; roads (buffered 4 m) and buildings are burnt in as
    impervious.
    """
    document = region_document()
    names = [item["name"] for item in document["classes"]["classes"]]
    values = np.array([item["value"] for item in document["classes"]["classes"]])
    table = document["weak_labels"][0]["table"]
    with rasterio.open(demo.imagery) as imagery:
        crs, transform, shape = imagery.crs, imagery.transform, imagery.shape
        imagery_valid = imagery.read(1) != 0
    codes = np.zeros(shape, dtype=np.uint8)
    with rasterio.open(demo.nlcd) as nlcd:
        reproject(
            rasterio.band(nlcd, 1),
            codes,
            dst_transform=transform,
            dst_crs=crs,
            resampling=Resampling.nearest,
            src_nodata=0,
            dst_nodata=0,
        )
    probabilities = np.full((len(names), *shape), np.nan)
    for code, row in table.items():
        weights = np.array([row[name] for name in names])
        probabilities[:, codes == code] = (weights / weights.sum())[:, np.newaxis]
    roads = gpd.read_file(demo.roads).to_crs(crs).buffer(4.0)
    buildings = gpd.read_file(demo.buildings).to_crs(crs).geometry
    burnt = (
        rasterize(
            [(geometry, 1) for geometry in [*roads, *buildings]],
            out_shape=shape,
            transform=transform,
            fill=0,
            dtype="uint8",
        )
        > 0
    )
    probabilities[:, burnt] = 0.0
    probabilities[names.index("impervious"), burnt] = 1.0
    labelled = np.isfinite(probabilities).all(axis=0) & imagery_valid
    classes = values[np.argmax(np.nan_to_num(probabilities, nan=-1.0), axis=0)]
    return np.where(labelled, classes, 0).astype(np.uint8), labelled


# ---------------------------------------------------------------- what a run writes


def test_the_class_map_is_the_argmax_of_the_weak_labels(tmp_path: Path, demo: DemoRegion) -> None:
    pipeline = demo_project(tmp_path, demo)
    output = tmp_path / "out" / "map.tif"

    (report,) = run_pipeline(pipeline, log=quiet)

    assert isinstance(report, StepReport)
    assert (report.name, report.kind) == ("weak-argmax", "weak_argmax")
    (result,) = report.results
    assert result.class_map == output
    assert result.stats.tiles == (SIZE // 64) ** 2
    assert result.stats.tiles_skipped == 0
    with rasterio.open(demo.imagery) as imagery, rasterio.open(output) as written:
        assert written.crs == imagery.crs
        assert written.transform == imagery.transform
        assert written.shape == imagery.shape
        assert written.dtypes == ("uint8",)
        assert written.nodata == 0
        colours = written.colormap(1)
        class_map = written.read(1)
        imagery_nodata = imagery.read(1) == 0
    assert colours[2] == (128, 128, 128, 255)
    assert colours[1] == (0, 0, 255, 255)
    assert colours[0][3] == 0  # nodata is transparent
    assert set(np.unique(class_map)) <= {0, 1, 2, 3, 4, 5}

    expected, labelled = expected_weak_argmax(demo)
    assert imagery_nodata.any()
    assert (class_map[imagery_nodata] == 0).all()
    # Where the imagery has data, the map is nodata only where no weak label reaches.
    unlabelled = ~imagery_nodata & (class_map == 0)
    assert np.mean(unlabelled != (~imagery_nodata & ~labelled)) < 0.005
    assert unlabelled.mean() < 0.02
    mismatch = np.mean(class_map != expected)
    assert mismatch < 0.005, f"{mismatch:.2%} of pixels differ from the independent argmax"
    assert len(np.unique(expected[expected > 0])) >= 3  # the comparison is not trivial
    for name, value in (("impervious", 2), ("trees", 4), ("grass", 5)):
        assert result.class_pixels[name] == np.count_nonzero(class_map == value)
    assert sum(result.class_pixels.values()) == np.count_nonzero(class_map)


def test_probabilities_are_written_beside_the_class_map(tmp_path: Path, demo: DemoRegion) -> None:
    demo_project(tmp_path, demo)
    document = pipeline_document()
    document["steps"][0]["outputs"]["probabilities"] = "out/probabilities.tif"
    pipeline = write_yaml(tmp_path / "pipeline.yaml", document)

    (report,) = run_pipeline(pipeline, log=quiet)

    assert report.results[0].probabilities == tmp_path / "out" / "probabilities.tif"
    class_map = read_band(tmp_path / "out" / "map.tif")
    with rasterio.open(tmp_path / "out" / "probabilities.tif") as dataset:
        probabilities = dataset.read()
        assert dataset.count == 5
        assert dataset.descriptions == ("water", "impervious", "barren", "trees", "grass")
    mapped = class_map > 0
    assert np.allclose(probabilities[:, mapped].sum(axis=0), 1.0, atol=1e-5)
    assert np.isnan(probabilities[:, ~mapped]).all()
    assert (np.argmax(probabilities[:, mapped], axis=0) + 1 == class_map[mapped]).all()


def test_a_cog_class_map_keeps_its_colour_table(tmp_path: Path, demo: DemoRegion) -> None:
    demo_project(tmp_path, demo)
    document = pipeline_document()
    document["steps"][0]["outputs"].update(cog=True, overview_resampling="mode")
    pipeline = write_yaml(tmp_path / "pipeline.yaml", document)

    run_pipeline(pipeline, log=quiet)

    with rasterio.open(tmp_path / "out" / "map.tif") as dataset:
        assert dataset.colormap(1)[4] == (0, 128, 0, 255)
        assert dataset.nodata == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "map.qml",
        "map.tif",
        "map.tif.aux.xml",
    ]


def test_tiles_that_are_all_nodata_are_skipped_and_stay_nodata(
    tmp_path: Path, demo: DemoRegion, reference_map: np.ndarray
) -> None:
    pipeline = demo_project(tmp_path, demo)

    def blank_west_half(pixels: np.ndarray, profile: dict[str, Any]) -> None:
        pixels[:, :, : SIZE // 2] = 0

    rewrite_raster(tmp_path / "demo" / "imagery.tif", blank_west_half)

    (report,) = run_pipeline(pipeline, log=quiet)

    stats = report.results[0].stats
    assert stats.tiles == 16
    assert stats.tiles_skipped == 8  # the two western columns of 64-pixel tiles
    class_map = read_band(tmp_path / "out" / "map.tif")
    assert (class_map[:, : SIZE // 2] == 0).all()
    assert np.array_equal(class_map[:, SIZE // 2 :], reference_map[:, SIZE // 2 :])


def test_several_imagery_files_need_the_imagery_placeholder(
    tmp_path: Path, demo: DemoRegion, reference_map: np.ndarray
) -> None:
    demo_project(tmp_path, demo)
    with rasterio.open(demo.imagery) as dataset:
        profile = dict(dataset.profile)
        for name, rows in (("north", slice(0, 128)), ("south", slice(128, 256))):
            pixels = dataset.read(window=((rows.start, rows.stop), (0, SIZE)))
            transform = dataset.transform @ Affine.translation(0, rows.start)
            part = {**profile, "height": 128, "transform": transform, "blockysize": 64}
            with rasterio.open(tmp_path / "demo" / f"{name}.tif", "w", **part) as out:
                out.write(pixels)
    region = region_document()
    region["imagery"]["paths"] = ["demo/north.tif", "demo/south.tif"]
    write_yaml(tmp_path / "region.yaml", region)
    pipeline = tmp_path / "pipeline.yaml"

    with pytest.raises(ConfigError, match=r"\{imagery\}") as raised:
        run_pipeline(pipeline, log=quiet)
    assert str(tmp_path / "out" / "map.tif") in str(raised.value)
    assert list((tmp_path / "out").iterdir()) == []

    write_yaml(pipeline, pipeline_document(class_map="out/{imagery}-map.tif"))
    (report,) = run_pipeline(pipeline, log=quiet)

    out = tmp_path / "out"
    assert [result.class_map for result in report.results] == [
        out / "north-map.tif",
        out / "south-map.tif",
    ]
    for name, rows in (("north", slice(0, 128)), ("south", slice(128, 256))):
        with (
            rasterio.open(out / f"{name}-map.tif") as written,
            rasterio.open(tmp_path / "demo" / f"{name}.tif") as imagery,
        ):
            assert written.transform == imagery.transform
            assert written.shape == (128, SIZE)
            class_map = written.read(1)
        mismatch = np.mean(class_map != reference_map[rows])
        assert mismatch < 0.002, f"{name}: {mismatch:.2%} differ from the single-file map"


# ---------------------------------------------------------------- what a run refuses


def _missing_imagery(root: Path) -> None:
    (root / "demo" / "imagery.tif").unlink()


def _text_imagery(root: Path) -> None:
    (root / "demo" / "imagery.tif").write_text("not a raster, a note\n")


def _far_away_nlcd(root: Path) -> None:
    far = Affine(30.0, 0.0, 300_000.0, 0.0, -30.0, 3_000_000.0)  # Florida, same UTM zone
    (root / "demo" / "nlcd.tif").unlink()
    write_raster(root / "demo" / "nlcd.tif", np.full((10, 10), 41, np.uint8), UTM_17N, far, 0)


def _imagery_without_crs(root: Path) -> None:
    def drop_crs(pixels: np.ndarray, profile: dict[str, Any]) -> None:
        profile["crs"] = None

    rewrite_raster(root / "demo" / "imagery.tif", drop_crs)


def _band_five_of_four(root: Path) -> None:
    region = region_document()
    region["imagery"]["bands"] = [1, 2, 3, 5]
    write_yaml(root / "region.yaml", region)


def _missing_output_folder(root: Path) -> None:
    write_yaml(root / "pipeline.yaml", pipeline_document(class_map="out/missing/map.tif"))


def _missing_probability_folder(root: Path) -> None:
    document = pipeline_document()
    document["steps"][0]["outputs"]["probabilities"] = "elsewhere/p.tif"
    write_yaml(root / "pipeline.yaml", document)


def _missing_roads(root: Path) -> None:
    (root / "demo" / "roads.gpkg").unlink()


def _probabilities_with_two_bands(root: Path) -> None:
    write_raster(root / "demo" / "p.tif", np.full((2, 8, 8), 0.5, np.float32), UTM_17N)
    region = region_document()
    region["weak_labels"].append({"kind": "probabilities", "path": "demo/p.tif", "bands": [1, 2]})
    write_yaml(root / "region.yaml", region)


def _unknown_pipeline_key(root: Path) -> None:
    write_yaml(root / "pipeline.yaml", pipeline_document(tile_sise=128))


def _wrong_pipeline_type(root: Path) -> None:
    write_yaml(root / "pipeline.yaml", pipeline_document(tile_size="big"))


def _unknown_region_key(root: Path) -> None:
    write_yaml(root / "region.yaml", {**region_document(), "imagry": {}})


@pytest.mark.parametrize(
    ("breakage", "error", "culprit", "explanation"),
    [
        (_missing_imagery, RasterOpenError, "demo/imagery.tif", "raster not found"),
        (_text_imagery, RasterOpenError, "demo/imagery.tif", "is not a raster"),
        (_far_away_nlcd, NoOverlapError, "demo/nlcd.tif", "does not overlap the imagery"),
        (_imagery_without_crs, MissingCRSError, "demo/imagery.tif", "no coordinate reference"),
        (_band_five_of_four, BandError, "demo/imagery.tif", "[5] do not exist"),
        (_missing_output_folder, OutputError, "out/missing", "does not exist"),
        (_missing_probability_folder, OutputError, "elsewhere", "does not exist"),
        (_missing_roads, VectorOpenError, "demo/roads.gpkg", "not found"),
        (_probabilities_with_two_bands, ConfigError, "demo/p.tif", "2 bands for 5 classes"),
        (_unknown_pipeline_key, ConfigError, "pipeline.yaml", "`steps[0].tile_sise`"),
        (_wrong_pipeline_type, ConfigError, "pipeline.yaml", "found 'big'"),
        (_unknown_region_key, ConfigError, "region.yaml", "`imagry`: unknown key"),
    ],
)
def test_bad_inputs_fail_clearly_and_leave_no_output(
    tmp_path: Path,
    demo: DemoRegion,
    breakage: Callable[[Path], None],
    error: type[GeopppError],
    culprit: str,
    explanation: str,
) -> None:
    pipeline = demo_project(tmp_path, demo)
    breakage(tmp_path)

    with pytest.raises(error) as raised:
        run_pipeline(pipeline, log=quiet)

    message = str(raised.value)
    assert str(tmp_path / culprit) in message
    assert explanation in message
    assert list((tmp_path / "out").iterdir()) == []
    assert leftovers(tmp_path) == []
    # `geoppp validate` finds the same problem without running anything.
    with pytest.raises(error):
        check_file(pipeline)


def test_an_existing_output_is_refused_unless_overwriting(tmp_path: Path, demo: DemoRegion) -> None:
    pipeline = demo_project(tmp_path, demo)
    output = tmp_path / "out" / "map.tif"
    output.write_bytes(b"an older map")

    with pytest.raises(OutputError, match="already exists") as raised:
        run_pipeline(pipeline, log=quiet)
    assert str(output) in str(raised.value)
    assert "overwrite" in str(raised.value)
    assert output.read_bytes() == b"an older map"

    run_pipeline(pipeline, Overrides(overwrite=True), log=quiet)

    with rasterio.open(output) as dataset:
        assert dataset.count == 1
        assert (dataset.read(1) > 0).any()
    assert leftovers(tmp_path) == []


def test_overwrite_may_also_be_asked_in_the_pipeline(tmp_path: Path, demo: DemoRegion) -> None:
    demo_project(tmp_path, demo)
    document = pipeline_document()
    document["steps"][0]["outputs"]["overwrite"] = True
    pipeline = write_yaml(tmp_path / "pipeline.yaml", document)
    (tmp_path / "out" / "map.tif").write_bytes(b"old")

    run_pipeline(pipeline, log=quiet)

    assert read_band(tmp_path / "out" / "map.tif").shape == (SIZE, SIZE)


def test_a_failure_while_mapping_leaves_no_output(
    tmp_path: Path, demo: DemoRegion, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo_project(tmp_path, demo)
    document = pipeline_document()
    document["steps"][0]["outputs"]["probabilities"] = "out/p.tif"
    pipeline = write_yaml(tmp_path / "pipeline.yaml", document)
    calls = []

    def failing_model(arrays: dict[str, np.ndarray], valid: np.ndarray) -> np.ndarray:
        calls.append(len(valid))
        if len(calls) == 2:
            raise RuntimeError("the model fell over")
        return geoppp.landcover.mapping.weak_argmax_model(arrays, valid)

    monkeypatch.setattr(geoppp.steps.mapping, "weak_argmax_model", failing_model)

    with pytest.raises(RuntimeError, match="fell over"):
        run_pipeline(pipeline, Overrides(workers=1), log=quiet)

    assert len(calls) >= 2
    assert list((tmp_path / "out").iterdir()) == []


def test_prepare_checks_every_file_before_anything_runs(tmp_path: Path, demo: DemoRegion) -> None:
    pipeline_path = demo_project(tmp_path, demo)
    pipeline = load_pipeline(pipeline_path)
    region = load_region(pipeline.region)

    (run,) = prepare(list(pipeline.steps), region, overwrite=False)

    assert run.imagery.path == tmp_path / "demo" / "imagery.tif"
    assert run.imagery.bands == (1, 2, 3, 4)
    assert run.outputs.class_map.path == tmp_path / "out" / "map.tif"
    assert run.outputs.class_map.overwrite is False
    assert (run.grid.width, run.grid.height) == (SIZE, SIZE)
    assert (
        prepare(list(pipeline.steps), region, overwrite=True)[0].outputs.class_map.overwrite is True
    )
    assert list((tmp_path / "out").iterdir()) == []


def test_check_file_reports_what_it_checked(tmp_path: Path, demo: DemoRegion) -> None:
    pipeline = demo_project(tmp_path, demo)

    (pipeline_line,) = check_file(pipeline)
    (region_line,) = check_file(tmp_path / "region.yaml")

    assert pipeline_line.startswith(str(pipeline))
    assert "1 step(s) (weak-argmax) on region 'demo': inputs and outputs OK" in pipeline_line
    assert "region 'demo', 1 imagery file(s), 3 weak-label source(s), 5 classes" in region_line
    assert list((tmp_path / "out").iterdir()) == []
