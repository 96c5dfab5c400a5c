"""geoppp's Processing algorithms: each builds a geoppp command line from its parameters and
runs it in geoppp's own Python (:func:`bridge.run_geoppp`), with geoppp's progress bars in
the feedback's progress and cancel stopping geoppp.

Outputs chosen in QGIS are replaced when they exist (QGIS asks first), so the commands get
``--overwrite``; a pipeline's outputs are named in its YAML and replaced only when asked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputMultipleLayers,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from . import bridge
from .loading import style_on_load
from .settings import geoppp_python

YAML_FILTER = "YAML files (*.yaml *.yml)"


def steps_parameter() -> QgsProcessingParameterNumber:
    """Optimiser steps of plug-and-play inference; empty: geoppp's default."""
    return QgsProcessingParameterNumber(
        "STEPS",
        "Optimiser steps (plug_and_play; empty: the default)",
        QgsProcessingParameterNumber.Integer,
        optional=True,
        minValue=1,
    )


METHODS = ("plug_and_play", "weak_argmax", "colour_vote")


class GeopppAlgorithm(QgsProcessingAlgorithm):
    """What every geoppp algorithm shares: its instance factory and running geoppp."""

    def createInstance(self) -> GeopppAlgorithm:
        return type(self)()

    def run_geoppp(self, arguments: list[str], feedback: Any) -> str:
        """Run ``geoppp ARGUMENTS``; its output goes to the log, its bars to the progress.

        Raises:
            QgsProcessingException: geoppp failed (its message), or the user cancelled.
        """
        feedback.pushCommandInfo(f"geoppp {' '.join(arguments)}")
        bar = {"label": ""}

        def progress(percent: int, label: str) -> None:
            feedback.setProgress(percent)
            if label != bar["label"]:
                bar["label"] = label
                feedback.setProgressText(f"geoppp: {label}")

        try:
            return bridge.run_geoppp(
                arguments,
                geoppp_python(),
                echo=feedback.pushConsoleInfo,
                progress=progress,
                cancelled=feedback.isCanceled,
            )
        except (bridge.GeopppFailed, bridge.GeopppCancelled) as error:
            raise QgsProcessingException(str(error)) from error

    def prior_arguments(self, parameters: Any, context: Any) -> list[str]:
        """``--prior NAME`` when the optional PRIOR is given."""
        prior = self.parameterAsString(parameters, "PRIOR", context)
        return ["--prior", prior] if prior else []

    def steps_arguments(self, parameters: Any, context: Any) -> list[str]:
        """``--steps N`` when the optional STEPS is given."""
        if parameters.get("STEPS") is None:
            return []
        return ["--steps", str(self.parameterAsInt(parameters, "STEPS", context))]

    def load_written_maps(self, output: str, context: Any) -> list[str]:
        """The class maps geoppp reports writing, each loaded with its style at the end."""
        maps = bridge.written_class_maps(output)
        for class_map in maps:
            style_on_load(context, class_map, Path(class_map).stem)
        return maps


class MapRegion(GeopppAlgorithm):
    """``geoppp segment``: one region, one method, a class map and its probabilities."""

    def name(self) -> str:
        return "map_region"

    def displayName(self) -> str:
        return "Map a region"

    def shortHelpString(self) -> str:
        return (
            "Maps a region's land cover (geoppp segment): a class map GeoTIFF with the "
            "scheme's colours and class names (a .qml style beside it), and optionally the "
            "class probabilities. METHOD: 0 plug_and_play (the diffusion prior, slow), "
            "1 weak_argmax, 2 colour_vote. Cancelling stops geoppp and leaves no partial "
            "output."
        )

    def initAlgorithm(self, config: Any = None) -> None:
        self.addParameter(
            QgsProcessingParameterFile("REGION", "Region YAML", fileFilter=YAML_FILTER)
        )
        self.addParameter(
            QgsProcessingParameterEnum("METHOD", "Method", options=list(METHODS), defaultValue=0)
        )
        self.addParameter(
            QgsProcessingParameterString(
                "PRIOR",
                "Prior: a shipped prior's name or a checkpoint (empty: one with the region's "
                "classes)",
                optional=True,
            )
        )
        self.addParameter(steps_parameter())
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "Class map"))
        self.addParameter(
            QgsProcessingParameterRasterDestination(
                "PROBABILITIES", "Class probabilities", optional=True, createByDefault=False
            )
        )

    def processAlgorithm(self, parameters: Any, context: Any, feedback: Any) -> dict[str, Any]:
        class_map = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        probabilities = self.parameterAsOutputLayer(parameters, "PROBABILITIES", context)
        method = METHODS[self.parameterAsEnum(parameters, "METHOD", context)]
        arguments = [
            "segment",
            self.parameterAsFile(parameters, "REGION", context),
            "--out",
            class_map,
            "--method",
            method,
            "--overwrite",
        ]
        arguments += self.prior_arguments(parameters, context)
        arguments += self.steps_arguments(parameters, context)
        if probabilities:
            arguments += ["--probabilities", probabilities]
        outputs = [path for path in (class_map, probabilities) if path]
        # A tile store there before the run belongs to an earlier one; keep it.
        earlier = {path for output in outputs for path in bridge.leftovers(output)}
        try:
            self.run_geoppp(arguments, feedback)
        except QgsProcessingException:
            bridge.remove_leftovers(outputs, keep=earlier)
            raise
        style_on_load(context, class_map)
        return {"OUTPUT": class_map, "PROBABILITIES": probabilities or None}


class RunPipeline(GeopppAlgorithm):
    """``geoppp run``: every step of a pipeline YAML."""

    def name(self) -> str:
        return "run_pipeline"

    def displayName(self) -> str:
        return "Run a pipeline"

    def shortHelpString(self) -> str:
        return (
            "Runs a pipeline YAML's steps in order (geoppp run). Its outputs are the files "
            "named in the YAML; the class maps it writes are loaded with their style. A "
            "cancelled pipeline keeps the tile stores of its plug-and-play steps, so running "
            "it again continues where it stopped."
        )

    def initAlgorithm(self, config: Any = None) -> None:
        self.addParameter(
            QgsProcessingParameterFile("PIPELINE", "Pipeline YAML", fileFilter=YAML_FILTER)
        )
        self.addParameter(
            QgsProcessingParameterBoolean("OVERWRITE", "Replace existing outputs", False)
        )
        self.addOutput(QgsProcessingOutputMultipleLayers("OUTPUTS", "Class maps"))

    def processAlgorithm(self, parameters: Any, context: Any, feedback: Any) -> dict[str, Any]:
        arguments = ["run", self.parameterAsFile(parameters, "PIPELINE", context)]
        if self.parameterAsBoolean(parameters, "OVERWRITE", context):
            arguments.append("--overwrite")
        output = self.run_geoppp(arguments, feedback)
        return {"OUTPUTS": self.load_written_maps(output, context)}


class Transfer(GeopppAlgorithm):
    """``geoppp transfer``: a prior learnt on a source region maps a target region."""

    def name(self) -> str:
        return "transfer"

    def displayName(self) -> str:
        return "Transfer to a new region"

    def shortHelpString(self) -> str:
        return (
            "Maps the target region with what geoppp learns on the source region (geoppp "
            "transfer): one class map per imagery file of the target, named after it, in "
            "the output folder, each loaded with its style."
        )

    def initAlgorithm(self, config: Any = None) -> None:
        self.addParameter(
            QgsProcessingParameterFile("SOURCE", "Source region YAML", fileFilter=YAML_FILTER)
        )
        self.addParameter(
            QgsProcessingParameterFile("TARGET", "Target region YAML", fileFilter=YAML_FILTER)
        )
        self.addParameter(
            QgsProcessingParameterString("PRIOR", "Prior (empty: geoppp's default)", optional=True)
        )
        self.addParameter(steps_parameter())
        self.addParameter(
            QgsProcessingParameterFolderDestination("OUTPUT_FOLDER", "Folder for the class maps")
        )
        self.addOutput(QgsProcessingOutputMultipleLayers("OUTPUTS", "Class maps"))

    def processAlgorithm(self, parameters: Any, context: Any, feedback: Any) -> dict[str, Any]:
        folder = self.parameterAsString(parameters, "OUTPUT_FOLDER", context)
        arguments = [
            "transfer",
            "--source",
            self.parameterAsFile(parameters, "SOURCE", context),
            "--target",
            self.parameterAsFile(parameters, "TARGET", context),
            "--out",
            str(Path(folder) / "{imagery}.tif"),
            "--overwrite",
        ]
        arguments += self.prior_arguments(parameters, context)
        arguments += self.steps_arguments(parameters, context)
        output = self.run_geoppp(arguments, feedback)
        return {"OUTPUT_FOLDER": folder, "OUTPUTS": self.load_written_maps(output, context)}


class Evaluate(GeopppAlgorithm):
    """``geoppp evaluate``: a class map's scores against its region's ground truth."""

    def name(self) -> str:
        return "evaluate"

    def displayName(self) -> str:
        return "Evaluate a class map"

    def shortHelpString(self) -> str:
        return (
            "Scores a class map against the region's ground truth (geoppp evaluate): a "
            "table of overall accuracy, mIoU and each class's IoU (empty for a class in "
            "neither map)."
        )

    def initAlgorithm(self, config: Any = None) -> None:
        self.addParameter(
            QgsProcessingParameterFile(
                "REGION", "Region YAML (with ground truth)", fileFilter=YAML_FILTER
            )
        )
        self.addParameter(QgsProcessingParameterRasterLayer("CLASS_MAP", "Class map"))
        self.addParameter(
            QgsProcessingParameterFeatureSink("OUTPUT", "Scores", QgsProcessing.TypeVector)
        )
        self.addOutput(QgsProcessingOutputNumber("ACCURACY", "Overall accuracy"))
        self.addOutput(QgsProcessingOutputNumber("MIOU", "mIoU"))

    def processAlgorithm(self, parameters: Any, context: Any, feedback: Any) -> dict[str, Any]:
        layer = self.parameterAsRasterLayer(parameters, "CLASS_MAP", context)
        region = self.parameterAsFile(parameters, "REGION", context)
        output = self.run_geoppp(["evaluate", region, layer.source(), "--json"], feedback)
        document = next(line for line in reversed(output.splitlines()) if line.startswith("{"))
        scores = json.loads(document)
        fields = QgsFields()
        fields.append(QgsField("score", QVariant.String))
        fields.append(QgsField("value", QVariant.Double))
        sink, destination = self.parameterAsSink(
            parameters, "OUTPUT", context, fields, QgsWkbTypes.NoGeometry
        )
        rows = [("accuracy", scores["accuracy"]), ("mIoU", scores["miou"])]
        rows += [(f"IoU {name}", value) for name, value in scores["iou"].items()]
        for score, value in rows:
            feature = QgsFeature(fields)
            feature.setAttributes([score, value])
            sink.addFeature(feature, QgsFeatureSink.FastInsert)
        return {"OUTPUT": destination, "ACCURACY": scores["accuracy"], "MIOU": scores["miou"]}
