"""Installing the plugin into a QGIS profile (run by `geoppp qgis-plugin install`, in
geoppp's environment; QGIS never imports this module)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .bridge import script_for

PLUGIN_FOLDER = "geoppp_qgis"
"""The plugin's folder under ``PROFILE/python/plugins`` (and its key in QGIS's settings)."""


def default_profile() -> Path:
    """QGIS's default user profile on this system."""
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "QGIS" / "QGIS3" / "profiles" / "default"


def install_plugin(profile: Path, python: str) -> Path:
    """Copy the plugin into ``profile``, recording ``python`` as the Python that runs
    geoppp, and enable it there; an earlier copy is replaced.

    Args:
        profile: a QGIS profile folder (created if needed), e.g. :func:`default_profile`.
        python: the Python of the environment geoppp is installed in.

    Returns:
        The plugin's folder.
    """
    plugins = profile / "python" / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    target = plugins / PLUGIN_FOLDER
    temporary = plugins / f".{PLUGIN_FOLDER}.partial-{os.getpid()}"
    shutil.rmtree(temporary, ignore_errors=True)
    shutil.copytree(
        Path(__file__).parent,
        temporary,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", Path(__file__).name),
    )
    (temporary / "bridge.py").write_text(script_for(python), encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    temporary.rename(target)
    enable_plugin(profile / "QGIS" / "QGIS3.ini", PLUGIN_FOLDER)
    return target


def enable_plugin(settings: Path, name: str) -> None:
    """Set ``name=true`` in the ``[PythonPlugins]`` section of QGIS's settings file (what
    ticking the plugin in the Plugin Manager does), keeping every other line as it is."""
    lines = settings.read_text(encoding="utf-8").splitlines() if settings.is_file() else []
    entry = f"{name}=true"
    if "[PythonPlugins]" not in lines:
        lines += ["", "[PythonPlugins]", entry] if lines else ["[PythonPlugins]", entry]
    else:
        start = lines.index("[PythonPlugins]") + 1
        end = next((i for i in range(start, len(lines)) if lines[i].startswith("[")), len(lines))
        kept = [line for line in lines[start:end] if not line.startswith(f"{name}=")]
        lines[start:end] = [entry, *kept]
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text("\n".join(lines) + "\n", encoding="utf-8")
