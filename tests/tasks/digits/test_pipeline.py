from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from geoppp.cli import main
from geoppp.diffusion.checkpoint import load_checkpoint
from geoppp.errors import ConfigError
from geoppp.pipeline import Overrides, check_file, run_pipeline
from geoppp.tasks.digits.pipeline import LAYOUT

REPOSITORY = Path(__file__).resolve().parents[3]

TINY_PRIOR = """\
task: digits
steps:
  - name: prior
    kind: train_prior
    denoiser: {{base_channels: 8, channel_multipliers: [1], layers_per_block: 1,
               attention_resolutions: [], norm_groups: 8}}
    training: {{steps: {steps}, batch_size: 2, checkpoint_every: 1, device: cpu}}
    checkpoint: prior.safetensors
"""


def test_shipped_digits_pipelines_validate() -> None:
    for name in ("digits-train.yaml", "digits-classifiers.yaml"):
        # --overwrite: the shipped checkpoints exist (the prior without its resume state).
        lines = check_file(REPOSITORY / "pipelines" / name, Overrides(overwrite=True))
        assert lines and all("OK" in line for line in lines)


def test_a_digits_pipeline_trains_and_resumes_a_prior(tmp_path: Path) -> None:
    pipeline = tmp_path / "train.yaml"
    pipeline.write_text(TINY_PRIOR.format(steps=2))
    lines: list[str] = []
    run_pipeline(pipeline, log=lines.append)
    checkpoint = load_checkpoint(tmp_path / "prior.safetensors", expected_layout=LAYOUT)
    assert checkpoint.step == 2 and checkpoint.config.in_channels == 1
    pipeline.write_text(TINY_PRIOR.format(steps=3))
    run_pipeline(pipeline, log=lines.append)
    assert load_checkpoint(tmp_path / "prior.safetensors").step == 3
    assert "trained to step 3" in lines[-1]


def test_a_bad_key_is_named_with_its_field(tmp_path: Path) -> None:
    pipeline = tmp_path / "bad.yaml"
    pipeline.write_text(TINY_PRIOR.format(steps=2).replace("checkpoint_every", "checkpoint_evry"))
    with pytest.raises(ConfigError, match=r"steps\[0\]\.training\.checkpoint_evry`: unknown key"):
        check_file(pipeline)


def test_generate_writes_a_png_grid(tmp_path: Path) -> None:
    out = tmp_path / "grid.png"
    argv = ["digits", "generate", "--digit", "3", "--symmetric", "-n", "4", "--steps", "2"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    with Image.open(out) as image:
        assert image.size == (2 * 34 + 2, 2 * 34 + 2)  # 2 × 2 digits of 32 px, 2 px apart
    assert main([*argv, "--out", str(out), "--no-progress"]) == 2  # refuses to overwrite


def test_generate_without_a_constraint_says_what_to_give(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["digits", "generate", "--out", str(tmp_path / "grid.png")]) == 2
    assert "give --digit, --symmetric or --inpaint" in capsys.readouterr().err
