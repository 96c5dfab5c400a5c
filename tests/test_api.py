"""The public API: its docstring examples run, and it validates like the YAML does."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest
import rasterio
import yaml

import geoppp
from geoppp import api
from geoppp.cli import main
from geoppp.config import load_region
from geoppp.errors import ConfigError

# The examples build on each other (a region, then a map of it, then its scores).
EXAMPLE_ORDER = [
    "geoppp.api",
    "geoppp.api.make_demo_region",
    "geoppp.api.validate",
    "geoppp.api.load_region",
    "geoppp.api.preview_region",
    "geoppp.api.segment_region",
    "geoppp.api.evaluate",
    "geoppp.api.load_prior",
    "geoppp.api.sample_prior",
    "geoppp.api.train_prior",
    "geoppp.api.solve_tsp",
    "geoppp.api.generate_digits",
    "geoppp.api.evaluate_tsp",
    "geoppp.api.evaluate_digits",
]


def test_every_docstring_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    examples = {test.name: test for test in doctest.DocTestFinder().find(api) if test.examples}
    assert sorted(examples) == sorted(EXAMPLE_ORDER), "run every example, in order"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for name in EXAMPLE_ORDER:
        runner.run(examples[name])
    assert runner.failures == 0
    assert (tmp_path / "maps" / "weak.qml").is_file()


def test_the_package_exports_the_api() -> None:
    assert set(geoppp.__all__) == set(api.__all__)
    for name in geoppp.__all__:
        assert getattr(geoppp, name) is getattr(api, name)
    with pytest.raises(AttributeError, match="no attribute 'segment'"):
        _ = geoppp.segment  # type: ignore[attr-defined]


def test_demo_region_yaml_matches_the_checkout_regions(tmp_path: Path) -> None:
    files = api.make_demo_region(tmp_path / "t", "target", size=64)
    written = load_region(files.region_yaml)
    checkout = yaml.safe_load(
        (Path(__file__).parent.parent / "regions" / "demo-target.yaml").read_text()
    )
    assert written.name == checkout["name"]
    assert [w.kind for w in written.weak_labels] == [w["kind"] for w in checkout["weak_labels"]]
    assert written.weak_labels[0].table == checkout["weak_labels"][0]["table"]  # type: ignore[union-attr]
    assert written.imagery.paths == [files.imagery]


def test_segment_region_names_a_bad_setting(tmp_path: Path) -> None:
    files = api.make_demo_region(tmp_path / "t", "target", size=64)
    with pytest.raises(ConfigError, match=r"(?s)segment_region.*steps\[0\]\.optimiser\.stepz"):
        api.segment_region(
            files.region_yaml, tmp_path / "m.tif", settings={"optimiser": {"stepz": 3}}
        )
    with pytest.raises(ConfigError, match="no ground_truth"):
        region = yaml.safe_load(files.region_yaml.read_text())
        del region["ground_truth"]
        bare = files.region_yaml.with_name("bare.yaml")
        bare.write_text(yaml.safe_dump(region))
        api.evaluate(bare, tmp_path / "m.tif")
    assert not (tmp_path / "m.tif").exists()


def test_cli_segment_and_evaluate_map_a_region_with_the_prior(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = api.make_demo_region(tmp_path / "t", "target", size=160)
    out = tmp_path / "map.tif"
    argv = ["segment", str(files.region_yaml), "--out", str(out), "--prior", "demo-labels"]
    assert main([*argv, "--steps", "3", "--no-progress"]) == 0
    with rasterio.open(out) as dataset:
        assert (dataset.width, dataset.height) == (160, 160)
        assert dataset.crs.to_epsg() == 32612
        assert set(dataset.read(1).ravel().tolist()) <= {0, 1, 2, 3, 4, 5}
    assert main(["evaluate", str(files.region_yaml), str(out)]) == 0
    assert "accuracy 0." in capsys.readouterr().out
