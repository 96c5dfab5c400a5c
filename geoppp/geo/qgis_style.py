"""QGIS layer styles (QML) for class maps, written beside each map so that QGIS opens it with
the project's colours and class names.

QGIS loads ``NAME.qml`` beside ``NAME.tif`` as the layer's default style. The document is built
with ElementTree (names are escaped for us); no library writes QGIS styles outside QGIS.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

QGIS_VERSION = "3.28.0-Firenze"
"""The QGIS release whose style format this follows (paletted renderer, unchanged since 3.0)."""


class StyledClass(Protocol):
    """What a style needs of a class: its raster value, name and colour."""

    @property
    def value(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def colour(self) -> tuple[int, int, int]: ...


def style_path(raster: Path) -> Path:
    """Where QGIS looks for a raster's default style: the same name with ``.qml``."""
    return raster.with_suffix(".qml")


def class_map_style(classes: Sequence[StyledClass], opacity: float = 1.0) -> str:
    """A QML document: a paletted renderer of band 1, one entry per class (value, colour,
    name), nearest-neighbour resampling so that no blended colours appear.

    Args:
        classes: the classes in legend order.
        opacity: layer opacity, 0-1.
    """
    qgis = ElementTree.Element(
        "qgis", {"version": QGIS_VERSION, "styleCategories": "AllStyleCategories"}
    )
    pipe = ElementTree.SubElement(qgis, "pipe")
    provider = ElementTree.SubElement(pipe, "provider")
    ElementTree.SubElement(
        provider,
        "resampling",
        {
            "enabled": "false",
            "zoomedInResamplingMethod": "nearestNeighbour",
            "zoomedOutResamplingMethod": "nearestNeighbour",
            "maxOversampling": "2",
        },
    )
    renderer = ElementTree.SubElement(
        pipe,
        "rasterrenderer",
        {
            "type": "paletted",
            "band": "1",
            "opacity": f"{opacity:g}",
            "alphaBand": "-1",
            "nodataColor": "",
        },
    )
    ElementTree.SubElement(renderer, "rasterTransparency")
    palette = ElementTree.SubElement(renderer, "colorPalette")
    for item in classes:
        red, green, blue = item.colour
        ElementTree.SubElement(
            palette,
            "paletteEntry",
            {
                "value": str(item.value),
                "label": item.name,
                "color": f"#{red:02x}{green:02x}{blue:02x}",
                "alpha": "255",
            },
        )
    ElementTree.SubElement(pipe, "brightnesscontrast", {"brightness": "0", "contrast": "0"})
    ElementTree.SubElement(pipe, "rasterresampler", {"maxOversampling": "2"})
    ElementTree.SubElement(qgis, "blendMode").text = "0"
    ElementTree.indent(qgis)
    body = ElementTree.tostring(qgis, encoding="unicode")
    return f"<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n{body}\n"
