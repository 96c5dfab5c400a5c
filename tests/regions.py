"""Region and pipeline YAML documents for tests, pointing at data written by script."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import yaml

from geoppp.landcover.synthetic import DemoRegion, make_demo_region

REPOSITORY = Path(__file__).resolve().parents[1]
DEMO_REGION_YAML = REPOSITORY / "regions" / "demo-target.yaml"
DEMO_PIPELINE_YAML = REPOSITORY / "pipelines" / "weak-argmax.yaml"

# P(class | NLCD code) of Pittsburgh PA, EnviroAtlas co-occurrence (Rolf et al. 2022), shrubs
# and woody wetlands folded into trees, agriculture and emergent wetlands into grass: spelled
# out, so that a test can compute the expected weak labels by hand.
PITTSBURGH_TABLE = {
    11: {"water": 0.906, "impervious": 0.022, "barren": 0.008, "trees": 0.054, "grass": 0.011},
    21: {"water": 0.004, "impervious": 0.086, "barren": 0.008, "trees": 0.569, "grass": 0.333},
    22: {"water": 0.004, "impervious": 0.295, "barren": 0.011, "trees": 0.352, "grass": 0.339},
    23: {"water": 0.007, "impervious": 0.523, "barren": 0.017, "trees": 0.195, "grass": 0.258},
    24: {"water": 0.007, "impervious": 0.843, "barren": 0.022, "trees": 0.039, "grass": 0.090},
    31: {"water": 0.010, "impervious": 0.479, "barren": 0.101, "trees": 0.108, "grass": 0.302},
    41: {"water": 0.001, "impervious": 0.010, "barren": 0.004, "trees": 0.888, "grass": 0.097},
    42: {"water": 0.002, "impervious": 0.029, "barren": 0.011, "trees": 0.774, "grass": 0.185},
    43: {"water": 0.001, "impervious": 0.013, "barren": 0.002, "trees": 0.864, "grass": 0.120},
    52: {"water": 0.000, "impervious": 0.020, "barren": 0.050, "trees": 0.675, "grass": 0.255},
    71: {"water": 0.005, "impervious": 0.065, "barren": 0.068, "trees": 0.439, "grass": 0.423},
    81: {"water": 0.001, "impervious": 0.032, "barren": 0.032, "trees": 0.142, "grass": 0.793},
    82: {"water": 0.001, "impervious": 0.027, "barren": 0.105, "trees": 0.091, "grass": 0.776},
    90: {"water": 0.021, "impervious": 0.014, "barren": 0.006, "trees": 0.778, "grass": 0.181},
    95: {"water": 0.169, "impervious": 0.023, "barren": 0.030, "trees": 0.551, "grass": 0.227},
}


def region_document(data: str = "demo") -> dict[str, Any]:
    """A region over a demo region written into ``data/`` (relative to the YAML file).

    The five classes inline, NLCD through ``PITTSBURGH_TABLE``, roads (buffered 4 m) and
    buildings burnt in as impervious, and the labels as ground truth.
    """
    return {
        "name": "demo",
        "imagery": {
            "paths": [f"{data}/imagery.tif"],
            "bands": [1, 2, 3, 4],
            "band_names": ["red", "green", "blue", "nir"],
        },
        "classes": {
            "nodata": 0,
            "classes": [
                {"value": 1, "name": "water", "colour": "#0000ff"},
                {"value": 2, "name": "impervious", "colour": "#808080"},
                {"value": 3, "name": "barren", "colour": "#c2a36b"},
                {"value": 4, "name": "trees", "colour": "#008000"},
                {"value": 5, "name": "grass", "colour": "#80ff80"},
            ],
        },
        "weak_labels": [
            {"kind": "class_codes", "path": f"{data}/nlcd.tif", "table": PITTSBURGH_TABLE},
            {"kind": "vector", "path": f"{data}/roads.gpkg", "class": "impervious", "buffer": 4.0},
            {"kind": "vector", "path": f"{data}/buildings.gpkg", "class": "impervious"},
        ],
        "ground_truth": {"path": f"{data}/labels.tif"},
    }


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


def demo_project(
    folder: Path,
    demo: DemoRegion | None = None,
    size: int = 256,
    domain: str = "source",
    steps: list[dict[str, Any]] | None = None,
    **execution: Any,
) -> Path:
    """``folder`` with ``demo/`` (a demo region), ``region.yaml``, ``pipeline.yaml``,
    ``out/``.

    Returns the pipeline YAML path. ``demo`` is copied when given, else made (``domain``,
    ``size``). The pipeline is :func:`pipeline_document`'s, with ``steps`` instead of its
    one step when given, and ``execution`` keys replacing its own.
    """
    if demo is None:
        make_demo_region(folder / "demo", domain, size)
    else:
        copy_demo(demo, folder / "demo")
    write_yaml(folder / "region.yaml", region_document())
    (folder / "out").mkdir()
    document = pipeline_document()
    document["execution"].update(execution)
    if steps is not None:
        document["steps"] = steps
    return write_yaml(folder / "pipeline.yaml", document)
