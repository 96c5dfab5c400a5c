"""`geoppp transfer`: from a labelled source region to a mapped target, with a cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rasterio

import geoppp
from geoppp.cli import main
from geoppp.errors import ConfigError
from geoppp.landcover.synthetic import DemoRegion, make_demo_region

TINY = {"optimiser": {"steps": 2}}
NETWORK = {"steps": 2}


@pytest.fixture(scope="module")
def regions(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoRegion, DemoRegion]:
    folder = tmp_path_factory.mktemp("regions")
    return (
        make_demo_region(folder / "source", "source", 256),
        make_demo_region(folder / "target", "target", 256),
    )


def test_transfer_maps_the_target_and_a_second_run_reuses_the_source(
    tmp_path: Path, regions: tuple[DemoRegion, DemoRegion]
) -> None:
    source, target = regions
    lines: list[str] = []
    first = geoppp.transfer(
        source.region_yaml,
        target.region_yaml,
        tmp_path / "maps" / "target.tif",
        probabilities=tmp_path / "maps" / "target-probabilities.tif",
        settings=TINY,
        network_training=NETWORK,
        progress=False,
        log=lines.append,
    )
    assert not first.source.reused
    assert first.source.prior == "demo-labels"  # shipped, the target's classes, label-only
    assert first.source.statistics is not None and first.source.statistics.is_file()
    assert first.source.network.is_file()
    assert set(first.seconds) >= {"statistics", "network", "mapping"}
    [result] = first.results
    with rasterio.open(result.class_map) as mapped, rasterio.open(target.imagery) as imagery:
        assert mapped.crs == imagery.crs
        assert mapped.transform == imagery.transform
        assert mapped.shape == imagery.shape
        assert set(mapped.read(1).ravel()) <= {0, 1, 2, 3, 4, 5}
    assert (tmp_path / "maps" / "target-probabilities.tif").is_file()
    trained_at = first.source.network.stat().st_mtime_ns

    lines.clear()
    second = geoppp.transfer(
        source.region_yaml,
        target.region_yaml,
        tmp_path / "maps" / "again.tif",
        settings=TINY,
        network_training=NETWORK,
        progress=False,
        log=lines.append,
    )
    assert second.source.reused
    assert second.source.folder == first.source.folder
    assert any("reusing what source demo-source gave" in line for line in lines)
    assert not any("train" in line.lower() and "step" in line for line in lines)
    assert second.source.network.stat().st_mtime_ns == trained_at  # not trained again
    assert set(second.seconds) == {"mapping", "total"}


def test_the_command_line_runs_a_transfer_and_names_the_stages(
    tmp_path: Path, regions: tuple[DemoRegion, DemoRegion], capsys: pytest.CaptureFixture
) -> None:
    source, target = regions
    cache = tmp_path / "cache"
    arguments = [
        "transfer",
        "--source",
        str(source.region_yaml),
        "--target",
        str(target.region_yaml),
        "--cache",
        str(cache),
        "--steps",
        "2",
        "--network-steps",
        "2",
        "--no-progress",
    ]
    assert main([*arguments, "--out", str(tmp_path / "first.tif")]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "first.tif").is_file()
    assert "transfer: 1 map(s), 0.066 km²" in out
    assert "statistics" in out and "network" in out and "mapping" in out
    [folder] = cache.iterdir()
    assert json.loads((folder / "done.json").read_text())["prior"] == "demo-labels"

    assert main([*arguments, "--out", str(tmp_path / "second.tif")]) == 0
    out = capsys.readouterr().out
    assert "reusing what source demo-source gave" in out
    assert "network" not in out.splitlines()[-1]  # no stage but the mapping was timed
    assert len(list(cache.iterdir())) == 1


def test_a_source_of_other_classes_is_refused_before_any_training(
    tmp_path: Path, regions: tuple[DemoRegion, DemoRegion]
) -> None:
    source, target = regions
    other = source.region_yaml.with_name("other-classes.yaml")
    other.write_text(source.region_yaml.read_text().replace("enviroatlas-5", "chesapeake-4"))
    with pytest.raises(ConfigError, match="classes"):
        geoppp.transfer(other, target.region_yaml, tmp_path / "x.tif", log=lambda line: None)
    assert not (tmp_path / "transfer-cache").exists()
