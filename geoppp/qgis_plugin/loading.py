"""Loading class maps into the project with their style once an algorithm has finished."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import QgsProcessingContext, QgsProcessingLayerPostProcessorInterface

_STYLES: dict[str, ClassMapStyle] = {}
"""The post-processors handed to Processing, by class map: Processing does not keep the
Python object alive, and without this reference it is gone before the layer is loaded."""


class ClassMapStyle(QgsProcessingLayerPostProcessorInterface):
    """Applies the ``.qml`` beside a class map (paletted renderer: class colours and names)
    to the layer Processing has loaded; Processing itself skips a file's default style."""

    def __init__(self, style: str) -> None:
        super().__init__()
        self.style = style

    def postProcessLayer(self, layer: Any, context: Any, feedback: Any) -> None:
        message, loaded = layer.loadNamedStyle(self.style)
        if not loaded:
            feedback.reportError(f"could not apply the style {self.style}: {message}")
        layer.triggerRepaint()


def style_on_load(context: QgsProcessingContext, class_map: str, name: str | None = None) -> None:
    """Have ``class_map`` loaded with its style when the algorithm ends, if it is loaded at
    all: a destination the user asked to open, or (with ``name``) a map the algorithm found
    it wrote (a pipeline's or a transfer's)."""
    if name is not None:
        context.addLayerToLoadOnCompletion(
            class_map, QgsProcessingContext.LayerDetails(name, context.project(), "OUTPUTS")
        )
    if context.willLoadLayerOnCompletion(class_map):
        _STYLES[class_map] = ClassMapStyle(str(Path(class_map).with_suffix(".qml")))
        context.layerToLoadOnCompletionDetails(class_map).setPostProcessor(_STYLES[class_map])
