"""Calling geoppp from a QGIS script: the script `geoppp qgis-script` writes runs geoppp in
its own Python even when the caller's environment is QGIS's."""

from __future__ import annotations

import os
import subprocess
import sys
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
