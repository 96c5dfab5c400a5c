"""The provider's one setting: which Python runs geoppp."""

from __future__ import annotations

from processing.core.ProcessingConfig import ProcessingConfig, Setting

from . import bridge

PYTHON_SETTING = "GEOPPP_PYTHON"
"""Processing option (Settings ▸ Options ▸ Processing ▸ Providers ▸ geoppp) holding the
Python of geoppp's environment; `geoppp qgis-plugin install` sets its default."""


def python_setting(group: str) -> Setting:
    """The option, shown under ``group`` (the provider's name)."""
    return Setting(
        group,
        PYTHON_SETTING,
        "Python of the environment geoppp is installed in",
        bridge.GEOPPP_PYTHON,
        valuetype=Setting.FILE,
    )


def geoppp_python() -> str:
    """The Python that runs geoppp: the option's value, else the one recorded at install."""
    return str(ProcessingConfig.getSetting(PYTHON_SETTING) or bridge.GEOPPP_PYTHON)
