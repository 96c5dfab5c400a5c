"""The "geoppp" Processing provider: its algorithms and the setting that says which Python
runs geoppp."""

from __future__ import annotations

from processing.core.ProcessingConfig import ProcessingConfig
from qgis.core import QgsApplication, QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .algorithms import Evaluate, MapRegion, RunPipeline, Transfer
from .settings import PYTHON_SETTING, python_setting


class GeopppProvider(QgsProcessingProvider):
    """geoppp's algorithms in the Processing Toolbox (ids ``geoppp:map_region``, ...)."""

    def id(self) -> str:
        return "geoppp"

    def name(self) -> str:
        return "geoppp"

    def longName(self) -> str:
        return "geoppp: land cover with a diffusion prior"

    def icon(self) -> QIcon:
        return QgsApplication.getThemeIcon("/processingAlgorithm.svg")

    def load(self) -> bool:
        ProcessingConfig.settingIcons[self.name()] = self.icon()
        ProcessingConfig.addSetting(python_setting(self.name()))
        ProcessingConfig.readSettings()
        self.refreshAlgorithms()
        return True

    def unload(self) -> None:
        ProcessingConfig.removeSetting(PYTHON_SETTING)

    def loadAlgorithms(self) -> None:
        for algorithm in (MapRegion(), RunPipeline(), Transfer(), Evaluate()):
            self.addAlgorithm(algorithm)

    def supportedOutputRasterLayerExtensions(self) -> list[str]:
        return ["tif"]
