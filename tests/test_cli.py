"""The `geoppp` command, called in-process (and once as the installed console script)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from geoppp.cli import main
from geoppp.landcover.synthetic import DemoRegion, make_demo_region
from tests.regions import demo_project, pipeline_document, write_yaml


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRegion:
    return make_demo_region(tmp_path_factory.mktemp("demo") / "demo", "source", 128)


def read_pixels(path: Path) -> np.ndarray:
    with rasterio.open(path) as dataset:
        return np.asarray(dataset.read())


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "geoppp"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "geoppp.cli"]

    completed = subprocess.run(
        [*command, "--help"], capture_output=True, text=True, timeout=60, check=False
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("usage: geoppp")
    for command_name in ("run", "validate", "make-demo-region", "demo"):
        assert command_name in completed.stdout


def test_validate_a_good_region_and_pipeline(
    tmp_path: Path, demo: DemoRegion, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline = demo_project(tmp_path, demo)

    assert main(["validate", str(tmp_path / "region.yaml")]) == 0
    region_out = capsys.readouterr()
    assert main(["validate", str(pipeline)]) == 0
    pipeline_out = capsys.readouterr()

    assert "inputs OK" in region_out.out
    assert str(tmp_path / "region.yaml") in region_out.out
    assert "inputs and outputs OK" in pipeline_out.out
    assert str(pipeline) in pipeline_out.out
    assert region_out.err == pipeline_out.err == ""
    assert list((tmp_path / "out").iterdir()) == []  # validating writes nothing


def test_validate_a_bad_yaml_exits_2_naming_the_file(
    tmp_path: Path, demo: DemoRegion, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline = demo_project(tmp_path, demo)
    write_yaml(pipeline, pipeline_document(tile_sise=128))

    code = main(["validate", str(pipeline)])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.startswith(f"geoppp: error: {pipeline}: 1 problem(s)")
    assert "`steps[0].tile_sise`: unknown key" in captured.err
    assert "did you mean `tile_size`?" in captured.err


def test_validate_a_yaml_syntax_error_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "region.yaml"
    broken.write_text("name: demo\nimagery: [\n")

    code = main(["validate", str(broken)])

    assert code == 2
    err = capsys.readouterr().err
    assert f"{broken}: line" in err
    assert "not valid YAML" in err


def test_validate_refuses_an_existing_output_unless_told(
    tmp_path: Path, demo: DemoRegion, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline = demo_project(tmp_path, demo)
    (tmp_path / "out" / "map.tif").write_bytes(b"old")

    assert main(["validate", str(pipeline)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["validate", "--overwrite", str(pipeline)]) == 0
    assert (tmp_path / "out" / "map.tif").read_bytes() == b"old"


def test_run_writes_the_map_and_refuses_to_overwrite_it(
    tmp_path: Path, demo: DemoRegion, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline = demo_project(tmp_path, demo)
    output = tmp_path / "out" / "map.tif"

    assert main(["run", str(pipeline), "--no-progress", "--workers", "1"]) == 0
    first = capsys.readouterr()
    assert output.is_file()
    assert f"wrote {output}" in first.out
    assert "impervious" in first.out
    class_map = read_pixels(output)
    assert class_map.shape == (1, 128, 128)
    assert set(np.unique(class_map)) <= {0, 1, 2, 3, 4, 5}
    assert (class_map > 0).mean() > 0.9
    written_at = output.stat().st_mtime_ns

    assert main(["run", str(pipeline), "--no-progress"]) == 2
    second = capsys.readouterr()
    assert "already exists" in second.err
    assert "overwrite" in second.err
    assert str(output) in second.err
    assert output.stat().st_mtime_ns == written_at

    assert main(["run", str(pipeline), "--no-progress", "--overwrite", "--batch-size", "2"]) == 0
    assert np.array_equal(read_pixels(output), class_map)
    assert sorted(p.name for p in output.parent.iterdir()) == [
        "map.qml",
        "map.tif",
        "map.tif.aux.xml",
    ]


def test_run_reports_a_missing_input_without_a_traceback(
    tmp_path: Path, demo: DemoRegion, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline = demo_project(tmp_path, demo)
    (tmp_path / "demo" / "nlcd.tif").unlink()

    assert main(["run", str(pipeline), "--no-progress"]) == 2

    err = capsys.readouterr().err
    assert err.startswith("geoppp: error: raster not found")
    assert str(tmp_path / "demo" / "nlcd.tif") in err
    assert "Traceback" not in err
    assert list((tmp_path / "out").iterdir()) == []


def test_make_demo_region_writes_both_domains_deterministically_under_a_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = {"a": ("both", "3"), "b": ("target", "3"), "c": ("target", "4")}
    for name, (domain, seed) in runs.items():
        arguments = ["--out", str(tmp_path / name), "--domain", domain, "--seed", seed]
        assert main(["make-demo-region", *arguments, "--size", "128"]) == 0
    out = capsys.readouterr().out
    assert f"wrote the source demo region to {tmp_path / 'a' / 'source'}" in out
    assert f"wrote the target demo region to {tmp_path / 'a' / 'target'}" in out

    files = ("imagery.tif", "labels.tif", "nlcd.tif", "roads.gpkg", "buildings.gpkg", "water.gpkg")
    for domain in ("source", "target"):
        for name in files:
            assert (tmp_path / "a" / domain / name).is_file()
    assert not (tmp_path / "b" / "source").exists()
    first, again, other = (
        read_pixels(tmp_path / name / "target" / "imagery.tif") for name in ("a", "b", "c")
    )
    assert first.shape == (4, 128, 128)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(first, read_pixels(tmp_path / "a" / "source" / "imagery.tif"))


def test_make_demo_region_refuses_a_tiny_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["make-demo-region", "--out", str(tmp_path), "--size", "16"]) == 2

    assert "size 16: a demo region needs at least" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_missing_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main([])

    assert raised.value.code == 2
    assert "usage: geoppp" in capsys.readouterr().err
