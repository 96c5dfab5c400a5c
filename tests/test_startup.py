"""Imports follow use: the commands that run no model never load torch (nor the libraries
that come with it), so that they start at once and a weak-argmax map stays small in memory.

The commands run, in order, in one fresh interpreter (this one has torch loaded already); after
each, the probe records which of the heavy libraries are loaded so far.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import geoppp
import geoppp.diffusion
from tests.regions import REPOSITORY, demo_project, pipeline_document, write_yaml

HEAVY = ["diffusers", "segmentation_models_pytorch", "sklearn", "torch", "torchgeo", "torchvision"]
"""Libraries that only a command running a model may load."""

PROBE = """
import json, sys
from geoppp.cli import main

commands, report, heavy = json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
loaded = []
for argv in commands:
    try:
        code = main(argv)
    except SystemExit as stop:  # --help
        code = stop.code
    loaded.append({"code": code, "modules": [name for name in heavy if name in sys.modules]})
with open(report, "w") as file:
    json.dump(loaded, file)
"""


def models_pipeline() -> dict[str, Any]:
    """Steps that run models (checked by `validate`, never run here)."""
    document = pipeline_document(class_map="out/ppp.tif", kind="plug_and_play", prior="demo-joint")
    del document["steps"][0]["tile_size"]
    document["steps"][0]["name"] = "ppp"
    document["steps"] += [
        {
            "name": "unet-training",
            "kind": "train_segmentation",
            "labels": "weak_argmax",
            "outputs": {"checkpoint": "out/unet.safetensors"},
        },
        {
            "name": "unet",
            "kind": "segmentation",
            "network": "out/unet.safetensors",
            "outputs": {"class_map": "out/unet.tif"},
        },
    ]
    return document


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Each torch-free command, run in one fresh interpreter: its exit status and the heavy
    libraries loaded once it has run, by command line."""
    folder = tmp_path_factory.mktemp("startup")
    weak = demo_project(folder, size=128, domain="target", workers=1)
    vote = write_yaml(
        folder / "colour-vote.yaml",
        pipeline_document(class_map="out/vote.tif", kind="colour_vote", n_clusters=4),
    )
    models = write_yaml(folder / "models.yaml", models_pipeline())
    region = folder / "region.yaml"
    commands = [
        ["--help"],
        ["validate", str(region)],
        ["validate", str(weak)],
        ["validate", str(models)],
        ["run", str(weak), "--no-progress"],
        ["run", str(vote), "--no-progress"],
        ["evaluate", str(region), str(folder / "out" / "map.tif")],
        ["show", str(region), "--out", str(folder / "preview.png"), "--max-size", "64"],
    ]
    report = folder / "loaded.json"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPOSITORY), *sys.path])}
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(commands), str(report), json.dumps(HEAVY)],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return {
        " ".join(Path(a).name for a in argv): result
        for argv, result in zip(commands, json.loads(report.read_text()), strict=True)
    }


@pytest.mark.parametrize(
    "command",
    [
        "--help",
        "validate region.yaml",
        "validate pipeline.yaml",
        "validate models.yaml",
        "run pipeline.yaml --no-progress",
        "run colour-vote.yaml --no-progress",
        "evaluate region.yaml map.tif",
        "show region.yaml --out preview.png --max-size 64",
    ],
)
def test_a_command_that_runs_no_model_loads_no_torch(
    loaded: dict[str, dict[str, Any]], command: str
) -> None:
    assert loaded[command] == {"code": 0, "modules": []}


def test_the_package_names_its_api_before_loading_it() -> None:
    assert set(geoppp.__all__) <= set(dir(geoppp))
    assert set(geoppp.diffusion.__all__) <= set(dir(geoppp.diffusion))
    for name in geoppp.diffusion.__all__:
        assert getattr(geoppp.diffusion, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'sample_prior'"):
        _ = geoppp.diffusion.sample_prior  # type: ignore[attr-defined]
