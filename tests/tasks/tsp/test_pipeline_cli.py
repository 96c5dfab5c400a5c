"""The `task: tsp` pipeline and the `geoppp tsp` commands, end to end on tiny settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from geoppp.cli import main
from geoppp.diffusion import load_checkpoint
from geoppp.errors import ConfigError
from geoppp.pipeline import check_file, run_pipeline

from .conftest import TINY_DENOISER


def pipeline(tmp_path: Path, **changes: object) -> Path:
    document = {
        "task": "tsp",
        "data": {"nodes": 8, "instances": 3, "seed": 0, "solver_seconds": 0.01},
        "denoiser": TINY_DENOISER,
        "training": {"steps": 2, "batch_size": 2, "seed": 0, "device": "cpu"},
        "checkpoint": "prior.safetensors",
        **changes,
    }
    path = tmp_path / "tsp.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_pipeline_trains_a_prior_with_the_tsp_layout(tmp_path: Path) -> None:
    path = pipeline(tmp_path)
    assert "TSP-8 prior" in check_file(path)[0]
    lines: list[str] = []
    run_pipeline(path, log=lines.append)
    prior = load_checkpoint(tmp_path / "prior.safetensors")
    assert prior.step == 2 and prior.layout["task"] == "tsp" and prior.layout["nodes"] == 8
    assert prior.config.sample_size == 64 and prior.layout["image_size"] == 64
    assert any("trained to step 2" in line for line in lines)


def test_pipeline_errors_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"denoiser: norm_groups 5 does not divide"):
        check_file(pipeline(tmp_path, denoiser={**TINY_DENOISER, "norm_groups": 5}))
    with pytest.raises(ConfigError, match=r"data.nodes"):
        check_file(pipeline(tmp_path, data={"nodes": 2}))
    with pytest.raises(ConfigError, match="unknown key"):
        check_file(pipeline(tmp_path, extra=1))


def test_solve_command_prints_tour_and_length(
    tmp_path: Path, tiny_prior: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "square.csv"
    path.write_text("x,y\n0,0\n2,0\n2,2\n0,2\n1,-1\n")
    code = main(["tsp", "solve", str(path), "--prior", str(tiny_prior), "--steps", "2"])
    out = capsys.readouterr().out
    assert code == 0
    tour_line = next(line for line in out.splitlines() if line.startswith("tour"))
    assert sorted(int(n) for n in tour_line.split(":")[1].split()) == [1, 2, 3, 4, 5]
    assert "length 8.82843" in out  # the convex pentagon's perimeter: 2 + 2 + 2 + 2√2


def test_solve_command_reports_a_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "two.csv"
    path.write_text("0,0\n1,1\n")
    assert main(["tsp", "solve", str(path)]) == 2
    assert "at least 3" in capsys.readouterr().err


def test_eval_command_prints_the_table(
    tiny_prior: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["tsp", "eval", "--n", "8", "--instances", "3", "--steps", "2"]
    assert main([*arguments, "--prior", str(tiny_prior), "--no-progress"]) == 0
    out = capsys.readouterr().out
    for method in (
        "fast-tsp (reference) | ",
        "diffusion + greedy decode | ",
        "diffusion + greedy decode + 2-opt | ",
        "greedy edge + 2-opt | ",
        "greedy edge + 2-opt + Or-opt | ",
        "nearest neighbour + 2-opt | ",
        "random + 2-opt | ",
        "distance-init A, no prior: decode + 2-opt | ",
    ):
        assert f"| {method}" in out
    assert "| fast-tsp (reference) | " in out and "0.00 %" in out
