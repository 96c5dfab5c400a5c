"""Run geoppp from a QGIS Python script, in geoppp's own Python, through a subprocess.

Why a subprocess: QGIS embeds its own Python and GDAL, and sets ``PYTHONPATH``, ``GDAL_DATA``,
``PROJ_LIB`` (and on Windows puts OSGeo4W's DLLs first on ``PATH``). Importing pip's rasterio
inside QGIS loads a second GDAL beside QGIS's own, which crashes or misreads projections. So
the QGIS script runs ``python -m geoppp`` of the virtual environment geoppp is installed in,
with QGIS's settings removed from the environment, and then adds the map to the project
(QGIS picks up the ``.qml`` style written beside it: colours and class names).

This file uses only the standard library: `geoppp qgis-script` prints it with the path of
this environment's Python filled in; paste it into QGIS's Python console or editor, or keep
it beside your project and ``exec`` it. From QGIS::

    map_path = segment("/data/city/region.yaml", "/data/city/landcover.tif")
    iface.addRasterLayer(map_path, "land cover")
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence

GEOPPP_PYTHON = sys.executable
"""The Python of the virtual environment geoppp is installed in (`geoppp qgis-script` writes
its path here; inside QGIS, ``sys.executable`` is QGIS, not that Python)."""

QGIS_VARIABLES = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "GDAL_DATA",
    "GDAL_DRIVER_PATH",
    "GDAL_FILENAME_IS_UTF8",
    "PROJ_LIB",
    "PROJ_DATA",
    "QGIS_PREFIX_PATH",
    "LD_LIBRARY_PATH",
    "DYLD_LIBRARY_PATH",
    "DYLD_FALLBACK_LIBRARY_PATH",
)
"""Settings QGIS makes for its own Python and GDAL that would mislead geoppp's."""

QGIS_PATH_MARKERS = ("osgeo4w", "qgis")
"""``PATH`` entries with these in their name hold QGIS's GDAL and Python (Windows installs)."""


class GeopppFailed(RuntimeError):
    """geoppp exited with an error; the message is what it printed."""


def clean_environment(environment: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``environment`` (the current one by default) without QGIS's Python, GDAL
    and PROJ settings, so that geoppp's Python uses its own libraries."""
    cleaned = dict(os.environ if environment is None else environment)
    for name in QGIS_VARIABLES:
        cleaned.pop(name, None)
    if "PATH" in cleaned:
        kept = [
            entry
            for entry in cleaned["PATH"].split(os.pathsep)
            if not any(marker in entry.lower() for marker in QGIS_PATH_MARKERS)
        ]
        cleaned["PATH"] = os.pathsep.join(kept)
    return cleaned


def run_geoppp(
    arguments: Sequence[str],
    python: str | None = None,
    echo: Callable[[str], None] = print,
) -> str:
    """Run ``geoppp ARGUMENTS`` in geoppp's Python; return what it printed.

    Args:
        arguments: the command line after ``geoppp``, e.g. ``["run", "pipeline.yaml"]``.
        python: geoppp's Python; :data:`GEOPPP_PYTHON` when None.
        echo: receives each line as it is printed (QGIS: ``print`` or a feedback's
            ``pushInfo``).

    Raises:
        GeopppFailed: geoppp exited with an error (its message included).
    """
    command = [python or GEOPPP_PYTHON, "-m", "geoppp", *arguments]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_environment(),
    )
    assert process.stdout is not None  # stdout=PIPE
    lines = []
    for line in process.stdout:
        lines.append(line)
        echo(line.rstrip("\n"))
    if process.wait() != 0:
        raise GeopppFailed(f"geoppp {' '.join(arguments)} failed:\n{''.join(lines[-20:])}")
    return "".join(lines)


def segment(
    region: str,
    class_map: str,
    method: str = "plug_and_play",
    prior: str = "demo-joint",
    steps: int | None = None,
    overwrite: bool = False,
    python: str | None = None,
    echo: Callable[[str], None] = print,
) -> str:
    """Map a region (``geoppp segment``) and return the class map's path, ready for
    ``iface.addRasterLayer``.

    Args:
        region: the region YAML.
        class_map: the GeoTIFF to write (a ``.qml`` style is written beside it).
        method: ``plug_and_play``, ``weak_argmax`` or ``colour_vote``.
        prior: a shipped prior's name or a checkpoint (plug_and_play).
        steps: optimiser steps (plug_and_play); the step's default when None.
        overwrite: replace an existing map.
        python: geoppp's Python; :data:`GEOPPP_PYTHON` when None.
        echo: receives geoppp's output line by line.
    """
    arguments = ["segment", region, "--out", class_map, "--method", method, "--prior", prior]
    if steps is not None:
        arguments += ["--steps", str(steps)]
    if overwrite:
        arguments.append("--overwrite")
    run_geoppp([*arguments, "--no-progress"], python, echo)
    return class_map


def script_for(python: str) -> str:
    """This file's source with :data:`GEOPPP_PYTHON` set to ``python``: a script to paste
    into QGIS."""
    with open(__file__, encoding="utf-8") as source:
        text = source.read()
    return text.replace("GEOPPP_PYTHON = sys.executable", f"GEOPPP_PYTHON = {python!r}", 1)
