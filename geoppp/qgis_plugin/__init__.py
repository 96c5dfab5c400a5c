"""The geoppp QGIS plugin: a Processing provider whose algorithms run geoppp in its own
Python environment through :mod:`geoppp.qgis_plugin.bridge`.

`geoppp qgis-plugin install` copies this folder into a QGIS profile. Only QGIS imports the
modules that import ``qgis``; :mod:`~geoppp.qgis_plugin.bridge` and
:mod:`~geoppp.qgis_plugin.install` use the standard library alone.
"""

from __future__ import annotations

from typing import Any


def classFactory(iface: Any) -> Any:
    """The plugin object QGIS loads (``iface`` is None in ``qgis_process``)."""
    from .plugin import GeopppPlugin

    return GeopppPlugin()
