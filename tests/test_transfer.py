"""Plug-and-play mapping through the pipeline: statistics, baselines, the prior's map and the
comparison, on a small script-made demo region."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

from geoppp.errors import ConfigError
from geoppp.landcover.synthetic import DemoRegion, make_demo_region
from geoppp.pipeline import Overrides, run_pipeline
from tests.regions import demo_project

SIZE = 256


def quiet(line: str) -> None:
    pass


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRegion:
    return make_demo_region(tmp_path_factory.mktemp("demo") / "demo", "source", SIZE)


def plug_and_play(name: str, prior: str, **changes: Any) -> dict[str, Any]:
    step = {
        "name": name,
        "kind": "plug_and_play",
        "prior": prior,
        "statistics": "out/statistics.json",
        "tile_size": 96,
        "halo": 16,
        "optimiser": {"steps": 3, "refine": {"t": 20, "steps": 2}},
        "constraints": {
            "weak_kl": 1.0,
            "statistics": 1.0,
            "clusters": 0.5,
            "nmi": 0.5,
            "colour_model": 1.0,
        },
        "colour_refinement": {"iterations": 2, "pseudo_count": 100},
        "outputs": {
            "class_map": f"out/{name}.tif",
            "probabilities": f"out/{name}-probabilities.tif",
        },
    }
    step.update(changes)
    return step


def project(folder: Path, demo: DemoRegion, steps: list[dict[str, Any]], batch: int = 4) -> Path:
    return demo_project(folder, demo, steps=steps, workers=1, batch_size=batch)


STATISTICS = {
    "name": "statistics",
    "kind": "label_statistics",
    "cell": 32,
    "outputs": {"statistics": "out/statistics.json"},
}


@pytest.fixture(scope="module")
def transfer(tmp_path_factory: pytest.TempPathFactory, demo: DemoRegion) -> Path:
    """The whole chain once: statistics, two baselines, both priors, the comparison."""
    folder = tmp_path_factory.mktemp("transfer")
    steps = [
        STATISTICS,
        {
            "name": "weak",
            "kind": "weak_argmax",
            "tile_size": 128,
            "outputs": {"class_map": "out/weak.tif"},
        },
        {
            "name": "weak-colour",
            "kind": "weak_argmax",
            "tile_size": 128,
            "colour_refinement": {"iterations": 3, "pseudo_count": 100},
            "outputs": {"class_map": "out/weak-colour.tif"},
        },
        {
            "name": "vote",
            "kind": "colour_vote",
            "tile_size": 128,
            "outputs": {"class_map": "out/vote.tif"},
        },
        plug_and_play("labels", "demo-labels"),
        plug_and_play("joint", "demo-joint", constraints={"image": 1.0, "weak_kl": 1.0}),
        {
            "name": "compare",
            "kind": "compare",
            "steps": ["weak", "weak-colour", "vote", "labels", "joint"],
            "outputs": {"report": "out/compare.json", "figure": "out/compare.png"},
        },
    ]
    run_pipeline(project(folder, demo, steps), log=quiet)
    return folder / "out"


def test_statistics_are_fractions_per_code(transfer: Path) -> None:
    document = json.loads((transfer / "statistics.json").read_text())
    statistics = document["statistics"]
    assert document["cell_metres"] == 32
    assert len(statistics["codes"]) >= 3
    mean = np.array(statistics["mean"])
    np.testing.assert_allclose(mean.sum(axis=1), 1.0, atol=1e-9)
    assert (np.array(statistics["var"]) >= 1e-3).all()


@pytest.mark.parametrize("name", ["weak-colour", "vote", "labels", "joint"])
def test_maps_are_on_the_imagery_grid_with_known_classes(
    transfer: Path, demo: DemoRegion, name: str
) -> None:
    with rasterio.open(demo.imagery) as imagery, rasterio.open(transfer / f"{name}.tif") as mapped:
        assert mapped.crs == imagery.crs
        assert mapped.transform == imagery.transform
        assert mapped.shape == imagery.shape
        values = set(np.unique(mapped.read(1)).tolist())
        valid = imagery.read_masks(1) > 0
        assert (mapped.read(1)[~valid] == 0).all()
    assert values <= {0, 1, 2, 3, 4, 5}
    assert len(values - {0}) >= 2


@pytest.mark.parametrize("name", ["labels", "joint"])
def test_probabilities_sum_to_one(transfer: Path, name: str) -> None:
    with rasterio.open(transfer / f"{name}-probabilities.tif") as dataset:
        probabilities = dataset.read()
    total = probabilities.sum(axis=0)
    finite = np.isfinite(total)
    assert finite.mean() > 0.5
    np.testing.assert_allclose(total[finite], 1.0, atol=1e-4)


def test_the_comparison_scores_every_map(transfer: Path) -> None:
    document = json.loads((transfer / "compare.json").read_text())
    rows = {row["step"]: row for row in document["maps"]}
    assert set(rows) == {"weak", "weak-colour", "vote", "labels", "joint"}
    for row in rows.values():
        confusion = np.array(row["confusion"]["counts"])
        assert confusion.sum() == row["pixels"] > 0
        assert row["accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
    markdown = (transfer / "compare.md").read_text()
    assert "| labels (plug_and_play) |" in markdown
    assert (transfer / "compare.png").stat().st_size > 10_000


def test_class_colour_models_sharpen_the_weak_labels(transfer: Path) -> None:
    """On the demo source, where colours tell the classes apart, reading the weak labels out
    through per-tile class colour models is more accurate than their argmax."""
    document = json.loads((transfer / "compare.json").read_text())
    rows = {row["step"]: row for row in document["maps"]}
    assert rows["weak-colour"]["accuracy"] > rows["weak"]["accuracy"] + 0.02
    assert rows["weak-colour"]["miou"] > rows["weak"]["miou"]


def test_the_map_does_not_depend_on_the_batch_size(
    transfer: Path, demo: DemoRegion, tmp_path: Path
) -> None:
    steps = [STATISTICS, plug_and_play("labels", "demo-labels")]
    run_pipeline(project(tmp_path, demo, steps, batch=1), log=quiet)
    with rasterio.open(tmp_path / "out" / "labels-probabilities.tif") as alone:
        one_by_one = alone.read()
    with rasterio.open(transfer / "labels-probabilities.tif") as batched:
        together = batched.read()
    # The same seeds and data; only the last bits of a batch's float sums differ with its
    # batch-mates, and the optimiser's steps carry that to a few 1e-4 at a few pixels.
    np.testing.assert_allclose(one_by_one, together, atol=1e-3, equal_nan=True)
    assert np.nanmean(np.abs(one_by_one - together)) < 1e-5
    with (
        rasterio.open(tmp_path / "out" / "labels.tif") as alone,
        rasterio.open(transfer / "labels.tif") as batched,
    ):
        assert (alone.read() != batched.read()).mean() < 1e-4


def test_a_prior_of_other_classes_is_refused(demo: DemoRegion, tmp_path: Path) -> None:
    steps = [plug_and_play("ches", "chesapeake-labels", statistics=None, constraints={})]
    with pytest.raises(ConfigError, match="trained on classes"):
        run_pipeline(project(tmp_path, demo, steps), log=quiet)
    assert not list((tmp_path / "out").iterdir())


def test_statistics_switched_on_without_a_file_is_a_config_error(
    demo: DemoRegion, tmp_path: Path
) -> None:
    steps = [plug_and_play("labels", "demo-labels", statistics=None)]
    with pytest.raises(ConfigError, match="no `statistics` file"):
        run_pipeline(project(tmp_path, demo, steps), Overrides(), log=quiet)
