"""Make docs/qgis-map-region.png: the demo target mapped by the plugin's "Map a region" in
a real QGIS, loaded with its style, rendered offscreen beside the imagery with QGIS's own
legend. Run it with QGIS's Python after installing the plugin::

    .venv/bin/geoppp make-demo-region --domain target --size 384 --out /tmp/shot
    .venv/bin/geoppp qgis-plugin install --profile /tmp/shot/profile
    QT_QPA_PLATFORM=offscreen /usr/bin/python3 docs/qgis_screenshot.py /tmp/shot/profile \\
        /tmp/shot/target/region.yaml docs/qgis-map-region.png
"""

from __future__ import annotations

import sys
from pathlib import Path

# QGIS starts here as in the tests, plugin included.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from qgis_session import start_qgis

STEPS = 40
"""Optimiser steps: a few minutes for the 384 m demo on two busy cores."""


def main(profile: str, region: str, png: str) -> None:
    application = start_qgis(Path(profile))
    import processing
    from qgis.core import (
        Qgis,
        QgsLayoutExporter,
        QgsLayoutItemLabel,
        QgsLayoutItemLegend,
        QgsLayoutItemMap,
        QgsLayoutPoint,
        QgsLayoutSize,
        QgsMapLayerLegendUtils,
        QgsPrintLayout,
        QgsProject,
        QgsRasterLayer,
        QgsUnitTypes,
    )
    from qgis.PyQt.QtGui import QFont

    class_map = Path(region).with_name("geoppp-landcover.tif")
    processing.runAndLoadResults(
        "geoppp:map_region",
        {
            "REGION": region,
            "METHOD": 0,
            "PRIOR": "demo-joint",
            "STEPS": STEPS,
            "OUTPUT": str(class_map),
        },
    )
    project = QgsProject.instance()
    [mapped] = project.mapLayers().values()
    mapped.setName("geoppp: land cover")
    imagery = QgsRasterLayer(str(Path(region).with_name("imagery.tif")), "imagery")
    project.addMapLayer(imagery, False)

    layout = QgsPrintLayout(project)
    layout.initializeDefaults()
    layout.pageCollection().page(0).setPageSize(QgsLayoutSize(236, 100))
    millimetres = QgsUnitTypes.LayoutMillimeters
    for left, layer in ((3, imagery), (92, mapped)):
        item = QgsLayoutItemMap(layout)
        item.setLayers([layer])
        item.attemptMove(QgsLayoutPoint(left, 10, millimetres))
        item.attemptResize(QgsLayoutSize(87, 87, millimetres))
        item.setExtent(mapped.extent())
        layout.addLayoutItem(item)
    title = QgsLayoutItemLabel(layout)
    version = Qgis.QGIS_VERSION.split("-")[0]
    title.setText(f"geoppp ▸ Map a region (plug_and_play, demo-joint), loaded in QGIS {version}")
    title.setFont(QFont("DejaVu Sans", 10))
    title.attemptMove(QgsLayoutPoint(3, 2, millimetres))
    title.attemptResize(QgsLayoutSize(230, 7, millimetres))
    layout.addLayoutItem(title)
    legend = QgsLayoutItemLegend(layout)
    legend.setAutoUpdateModel(False)
    legend.model().rootGroup().clear()
    node = legend.model().rootGroup().addLayer(mapped)
    # The classes only: QGIS's first entry names the band ("Band 1: land cover class").
    classes = len(legend.model().layerLegendNodes(node))
    QgsMapLayerLegendUtils.setLegendNodeOrder(node, list(range(1, classes)))
    legend.model().refreshLayerLegend(node)
    legend.setTitle("")
    legend.attemptMove(QgsLayoutPoint(182, 10, millimetres))
    layout.addLayoutItem(legend)

    settings = QgsLayoutExporter.ImageExportSettings()
    settings.dpi = 72
    settings.generateWorldFile = False
    result = QgsLayoutExporter(layout).exportToImage(png, settings)
    if result != QgsLayoutExporter.Success:
        raise RuntimeError(f"QGIS could not export {png} (error {result})")
    application.exitQgis()


if __name__ == "__main__":
    main(*sys.argv[1:4])
