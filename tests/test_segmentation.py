"""Segmentation-network baselines and distillation through the pipeline, on a tiny region:
train on ground truth, on the weak labels' argmax, on another step's map; map; compare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

from geoppp.errors import CheckpointError, ConfigError
from geoppp.landcover.segmentation import load_network, save_network
from geoppp.landcover.segmentation_metadata import read_metadata
from geoppp.landcover.synthetic import DemoRegion, make_demo_region
from geoppp.pipeline import Overrides, run_pipeline
from tests.regions import demo_project, region_document, write_yaml

SIZE = 128
TINY_NETWORK = {"encoder_depth": 3, "decoder_channels": [16, 8, 4]}
TINY_TRAINING = {"patch_size": 64, "batch_size": 2, "steps": 3}


def quiet(line: str) -> None:
    pass


def train(name: str, labels: Any = "ground_truth", **changes: Any) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "train_segmentation",
        "labels": labels,
        "network": TINY_NETWORK,
        "training": TINY_TRAINING,
        "device": "cpu",
        "outputs": {"checkpoint": f"out/{name}.safetensors"},
        **changes,
    }


def segment(name: str, network: str) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "segmentation",
        "network": f"out/{network}.safetensors",
        "tile_size": 64,
        "halo": 16,
        "device": "cpu",
        "outputs": {
            "class_map": f"out/{name}.tif",
            "probabilities": f"out/{name}-probabilities.tif",
            "report": f"out/{name}.json",
        },
    }


def project(folder: Path, demo: DemoRegion, steps: list[dict[str, Any]]) -> Path:
    return demo_project(folder, demo, steps=steps, workers=1)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRegion:
    return make_demo_region(tmp_path_factory.mktemp("demo") / "demo", "target", SIZE)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, demo: DemoRegion) -> Path:
    """Truth-trained and weak-label networks, their maps, a network distilled from the weak
    network's map, and the comparison of all three."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("segmentation")
    steps = [
        train("truth-net"),
        segment("truth", "truth-net"),
        train("weak-net", "weak_argmax"),
        segment("weak", "weak-net"),
        train("distilled-net", {"raster": "out/weak.tif"}),
        segment("distilled", "distilled-net"),
        {
            "name": "compare",
            "kind": "compare",
            "steps": ["truth", "weak", "distilled"],
            "outputs": {"report": "out/compare.json"},
        },
    ]
    try:
        run_pipeline(project(folder, demo, steps), log=quiet)
    finally:
        torch.set_num_threads(threads)
    return folder / "out"


def test_the_checkpoint_says_what_it_was_trained_on(trained: Path) -> None:
    metadata = read_metadata(trained / "weak-net.safetensors")
    assert metadata.class_names == ("water", "impervious", "barren", "trees", "grass")
    assert metadata.bands == (1, 2, 3, 4)
    assert metadata.pixel_size == 1.0
    assert metadata.steps == 3
    assert "weak_argmax" in metadata.labels
    assert load_network(trained / "weak-net.safetensors").network.training is False


@pytest.mark.parametrize("name", ["truth", "weak", "distilled"])
def test_maps_are_georeferenced_at_full_resolution(
    trained: Path, demo: DemoRegion, name: str
) -> None:
    with rasterio.open(demo.imagery) as imagery, rasterio.open(trained / f"{name}.tif") as mapped:
        assert mapped.crs == imagery.crs
        assert mapped.transform == imagery.transform
        assert mapped.shape == imagery.shape
        assert set(np.unique(mapped.read(1)).tolist()) <= {0, 1, 2, 3, 4, 5}
    with rasterio.open(trained / f"{name}-probabilities.tif") as dataset:
        total = dataset.read().sum(axis=0)
    np.testing.assert_allclose(total[np.isfinite(total)], 1.0, atol=1e-4)
    report = json.loads((trained / f"{name}.json").read_text())
    assert 0 <= report["accuracy"] <= 1


def test_the_comparison_includes_the_networks(trained: Path) -> None:
    rows = json.loads((trained / "compare.json").read_text())["maps"]
    assert [row["kind"] for row in rows] == ["segmentation"] * 3


def test_a_network_of_other_classes_is_refused(
    trained: Path, demo: DemoRegion, tmp_path: Path
) -> None:
    loaded = load_network(trained / "truth-net.safetensors")
    other = tmp_path / "other.safetensors"
    metadata = loaded.metadata
    renamed = type(metadata)(
        metadata.network,
        ("a", "b", "c", "d", "e"),
        metadata.bands,
        metadata.normalisation,
        metadata.pixel_size,
        metadata.labels,
    )
    save_network(other, loaded.network, renamed)
    step = segment("other", "x") | {"network": str(other)}
    with pytest.raises(ConfigError, match="trained on classes"):
        run_pipeline(project(tmp_path / "p", demo, [step]), log=quiet)


def test_a_missing_network_is_a_checkpoint_error(demo: DemoRegion, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="train_segmentation"):
        run_pipeline(project(tmp_path, demo, [segment("s", "missing")]), log=quiet)


def test_distilling_a_map_that_nothing_writes_is_refused(demo: DemoRegion, tmp_path: Path) -> None:
    steps = [train("net", {"raster": "out/nothing.tif"})]
    with pytest.raises(ConfigError, match="no earlier step writes it"):
        run_pipeline(project(tmp_path, demo, steps), Overrides(), log=quiet)


def test_training_on_a_region_without_truth_is_refused(demo: DemoRegion, tmp_path: Path) -> None:
    document = region_document("../demo")
    del document["ground_truth"]
    write_yaml(tmp_path / "other" / "region.yaml", document)
    steps = [train("net", region="other/region.yaml")]
    with pytest.raises(ConfigError, match="has none"):
        run_pipeline(project(tmp_path, demo, steps), log=quiet)
