"""Region and pipeline YAML documents for tests, pointing at data written by script."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import yaml

from geoppp.landcover.demo_region import DemoRegion, make_demo_region

REPOSITORY = Path(__file__).resolve().parents[1]
DEMO_REGION_YAML = REPOSITORY / "regions" / "demo.yaml"
DEMO_PIPELINE_YAML = REPOSITORY / "pipelines" / "weak-argmax.yaml"
_DEMO_DATA_PREFIX = "../demo-data/demo/"


def region_document(data: str = "demo") -> dict[str, Any]:
    """The content of ``regions/demo.yaml`` with its data paths under ``data/`` instead."""
    text = DEMO_REGION_YAML.read_text().replace(_DEMO_DATA_PREFIX, f"{data}/")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def pipeline_document(
    region: str = "region.yaml", class_map: str = "out/map.tif", **step: Any
) -> dict[str, Any]:
    """A one-step weak-argmax pipeline; ``step`` adds or replaces keys of the step."""
    return {
        "region": region,
        "execution": {"workers": 2, "batch_size": 4, "progress": False},
        "steps": [
            {
                "name": "weak-argmax",
                "kind": "weak_argmax",
                "tile_size": 64,
                "outputs": {"class_map": class_map},
                **step,
            }
        ],
    }


def write_yaml(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(copy.deepcopy(document), sort_keys=False))
    return path


def copy_demo(source: DemoRegion, folder: Path) -> DemoRegion:
    """Copy a demo region's files into ``folder`` (so a test may change them)."""
    shutil.copytree(source.imagery.parent, folder)
    return DemoRegion(*(folder / path.name for path in vars(source).values()))


def demo_project(folder: Path, demo: DemoRegion | None = None, size: int = 256) -> Path:
    """``folder`` with ``demo/`` (a demo region), ``region.yaml``, ``pipeline.yaml``, ``out/``.

    Returns the pipeline YAML path. ``demo`` is copied when given, else made.
    """
    if demo is None:
        make_demo_region(folder / "demo", size=size)
    else:
        copy_demo(demo, folder / "demo")
    write_yaml(folder / "region.yaml", region_document())
    (folder / "out").mkdir()
    return write_yaml(folder / "pipeline.yaml", pipeline_document())
