"""The QGIS style written beside each class map: it parses, and names and colours every class."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from geoppp.geo.output import ClassInfo, OutputOptions
from geoppp.geo.qgis_style import class_map_style, style_path
from tests.geo.test_output import CLASSES, class_indices, make_grid, write_class_map


def palette(document: str) -> list[dict[str, str]]:
    root = ET.fromstring(document.split("\n", 1)[1])  # ElementTree skips no DOCTYPE line
    renderer = root.find("pipe/rasterrenderer")
    assert renderer is not None
    assert renderer.get("type") == "paletted" and renderer.get("band") == "1"
    return [dict(entry.attrib) for entry in renderer.iter("paletteEntry")]


def test_style_names_and_colours_every_class() -> None:
    classes = [ClassInfo(1, "water", (0, 0, 255)), ClassInfo(7, 'roads & "lots" <2m>', (1, 2, 3))]
    document = class_map_style(classes)
    assert document.startswith("<!DOCTYPE qgis")
    entries = palette(document)
    assert entries == [
        {"value": "1", "label": "water", "color": "#0000ff", "alpha": "255"},
        {"value": "7", "label": 'roads & "lots" <2m>', "color": "#010203", "alpha": "255"},
    ]
    resampling = ET.fromstring(document.split("\n", 1)[1]).find("pipe/provider/resampling")
    assert resampling is not None
    assert resampling.get("zoomedOutResamplingMethod") == "nearestNeighbour"


def test_class_map_has_its_style_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "map.tif"
    write_class_map(make_grid(40, 40), class_indices(40, 40), OutputOptions(path), core=16, halo=4)
    style = style_path(path)
    assert style == tmp_path / "map.qml"
    entries = palette(style.read_text())
    assert [(e["value"], e["label"]) for e in entries] == [
        (str(info.value), info.name) for info in CLASSES
    ]
