"""The YAML reference is generated from the models, and the README carries the current one."""

from __future__ import annotations

from pathlib import Path

import pytest

from geoppp.cli import main
from geoppp.config import ExecutionConfig, PlugAndPlayStep, RegionConfig
from geoppp.config_reference import END, START, readme_section, update_readme, yaml_reference

README = Path(__file__).parent.parent / "README.md"


def test_readme_carries_the_current_reference() -> None:
    assert readme_section(README) == yaml_reference(), (
        "the README's YAML reference is stale: run `geoppp config-reference --readme README.md`"
    )


def test_reference_documents_every_key_and_step_kind() -> None:
    reference = yaml_reference()
    for model in (RegionConfig, PlugAndPlayStep, ExecutionConfig):
        for name in model.model_fields:
            assert f"| `{name}` |" in reference
    for kind in ("weak_argmax", "colour_vote", "plug_and_play", "train_prior", "compare"):
        assert f"(kind: `{kind}`)" in reference
    # a default and a description make it into the table row
    assert "| `batch_size` | int | `8` | Tiles per model call. |" in reference


def test_update_readme_replaces_only_the_generated_part(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{START}\nold\n{END}\n\nafter\n")
    update_readme(readme, "new\n")
    assert readme.read_text() == f"# title\n\n{START}\nnew\n{END}\n\nafter\n"
    assert main(["config-reference"]) == 0
    assert capsys.readouterr().out == yaml_reference()
