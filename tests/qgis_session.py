"""Run in QGIS's own Python (``/usr/bin/python3``) by tests/test_qgis_plugin.py: start QGIS
offscreen with a profile where `geoppp qgis-plugin install` put the plugin, load it as QGIS
does, run its algorithms through Processing, and print what was seen as JSON (last line).

Usage: ``python3 tests/qgis_session.py CONFIG.json`` with the keys ``profile``, ``region``,
``imagery`` and ``work`` (a folder for outputs).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

PLUGIN = "geoppp_qgis"


def start_qgis(profile: Path) -> Any:
    """QgsApplication without a GUI, the Processing framework, and the installed plugin
    started through ``qgis.utils`` as QGIS and ``qgis_process`` start it."""
    from qgis.core import QgsApplication

    QgsApplication.setPrefixPath(os.environ.get("QGIS_PREFIX_PATH", "/usr"), True)
    application = QgsApplication([], False, str(profile))
    application.initQgis()
    sys.path.append(str(Path(QgsApplication.pkgDataPath()) / "python" / "plugins"))
    from processing.core.Processing import Processing

    Processing.initialize()
    import qgis.utils

    plugins = str(profile / "python" / "plugins")
    sys.path.insert(0, plugins)
    qgis.utils.plugin_paths = [plugins]
    qgis.utils.updateAvailablePlugins()
    started = qgis.utils.loadPlugin(PLUGIN) and qgis.utils.startProcessingPlugin(PLUGIN)
    if not started:
        raise RuntimeError("QGIS could not start the geoppp_qgis plugin")
    return application


def describe_algorithms() -> dict[str, Any]:
    from qgis.core import QgsApplication

    provider = QgsApplication.processingRegistry().providerById("geoppp")
    return {
        algorithm.id(): {
            "name": algorithm.displayName(),
            "parameters": [p.name() for p in algorithm.parameterDefinitions()],
            "outputs": [o.name() for o in algorithm.outputDefinitions()],
        }
        for algorithm in provider.algorithms()
    }


def describe_layer(layer: Any) -> dict[str, Any]:
    extent = layer.extent()
    renderer = layer.renderer()
    classes = []
    if renderer.type() == "paletted":
        classes = [[c.value, c.color.name(), c.label] for c in renderer.classes()]
    return {
        "valid": layer.isValid(),
        "name": layer.name(),
        "crs": layer.crs().authid(),
        "extent": [extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum()],
        "size": [layer.width(), layer.height()],
        "bands": layer.bandCount(),
        "renderer": renderer.type(),
        "classes": classes,
    }


def map_region(config: dict[str, Any]) -> dict[str, Any]:
    """Map the region with a fast method and load the results as the GUI would."""
    import processing
    from qgis.core import QgsProcessingFeedback, QgsProject, QgsRasterLayer

    feedback = QgsProcessingFeedback()
    progress: list[float] = []
    feedback.progressChanged.connect(progress.append)
    work = Path(config["work"])
    parameters = {
        "REGION": config["region"],
        "METHOD": 1,  # weak_argmax
        "OUTPUT": str(work / "maps" / "landcover.tif"),
        "PROBABILITIES": str(work / "maps" / "probabilities.tif"),
    }
    started = time.perf_counter()
    results = processing.runAndLoadResults("geoppp:map_region", parameters, feedback=feedback)
    seconds = time.perf_counter() - started
    loaded = {
        Path(layer.source()).name: describe_layer(layer)
        for layer in QgsProject.instance().mapLayers().values()
    }
    return {
        "results": {key: value for key, value in results.items() if isinstance(value, str)},
        "loaded": loaded,
        "imagery": describe_layer(QgsRasterLayer(config["imagery"], "imagery")),
        "progress": progress,
        "seconds": seconds,
        "log": feedback.textLog(),
    }


def cancel_map_region(config: dict[str, Any]) -> dict[str, Any]:
    """Start the slow method and cancel as soon as geoppp's first progress bar appears (it
    has then made its tile store and is computing)."""
    import processing
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    class CancelOnProgress(QgsProcessingFeedback):
        cancelled_at: float | None = None

        def setProgressText(self, text: str) -> None:
            if self.cancelled_at is None:
                self.cancelled_at = time.perf_counter()
                self.cancel()

    feedback = CancelOnProgress()
    folder = Path(config["work"]) / "cancelled"
    folder.mkdir(parents=True)
    parameters = {
        "REGION": config["region"],
        "METHOD": 0,  # plug_and_play: long enough to be cancelled part-way
        "STEPS": 5000,
        "OUTPUT": str(folder / "landcover.tif"),
    }
    try:
        processing.run("geoppp:map_region", parameters, feedback=feedback)
        error = None
    except QgsProcessingException as raised:
        error = str(raised)
    return {
        "error": error,
        "cancelled": feedback.isCanceled(),
        "stopped_after": None
        if feedback.cancelled_at is None
        else time.perf_counter() - feedback.cancelled_at,
        "left": sorted(path.name for path in folder.iterdir()),
        "log": feedback.textLog(),
    }


def evaluate(config: dict[str, Any], class_map: str) -> dict[str, Any]:
    import processing

    results = processing.run(
        "geoppp:evaluate",
        {"REGION": config["region"], "CLASS_MAP": class_map, "OUTPUT": "TEMPORARY_OUTPUT"},
    )
    table = results["OUTPUT"]
    return {
        "accuracy": results["ACCURACY"],
        "miou": results["MIOU"],
        "rows": [feature.attributes() for feature in table.getFeatures()],
    }


def run_pipeline(config: dict[str, Any]) -> dict[str, Any]:
    """Run a one-step pipeline and see which class maps QGIS would load."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProject

    folder = Path(config["work"]) / "pipeline"
    folder.mkdir(parents=True)
    pipeline = folder / "pipeline.yaml"
    pipeline.write_text(
        f"region: {config['region']}\n"
        "steps:\n"
        "  - {name: weak, kind: weak_argmax, outputs: {class_map: weak.tif}}\n"
    )
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    results = processing.run("geoppp:run_pipeline", {"PIPELINE": str(pipeline)}, context=context)
    return {
        "outputs": results["OUTPUTS"],
        "to_load": {path: d.name for path, d in context.layersToLoadOnCompletion().items()},
    }


def main(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text())
    application = start_qgis(Path(config["profile"]))
    report: dict[str, Any] = {"algorithms": describe_algorithms()}
    report["map_region"] = map_region(config)
    report["evaluate"] = evaluate(config, report["map_region"]["results"]["OUTPUT"])
    report["pipeline"] = run_pipeline(config)
    report["cancel"] = cancel_map_region(config)
    application.exitQgis()
    print(json.dumps(report, default=str))


if __name__ == "__main__":
    main(sys.argv[1])
