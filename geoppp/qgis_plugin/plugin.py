"""The plugin object: registers the geoppp Processing provider while the plugin is loaded."""

from __future__ import annotations

from qgis.core import QgsApplication

from .provider import GeopppProvider


class GeopppPlugin:
    """Adds the provider (QGIS calls ``initGui``, ``qgis_process`` calls ``initProcessing``)
    and removes it on unload. There is no menu or toolbar: the algorithms live in the
    Processing Toolbox."""

    def __init__(self) -> None:
        self.provider: GeopppProvider | None = None

    def initProcessing(self) -> None:
        if self.provider is None:
            self.provider = GeopppProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:
        self.initProcessing()

    def unload(self) -> None:
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
