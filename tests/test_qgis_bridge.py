"""Calling geoppp from QGIS: the script `geoppp qgis-script` writes runs geoppp in
its own Python even when the caller's environment is QGIS's."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import rasterio

from geoppp import api
from geoppp.cli import main
from geoppp.qgis_plugin.bridge import clean_environment


def test_clean_environment_drops_qgis_settings() -> None:
    qgis = {
        "PYTHONPATH": r"C:\OSGeo4W\apps\qgis\python",
        "GDAL_DATA": r"C:\OSGeo4W\share\gdal",
        "PROJ_LIB": r"C:\OSGeo4W\share\proj",
        "PATH": os.pathsep.join(["/opt/OSGeo4W/bin", "/Applications/QGIS.app/bin", "/usr/bin"]),
        "HOME": "/home/user",
    }
    assert clean_environment(qgis) == {"PATH": "/usr/bin", "HOME": "/home/user"}


def test_a_qgis_script_maps_a_region_despite_qgis_environment(tmp_path: Path) -> None:
    files = api.make_demo_region(tmp_path / "region", "target", size=96)
    script = tmp_path / "geoppp_in_qgis.py"
    assert main(["qgis-script", "--out", str(script)]) == 0
    assert repr(sys.executable) in script.read_text()
    # QGIS's Python: another interpreter, with its own rasterio first on PYTHONPATH and
    # GDAL/PROJ data of its own. geoppp must not see any of it.
    shadow = tmp_path / "qgis-python"
    (shadow / "rasterio").mkdir(parents=True)
    (shadow / "rasterio" / "__init__.py").write_text("raise ImportError('QGIS rasterio')\n")
    environment = {
        **os.environ,
        "PYTHONPATH": str(shadow),
        "GDAL_DATA": str(tmp_path / "nowhere"),
        "PROJ_LIB": str(tmp_path / "nowhere"),
    }
    out = tmp_path / "maps" / "landcover.tif"
    qgis_console = (
        f"exec(open({str(script)!r}).read())\n"
        f"path = segment({str(files.region_yaml)!r}, {str(out)!r}, method='weak_argmax')\n"
        "print('added', path)\n"
    )
    qgis_python = getattr(sys, "_base_executable", sys.executable)
    finished = subprocess.run(
        [qgis_python, "-c", qgis_console],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr + finished.stdout
    assert f"added {out}" in finished.stdout
    with rasterio.open(out) as dataset:
        assert dataset.crs.to_epsg() == 32612 and dataset.width == 96
    assert out.with_suffix(".qml").is_file()


def test_a_failing_command_raises_with_geoppp_message(tmp_path: Path) -> None:
    from geoppp.qgis_plugin.bridge import GeopppFailed, run_geoppp

    lines: list[str] = []
    try:
        run_geoppp(["validate", str(tmp_path / "missing.yaml")], sys.executable, lines.append)
    except GeopppFailed as error:
        assert "missing.yaml: no such file" in str(error)
    else:
        raise AssertionError("a missing file must fail")
    assert any("no such file" in line for line in lines)


def _fake_geoppp(folder: Path, body: str) -> str:
    """A "Python" whose ``-m geoppp ...`` runs the shell ``body`` instead (POSIX)."""
    python = folder / "fake-python"
    python.write_text(f"#!/bin/sh\n{body}\n")
    python.chmod(0o755)
    return str(python)


def test_progress_bars_go_to_progress_and_the_rest_to_echo(tmp_path: Path) -> None:
    from geoppp.qgis_plugin.bridge import run_geoppp

    # What tqdm prints to a pipe: carriage returns, a nested bar's newline and cursor-up.
    body = (
        r"printf 'step one\n\rimagery.tif:   0%%|   | 0/4\r"
        r"imagery.tif:  50%%|## | 2/4\n\rplug-and-play, 1 tiles: 100%%|###| 9/9\033[A\r"
        r"imagery.tif: 100%%|###| 4/4\n  wrote map.tif\n' >&2"
    )
    lines: list[str] = []
    bars: list[tuple[int, str]] = []
    output = run_geoppp(
        ["segment"], _fake_geoppp(tmp_path, body), lines.append, lambda p, s: bars.append((p, s))
    )
    assert lines == ["step one", "  wrote map.tif"]
    assert output == "step one\n  wrote map.tif\n"
    assert bars == [
        (0, "imagery.tif"),
        (50, "imagery.tif"),
        (100, "plug-and-play, 1 tiles"),
        (100, "imagery.tif"),
    ]


def test_cancelling_stops_geoppp_promptly(tmp_path: Path) -> None:
    from geoppp.qgis_plugin.bridge import GeopppCancelled, run_geoppp

    stopped = tmp_path / "stopped"
    body = f"trap 'touch {stopped}; exit 130' TERM\necho started\nwhile :; do sleep 0.1; done"
    started = time.perf_counter()
    lines: list[str] = []
    try:
        run_geoppp(
            ["run", "x.yaml"],
            _fake_geoppp(tmp_path, body),
            lines.append,
            cancelled=lambda: bool(lines),
        )
    except GeopppCancelled:
        pass
    else:
        raise AssertionError("a cancelled run must raise GeopppCancelled")
    assert time.perf_counter() - started < 10
    assert stopped.is_file()  # geoppp got SIGTERM, the signal it tidies up on


def test_written_class_maps_are_those_geoppp_reports(tmp_path: Path) -> None:
    from geoppp.geo.engine import RunStats
    from geoppp.landcover.mapping import MapResult
    from geoppp.qgis_plugin.bridge import written_class_maps
    from geoppp.steps.mapping import format_result

    class_map = tmp_path / "maps and more" / "land cover.tif"
    class_map.parent.mkdir()
    class_map.touch()
    class_map.with_suffix(".qml").touch()
    result = MapResult(
        class_map=class_map,
        probabilities=tmp_path / "p.tif",
        stats=RunStats(tiles=1),
        class_pixels={"water": 1},
        pixel_area=1.0,
        megapixels=0.1,
        seconds=1.0,
    )
    output = f"step x: imagery.tif → {class_map}\n{format_result(result)}\nwrote the region\n"
    assert written_class_maps(output) == [str(class_map)]


def test_leftovers_are_removed_but_an_earlier_tile_store_kept(tmp_path: Path) -> None:
    from geoppp.qgis_plugin.bridge import leftovers, remove_leftovers

    output = tmp_path / "landcover.tif"
    store = tmp_path / "landcover.tif.tiles"
    store.mkdir()
    earlier = set(leftovers(str(output)))
    for name in (".landcover.tif.partial-12", ".landcover.qml.partial-12", "other.tif"):
        (tmp_path / name).touch()
    remove_leftovers([str(output)], keep=earlier)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["landcover.tif.tiles", "other.tif"]
    remove_leftovers([str(output)])
    assert sorted(path.name for path in tmp_path.iterdir()) == ["other.tif"]


def test_the_plugin_installs_into_a_profile_and_is_enabled(tmp_path: Path) -> None:
    profile = tmp_path / "profiles" / "default"
    settings = profile / "QGIS" / "QGIS3.ini"
    settings.parent.mkdir(parents=True)
    settings.write_text("[General]\nlocale=en\n\n[PythonPlugins]\ngeoppp_qgis=false\nother=true\n")
    for _ in range(2):  # installing again replaces the copy
        assert main(["qgis-plugin", "install", "--profile", str(profile)]) == 0
    plugin = profile / "python" / "plugins" / "geoppp_qgis"
    assert (plugin / "metadata.txt").is_file() and (plugin / "algorithms.py").is_file()
    assert not (plugin / "install.py").exists()
    assert f"GEOPPP_PYTHON = {sys.executable!r}" in (plugin / "bridge.py").read_text()
    assert settings.read_text() == (
        "[General]\nlocale=en\n\n[PythonPlugins]\ngeoppp_qgis=true\nother=true\n"
    )
    assert sorted(path.name for path in plugin.parent.iterdir()) == ["geoppp_qgis"]
