"""Bad input and interrupted runs, as a new user meets them (issue 18).

One parametrised test per class of bad input. Each asserts the exit code, a
`geoppp: error:` that names the file or field and says what to do, no traceback, and no file
under any final output name. The rasters with the traits of real ones (alpha band, uint16,
a custom WKT CRS, 15 cm and 300 m pixels, nodata=0) are written here by script.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import CRS
from rasterio.enums import ColorInterp
from shapely.geometry import box

from geoppp.cli import main
from geoppp.landcover.synthetic import DemoRegion, make_demo_region
from tests.rasters import CONUS_ALBERS, UTM_17N, write_raster
from tests.regions import REPOSITORY, demo_project, pipeline_document, region_document, write_yaml

Result = tuple[int, str, str]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRegion:
    return make_demo_region(tmp_path_factory.mktemp("demo") / "demo", "source", 128)


def geoppp(capsys: pytest.CaptureFixture[str], *arguments: object) -> Result:
    """Run the `geoppp` command in-process: exit code, stdout, stderr."""
    code = main([str(argument) for argument in arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_refused(
    result: Result, *names: object, advice: str, outputs: tuple[Path, ...] = ()
) -> None:
    """Exit 2, a `geoppp: error:` naming ``names`` and giving ``advice``, no traceback, and
    nothing under ``outputs``' names (nor their temporary files)."""
    code, _, err = result
    assert code == 2, err
    assert err.startswith("geoppp: error: "), err
    assert "Traceback" not in err
    for name in names:
        assert str(name) in err, err
    assert advice in err, err
    for output in outputs:
        assert not output.exists(), output
        assert not list(output.parent.glob(f".{output.name}.partial-*"))


def no_leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if ".partial-" in path.name)


def copy_raster(path: Path, **changes: object) -> None:
    """Rewrite ``path`` in place (uncompressed, stripped: its header first) with ``changes``
    to its profile, e.g. ``crs=None``; ``bands`` keeps only the first bands."""
    with rasterio.open(path) as dataset:
        values = dataset.read()
        profile = {"crs": dataset.crs, "transform": dataset.transform, "nodata": dataset.nodata}
    keep = int(changes.pop("bands", len(values)))  # type: ignore[call-overload]
    profile.update(changes)
    write_raster(path, values[:keep], **profile)  # type: ignore[arg-type]


def truncate(path: Path) -> None:
    """Cut the file to two thirds, as an interrupted copy or download does, header intact."""
    copy_raster(path)
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size * 2 // 3)


# --- bad YAML ----------------------------------------------------------------------------

BAD_YAML: dict[str, tuple[bytes, str]] = {
    "syntax": (b"name: demo\nimagery: [\n", "not valid YAML"),
    "not-utf8": ("name: caf\u00e9\n".encode("latin-1"), "save the file as UTF-8"),
    "unknown-key": (b"name: demo\nimagry: {}\n", "unknown key"),
    "a-list": (b"- name: demo\n", "expected a mapping"),
    "empty": (b"", "expected a mapping"),
}


@pytest.mark.parametrize("case", sorted(BAD_YAML))
def test_a_bad_region_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    content, advice = BAD_YAML[case]
    region = tmp_path / "region.yaml"
    region.write_bytes(content)
    out = tmp_path / "map.tif"

    assert_refused(geoppp(capsys, "validate", region), region, advice=advice)
    assert_refused(
        geoppp(capsys, "segment", region, "--out", out, "--method", "weak_argmax"),
        region,
        advice=advice,
        outputs=(out,),
    )


def test_a_missing_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere.yaml"
    assert_refused(geoppp(capsys, "validate", missing), missing, advice="no such file")


# --- bad rasters -------------------------------------------------------------------------


def _far_away_nlcd(demo: Path) -> Path:
    with rasterio.open(demo / "nlcd.tif") as dataset:
        moved = dataset.transform @ Affine.translation(0, 100_000)
    copy_raster(demo / "nlcd.tif", transform=moved)
    return demo / "nlcd.tif"


def _text_imagery(demo: Path) -> Path:
    (demo / "imagery.tif").write_text("these are my notes, not a GeoTIFF\n")
    return demo / "imagery.tif"


def _missing_imagery(demo: Path) -> Path:
    (demo / "imagery.tif").unlink()
    return demo / "imagery.tif"


def _changed(name: str, **changes: object) -> Callable[[Path], Path]:
    def change(demo: Path) -> Path:
        copy_raster(demo / name, **changes)
        return demo / name

    return change


def _truncated(name: str) -> Callable[[Path], Path]:
    def change(demo: Path) -> Path:
        truncate(demo / name)
        return demo / name

    return change


BAD_RASTERS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "truncated-imagery": (_truncated("imagery.tif"), "truncated or damaged"),
    "truncated-nlcd": (_truncated("nlcd.tif"), "truncated or damaged"),
    "text-as-imagery": (_text_imagery, "not a raster GDAL can read"),
    "missing-imagery": (_missing_imagery, "not found"),
    "imagery-without-crs": (_changed("imagery.tif", crs=None), "assign one"),
    # `show` draws red, green and blue only: a missing fourth band does not stop it.
    "imagery-of-3-bands": (_changed("imagery.tif", bands=3), "do not exist"),
    "nlcd-far-away": (_far_away_nlcd, "Check the CRS stored in the file"),
}


@pytest.mark.parametrize("case", sorted(BAD_RASTERS))
def test_a_bad_raster(
    tmp_path: Path, demo: DemoRegion, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    demo_project(tmp_path, demo)
    spoil, advice = BAD_RASTERS[case]
    bad = spoil(tmp_path / "demo")
    region, out = tmp_path / "region.yaml", tmp_path / "out"

    assert_refused(geoppp(capsys, "validate", region), bad, advice=advice)
    for method in ("weak_argmax", "colour_vote"):
        map_path = out / f"{method}.tif"
        result = geoppp(
            capsys, "segment", region, "--out", map_path, "--method", method, "--no-progress"
        )
        assert_refused(result, bad, advice=advice, outputs=(map_path,))
    if case != "imagery-of-3-bands":
        preview = out / "preview.png"
        assert_refused(geoppp(capsys, "show", region, "--out", preview), bad, advice=advice)
        assert not preview.exists()
    assert no_leftovers(out) == []


# --- outputs that would destroy an input --------------------------------------------------

VICTIMS = ("imagery.tif", "nlcd.tif", "labels.tif", "roads.gpkg", "../region.yaml")


@pytest.mark.parametrize("victim", VICTIMS)
def test_an_output_that_is_an_input(
    tmp_path: Path, demo: DemoRegion, capsys: pytest.CaptureFixture[str], victim: str
) -> None:
    pipeline = demo_project(tmp_path, demo)
    target = (tmp_path / "demo" / victim).resolve()
    before = target.read_bytes()
    region = tmp_path / "region.yaml"
    document = pipeline_document(class_map=str(target))
    document["steps"][0]["outputs"]["overwrite"] = True
    write_yaml(pipeline, document)

    for command in (
        ("segment", region, "--out", target, "--method", "weak_argmax", "--overwrite"),
        ("run", pipeline, "--overwrite", "--no-progress"),
        ("validate", pipeline, "--overwrite"),
        ("show", region, "--out", target),
    ):
        assert_refused(geoppp(capsys, *command), target, advice="write the output to another")
    assert target.read_bytes() == before


# --- outputs that cannot be written ------------------------------------------------------


def test_an_output_folder_that_does_not_exist(
    tmp_path: Path, demo: DemoRegion, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline = demo_project(tmp_path, demo)
    write_yaml(pipeline, pipeline_document(class_map="nowhere/map.tif"))
    for command in ("validate", "run"):
        assert_refused(
            geoppp(capsys, command, pipeline),
            tmp_path / "nowhere",
            advice="create it or point the output elsewhere",
            outputs=(),
        )
    assert not (tmp_path / "nowhere").exists()


def test_an_existing_output_without_overwrite(
    tmp_path: Path, demo: DemoRegion, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline = demo_project(tmp_path, demo)
    existing = tmp_path / "out" / "map.tif"
    existing.write_bytes(b"an earlier map")
    for command in ("validate", "run"):
        assert_refused(geoppp(capsys, command, pipeline), existing, advice="--overwrite")
    assert existing.read_bytes() == b"an earlier map"


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path / "locked"``, unwritable: by its mode, or for root (whom modes do not
    stop) by the immutable attribute; skips where neither works."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    immutable = False
    if os.access(folder, os.W_OK):
        immutable = (
            subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
        )
    try:
        probe = folder / "probe"
        try:
            probe.touch()
        except OSError:
            yield folder
        else:
            probe.unlink()
            pytest.skip("cannot make a folder unwritable here")
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def test_an_output_folder_that_is_not_writable(
    tmp_path: Path, demo: DemoRegion, capsys: pytest.CaptureFixture[str], read_only_folder: Path
) -> None:
    pipeline = demo_project(tmp_path, demo)
    write_yaml(pipeline, pipeline_document(class_map="locked/map.tif"))
    for command in ("validate", "run"):
        assert_refused(
            geoppp(capsys, command, pipeline),
            read_only_folder,
            advice="change its permissions or point the output elsewhere",
        )
    assert list(read_only_folder.iterdir()) == []


# --- evaluate on maps it cannot score ----------------------------------------------------


def _write_map(path: Path, like: Path, dtype: str = "uint8", shift: float = 0.0) -> Path:
    with rasterio.open(like) as dataset:
        values = dataset.read(1).astype(dtype)
        transform = dataset.transform @ Affine.translation(shift, 0)
        crs = dataset.crs
    return write_raster(path, values, crs=str(crs), transform=transform, nodata=0)


def _all_nodata_map(path: Path, labels: Path) -> Path:
    _write_map(path, labels)
    with rasterio.open(path, "r+") as dataset:
        dataset.write(np.zeros((1, dataset.height, dataset.width), np.uint8))
    return path


def _text_map(path: Path, labels: Path) -> Path:
    path.write_text("no map here")
    return path


BAD_MAPS: dict[str, tuple[Callable[[Path, Path], Path], str]] = {
    "float32": (lambda out, labels: _write_map(out, labels, "float32"), "convert it"),
    "int16": (lambda out, labels: _write_map(out, labels, "int16"), "convert it"),
    "far-away": (
        lambda out, labels: _write_map(out, labels, shift=50_000),
        "Check the CRS stored in the file",
    ),
    "all-nodata": (_all_nodata_map, "Check that the map is of this region"),
    "not-a-raster": (_text_map, "not a raster GDAL can read"),
}


@pytest.mark.parametrize("case", sorted(BAD_MAPS))
def test_evaluate_a_map_it_cannot_score(
    tmp_path: Path, demo: DemoRegion, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    demo_project(tmp_path, demo)
    write, advice = BAD_MAPS[case]
    class_map = write(tmp_path / "out" / "map.tif", tmp_path / "demo" / "labels.tif")
    result = geoppp(capsys, "evaluate", tmp_path / "region.yaml", class_map)
    assert_refused(result, class_map, advice=advice)
    assert "nan" not in result[1]


# --- bad vectors -------------------------------------------------------------------------


def _projected_geojson_without_crs(demo: Path) -> Path:
    roads = gpd.read_file(demo / "roads.gpkg").to_crs("EPSG:32617")
    document = json.loads(roads.to_json())
    document.pop("crs", None)
    path = demo / "roads.gpkg"
    path.unlink()
    path = demo / "roads.geojson"
    path.write_text(json.dumps(document))
    return path


def _far_away_roads(demo: Path) -> Path:
    roads = gpd.read_file(demo / "roads.gpkg").to_crs("EPSG:32617")
    roads.geometry = roads.geometry.translate(50_000, 0)
    roads.to_file(demo / "roads.gpkg")
    return demo / "roads.gpkg"


def _text_roads(demo: Path) -> Path:
    (demo / "roads.gpkg").write_text("not a GeoPackage")
    return demo / "roads.gpkg"


BAD_VECTORS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "projected-geojson-without-crs": (_projected_geojson_without_crs, "`crs` member"),
    "far-away": (_far_away_roads, "check the CRS stored in the file"),
    "not-a-vector": (_text_roads, "is not a vector layer"),
}


@pytest.mark.parametrize("case", sorted(BAD_VECTORS))
def test_a_bad_vector_layer(
    tmp_path: Path, demo: DemoRegion, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    demo_project(tmp_path, demo)
    spoil, advice = BAD_VECTORS[case]
    bad = spoil(tmp_path / "demo")
    region = tmp_path / "region.yaml"
    text = region.read_text().replace("demo/roads.gpkg", f"demo/{bad.name}")
    region.write_text(text)
    out = tmp_path / "out" / "map.tif"

    result = geoppp(capsys, "validate", region)
    assert_refused(result, bad, advice=advice)
    assert "np.float64" not in result[2] and "inf" not in result[2].split()
    result = geoppp(capsys, "segment", region, "--out", out, "--method", "weak_argmax")
    assert_refused(result, bad, advice=advice, outputs=(out,))


# --- rasters with the traits of real ones ------------------------------------------------

SIDE = 48
LAEA_WKT = CRS.from_proj4(
    "+proj=laea +lat_0=40.45 +lon_0=-80 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
).to_wkt()
# trait: (CRS, pixel size, dtype, nodata, alpha band)
TRAITS: dict[str, tuple[str, float, str, float | None, bool]] = {
    "alpha-band": (UTM_17N, 1.0, "uint8", None, True),
    "uint16": (UTM_17N, 1.0, "uint16", None, False),
    "custom-wkt-crs": (LAEA_WKT, 2.0, "uint8", None, False),
    "15-cm-pixels": (UTM_17N, 0.15, "uint8", None, False),
    "300-m-pixels": (CONUS_ALBERS, 300.0, "uint8", None, False),
    "nodata-0": (UTM_17N, 1.0, "uint8", 0, False),
    "flat": (UTM_17N, 1.0, "uint8", None, False),
}


def trait_region(folder: Path, trait: str) -> tuple[Path, np.ndarray]:
    """A region of ``trait``'s imagery (two colours, left and right, nodata in the top left
    corner where the trait has a way to say so), a class-code raster 4 times coarser over
    its top half, a vector layer and labels, all in the imagery's CRS. Returns the region
    YAML and the imagery's valid pixels."""
    crs, pixel, dtype, nodata, alpha = TRAITS[trait]
    folder.mkdir()
    origin = (500_000.0, 4_480_000.0) if crs == UTM_17N else (1_000_000.0, 2_000_000.0)
    transform = Affine(pixel, 0.0, origin[0], 0.0, -pixel, origin[1])
    scale = 10_000 if dtype == "uint16" else 250
    left = np.arange(SIDE) < SIDE // 2
    image = np.where(left, 0.2, 0.7)[np.newaxis, np.newaxis, :] * np.ones((4, SIDE, 1))
    image = image * np.array([1.0, 0.8, 0.6, 0.9])[:, None, None]
    if trait == "flat":
        image[:] = 0.5
    image = (1 + image * (scale - 1)).astype(dtype)
    valid = np.ones((SIDE, SIDE), dtype=bool)
    if alpha or nodata is not None:
        valid[:8, :8] = False
    if alpha:
        image[3] = np.where(valid, np.iinfo(dtype).max, 0)
    elif nodata is not None:
        image[:, ~valid] = nodata
    imagery = write_raster(
        folder / "imagery.tif",
        image,
        crs=crs,
        transform=transform,
        nodata=nodata,
        photometric="RGB" if alpha else None,
    )
    if alpha:
        with rasterio.open(imagery, "r+") as dataset:
            dataset.colorinterp = [
                ColorInterp.red,
                ColorInterp.green,
                ColorInterp.blue,
                ColorInterp.alpha,
            ]
    codes = np.tile(
        np.where(np.arange(SIDE // 4) < SIDE // 8, 1, 2).astype(np.uint8), (SIDE // 4, 1)
    )
    codes[SIDE // 8 :] = 0  # the bottom half carries no weak label: colour_vote still maps it
    write_raster(
        folder / "codes.tif",
        codes,
        crs=crs,
        transform=transform @ Affine.scale(4),
        nodata=0,
    )
    x0, y0 = origin
    road = box(x0 + 10 * pixel, y0 - 30 * pixel, x0 + 14 * pixel, y0 - 20 * pixel)
    gpd.GeoDataFrame(geometry=[road], crs=crs).to_file(folder / "roads.gpkg")
    truth = np.where(left, 1, 4)[np.newaxis, :].repeat(SIDE, axis=0).astype(np.uint8)
    write_raster(folder / "labels.tif", truth, crs=crs, transform=transform, nodata=0)
    document = region_document(".")
    document["imagery"] = {"paths": ["imagery.tif"], "bands": [1, 2, 3] if alpha else [1, 2, 3, 4]}
    document["weak_labels"] = [
        {"kind": "class_codes", "path": "codes.tif", "table": {1: "water", 2: "trees"}},
        {"kind": "vector", "path": "roads.gpkg", "class": "impervious"},
    ]
    document["ground_truth"] = {"path": "labels.tif"}
    return write_yaml(folder / "region.yaml", document), valid


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("trait", sorted(TRAITS))
def test_rasters_with_the_traits_of_real_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], trait: str
) -> None:
    region, valid = trait_region(tmp_path / "region", trait)
    class_map = tmp_path / "map.tif"

    code, out, err = geoppp(capsys, "validate", region)
    assert (code, err) == (0, ""), err
    code, out, err = geoppp(
        capsys, "segment", region, "--out", class_map, "--method", "colour_vote", "--no-progress"
    )
    assert (code, err) == (0, ""), err
    with rasterio.open(class_map) as written:
        classes = written.read(1)
    assert (classes[valid] > 0).all()  # every valid pixel is labelled
    assert (classes[~valid] == 0).all()  # and every nodata one is nodata
    code, out, err = geoppp(capsys, "evaluate", region, class_map)
    assert (code, err) == (0, ""), err
    assert "the ground truth is on another grid" not in out
    code, out, err = geoppp(capsys, "show", region, "--out", tmp_path / "preview.png")
    assert (code, err) == (0, ""), err

    truncate(tmp_path / "region" / "imagery.tif")
    assert_refused(
        geoppp(capsys, "validate", region),
        tmp_path / "region" / "imagery.tif",
        advice="truncated or damaged",
    )


# --- interrupted runs --------------------------------------------------------------------

# Runs `geoppp` with a weak-argmax model that, once the map's temporary file is open, says
# so (by creating the file named first) and then waits to be stopped.
STALLING_RUN = """
import sys
import time
from pathlib import Path

import geoppp.steps.mapping as mapping
from geoppp.cli import main


def stall(arrays, valid):
    Path(sys.argv[1]).touch()
    time.sleep(120)


mapping.weak_argmax_model = stall
sys.exit(main(sys.argv[2:]))
"""


def test_sigterm_leaves_no_partial_output(tmp_path: Path, demo: DemoRegion) -> None:
    pipeline = demo_project(tmp_path, demo)
    script, ready = tmp_path / "stalling_run.py", tmp_path / "ready"
    script.write_text(STALLING_RUN)
    path = os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, str(script), str(ready), "run", str(pipeline), "--no-progress"]
    run = subprocess.Popen(
        [*command, "--workers", "1"],
        env={**os.environ, "PYTHONPATH": path},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), run.communicate(timeout=10)
        assert no_leftovers(tmp_path / "out") != []  # the map is being written

        run.send_signal(signal.SIGTERM)  # what `timeout`, SLURM and `docker stop` send
        _, err = run.communicate(timeout=60)
    finally:
        run.kill()

    assert run.returncode == 128 + signal.SIGTERM, err
    assert err == "geoppp: terminated; no partial output was left behind\n"
    assert list((tmp_path / "out").iterdir()) == []


def test_a_rerun_removes_what_a_killed_run_left(
    tmp_path: Path, demo: DemoRegion, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline = demo_project(tmp_path, demo)
    out = tmp_path / "out"
    finished = subprocess.Popen(["true"])
    finished.wait()
    # What SIGKILL (or the out-of-memory killer) leaves: temporary files of a dead process.
    stale = [
        out / f".map.tif.partial-{finished.pid}",
        out / f".map.tif.aux.xml.partial-{finished.pid}",
        out / f".map.qml.partial-{finished.pid}",
    ]
    for path in stale:
        path.write_bytes(b"half a map")
    # Another run writing the same map right now: its file is left alone.
    running = out / f".map.tif.partial-{os.getppid()}"
    running.write_bytes(b"a map being written")

    code, _, err = geoppp(capsys, "run", pipeline, "--no-progress")

    assert code == 0, err
    assert not any(path.exists() for path in stale)
    assert running.exists()
    assert (out / "map.tif").is_file()
