"""Run geoppp from a QGIS Python script, in geoppp's own Python, through a subprocess.

Why a subprocess: QGIS embeds its own Python and GDAL, and sets ``PYTHONPATH``, ``GDAL_DATA``,
``PROJ_LIB`` (and on Windows puts OSGeo4W's DLLs first on ``PATH``). Importing pip's rasterio
inside QGIS loads a second GDAL beside QGIS's own, which crashes or misreads projections. So
the QGIS script runs ``python -m geoppp`` of the virtual environment geoppp is installed in,
with QGIS's settings removed from the environment, and then adds the map to the project
(QGIS picks up the ``.qml`` style written beside it: colours and class names).

This file uses only the standard library: `geoppp qgis-script` prints it with the path of
this environment's Python filled in; paste it into QGIS's Python console or editor, or keep
it beside your project and ``exec`` it. The QGIS plugin (`geoppp qgis-plugin install`) runs
its Processing algorithms through it too. From QGIS::

    map_path = segment("/data/city/region.yaml", "/data/city/landcover.tif")
    iface.addRasterLayer(map_path, "land cover")
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from queue import Empty, Queue
from typing import IO

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


PROGRESS_BAR = re.compile(r"^(?P<label>.*?):?\s*(?P<percent>\d+)%\|")
"""A progress bar as geoppp prints it (tqdm, on stderr): ``imagery.tif:  42%|████  | 5/12``."""

TERMINAL_CODE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
"""Cursor movements a progress bar prints (``ESC[A``: up a line, for nested bars)."""

POLL_SECONDS = 0.1
"""How often a run checks whether it was cancelled."""

STOP_SECONDS = 30.0
"""How long a cancelled geoppp may take to tidy up before it is killed."""


class GeopppFailed(RuntimeError):
    """geoppp exited with an error; the message is what it printed."""


class GeopppCancelled(RuntimeError):
    """The caller cancelled the run; geoppp was stopped."""


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
    progress: Callable[[int, str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> str:
    """Run ``geoppp ARGUMENTS`` in geoppp's Python; return what it printed.

    Args:
        arguments: the command line after ``geoppp``, e.g. ``["run", "pipeline.yaml"]``.
        python: geoppp's Python; :data:`GEOPPP_PYTHON` when None.
        echo: receives each line as it is printed (QGIS: ``print`` or a feedback's
            ``pushInfo``).
        progress: receives geoppp's progress bars as (percent 0-100, the bar's label)
            instead of ``echo``.
        cancelled: polled every :data:`POLL_SECONDS`; when it returns True, geoppp is
            stopped (it removes its partial outputs) and :class:`GeopppCancelled` raised.

    Raises:
        GeopppFailed: geoppp exited with an error (its message included).
        GeopppCancelled: ``cancelled`` asked to stop; geoppp has exited.
    """
    command = [python or GEOPPP_PYTHON, "-m", "geoppp", *arguments]
    lines = []
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,  # universal newlines: each ``\r`` of a progress bar ends a line
        env=clean_environment(),
        creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),  # no console from QGIS
    ) as process:
        for line in _lines_until_cancelled(process, cancelled or (lambda: False)):
            if not TERMINAL_CODE.sub("", line).strip():
                continue  # what a progress bar prints to move between lines
            bar = PROGRESS_BAR.match(line)
            if bar is not None and progress is not None:
                progress(min(100, int(bar["percent"])), bar["label"].strip())
                continue
            lines.append(line)
            echo(line.rstrip("\n"))
    if process.returncode != 0:
        raise GeopppFailed(f"geoppp {' '.join(arguments)} failed:\n{''.join(lines[-20:])}")
    return "".join(lines)


def _lines_until_cancelled(
    process: subprocess.Popen[str], cancelled: Callable[[], bool]
) -> Iterator[str]:
    """The child's output line by line as it comes; a thread reads it so that
    ``cancelled`` is polled even while geoppp prints nothing."""
    assert process.stdout is not None  # stdout=PIPE
    queue: Queue[str | None] = Queue()

    def pump(stream: IO[str]) -> None:
        for line in stream:
            queue.put(line)
        queue.put(None)

    reader = threading.Thread(target=pump, args=(process.stdout,), daemon=True)
    reader.start()
    while True:
        if cancelled():
            _stop(process)
            reader.join(STOP_SECONDS)  # to the end of the output, before the pipe is closed
            if not reader.is_alive():
                yield from iter(queue.get_nowait, None)  # what geoppp said as it stopped
            raise GeopppCancelled("cancelled: geoppp was stopped and removed its partial outputs")
        try:
            line = queue.get(timeout=POLL_SECONDS)
        except Empty:
            continue
        if line is None:
            return
        yield line


def _stop(process: subprocess.Popen[str]) -> None:
    """Stop geoppp: SIGTERM, on which it removes its temporary files and exits (Windows
    has no such signal: the process ends at once and :func:`remove_leftovers` tidies up);
    killed if it has not exited after :data:`STOP_SECONDS`."""
    process.terminate()
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def leftovers(output: str) -> list[Path]:
    """What a stopped geoppp may leave beside ``output``: its temporary files (``.NAME`` +
    ``.partial-PID``, the ``.aux.xml`` and ``.qml`` sidecars' too) and the tile store
    (``NAME.tiles``) a plug-and-play run keeps to continue later."""
    path = Path(output)
    patterns = (
        f".{path.name}.partial-*",
        f".{path.name}.aux.xml.partial-*",
        f".{path.stem}.qml.partial-*",
        f"{path.name}.tiles",
    )
    return sorted(found for pattern in patterns for found in path.parent.glob(pattern))


def remove_leftovers(outputs: Sequence[str], keep: Collection[Path] = ()) -> None:
    """Delete the :func:`leftovers` of ``outputs``, except those in ``keep`` (e.g. a tile
    store that was there before the run)."""
    for output in outputs:
        for path in leftovers(output):
            if path in keep:
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def written_class_maps(output: str) -> list[str]:
    """The class maps a geoppp run reports writing (its ``  wrote MAP`` or ``  wrote MAP and
    PROBABILITIES`` lines): the files among them with a QGIS style (``.qml``) beside them."""
    maps = []
    for line in output.splitlines():
        text = line.strip()
        if not text.startswith("wrote "):
            continue
        parts = text.removeprefix("wrote ").split(" and ")
        for end in range(1, len(parts) + 1):
            candidate = " and ".join(parts[:end])
            if Path(candidate).with_suffix(".qml").is_file():
                maps.append(candidate)
                break
    return maps


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
