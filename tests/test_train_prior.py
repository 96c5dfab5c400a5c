"""The train_prior pipeline step and `geoppp sample`, on a small synthetic source region."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml

from geoppp.cli import main
from geoppp.diffusion.checkpoint import load_checkpoint
from geoppp.errors import CheckpointError, ConfigError, OutputError
from geoppp.landcover.normalisation import Normalisation
from geoppp.landcover.patches import PatchLayout
from geoppp.landcover.sample_grid import patch_pictures
from geoppp.landcover.synthetic import make_demo_region
from geoppp.pipeline import Overrides, check_file, run_pipeline

TINY_DENOISER = {
    "base_channels": 8,
    "channel_multipliers": [1, 2],
    "layers_per_block": 1,
    "attention_resolutions": [],
    "norm_groups": 4,
}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("source")
    make_demo_region(folder / "data", domain="source", size=256, seed=1)
    return folder


def write_pipeline(folder: Path, steps: int, ground_truth: bool = True, **denoiser: object) -> Path:
    region = {
        "name": "tiny-source",
        "imagery": {
            "paths": ["data/imagery.tif"],
            "bands": [1, 2, 3, 4],
            "band_names": ["red", "green", "blue", "nir"],
        },
        "classes": "enviroatlas-5",
        "weak_labels": [{"kind": "nlcd", "path": "data/nlcd.tif", "table": "pittsburgh_pa"}],
    }
    if ground_truth:
        region["ground_truth"] = {"path": "data/labels.tif"}
    (folder / "region.yaml").write_text(yaml.safe_dump(region))
    pipeline = {
        "region": "region.yaml",
        "execution": {"progress": False},
        "steps": [
            {
                "name": "train",
                "kind": "train_prior",
                "patches": {"mode": "joint", "gsd": 4.0, "size": 16},
                "denoiser": {**TINY_DENOISER, **denoiser},
                "timesteps": 50,
                "training": {
                    "steps": steps,
                    "batch_size": 4,
                    "seed": 3,
                    "checkpoint_every": 2,
                    "log_every": 2,
                },
                "outputs": {
                    "checkpoint": "prior.safetensors",
                    "samples": "samples.png",
                    "sample_steps": 5,
                },
            }
        ],
    }
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(pipeline))
    return path


def quiet(line: str) -> None:
    del line


def test_a_prior_is_trained_checkpointed_resumed_and_sampled(source: Path) -> None:
    pipeline = write_pipeline(source, steps=4)
    assert "OK" in check_file(pipeline)[0]

    (report,) = run_pipeline(pipeline, log=quiet)

    assert report.training is not None and report.training.step == 4
    checkpoint = load_checkpoint(source / "prior.safetensors")
    layout = PatchLayout.from_dict(checkpoint.layout)
    assert (layout.mode, layout.size, layout.channels, layout.gsd) == ("joint", 16, 9, 4.0)
    assert layout.class_names == ("water", "impervious", "barren", "trees", "grass")
    assert layout.normalisation is not None and len(layout.normalisation.mean) == 4
    assert len(checkpoint.layout["class_colours"]) == 5
    with rasterio.open(source / "samples.png") as png:
        assert png.count == 3 and png.width > 16 * 4

    # More steps resume from step 4 instead of starting again (the samples are redrawn).
    pipeline = write_pipeline(source, steps=6)
    with pytest.raises(OutputError, match=r"samples\.png already exists"):
        run_pipeline(pipeline, log=quiet)
    (report,) = run_pipeline(pipeline, Overrides(overwrite=True), log=quiet)
    assert report.training is not None
    assert report.training.resumed_from == 4 and report.training.step == 6


def test_geoppp_sample_writes_a_grid(source: Path, tmp_path: Path) -> None:
    checkpoint = source / "prior.safetensors"
    if not checkpoint.exists():
        run_pipeline(write_pipeline(source, steps=2), log=quiet)
    out = tmp_path / "grid.png"

    assert main(["sample", str(checkpoint), "-n", "3", "--steps", "4", "--out", str(out)]) == 0

    with rasterio.open(out) as png:
        picture = png.read()
    assert picture.shape[0] == 3 and picture.shape[2] > picture.shape[1]  # 3 patches in a row


def test_a_prior_needs_ground_truth(tmp_path: Path, source: Path) -> None:
    (tmp_path / "data").symlink_to(source / "data")
    pipeline = write_pipeline(tmp_path, steps=2, ground_truth=False)
    with pytest.raises(ConfigError, match="no ground_truth"):
        check_file(pipeline)


def test_a_bad_denoiser_option_names_the_field(tmp_path: Path, source: Path) -> None:
    (tmp_path / "data").symlink_to(source / "data")
    pipeline = write_pipeline(tmp_path, steps=2, norm_groups=3)
    with pytest.raises(ConfigError, match="denoiser"):
        check_file(pipeline)
    assert not (tmp_path / "prior.safetensors").exists()


def test_patch_pictures_show_imagery_and_labels() -> None:
    layout = PatchLayout(
        mode="joint",
        gsd=4.0,
        size=2,
        n_classes=2,
        bands=(1, 2, 3),
        band_names=("red", "green", "blue"),
        normalisation=Normalisation((100.0, 100.0, 100.0), (10.0, 10.0, 10.0)),
    )
    patch = np.zeros((1, 5, 2, 2), dtype=np.float32)
    patch[0, 0] = 1.0  # red at the top of its range, green and blue in the middle
    patch[0, 3] = [[1, -1], [1, -1]]  # class 0 on the left
    patch[0, 4] = -patch[0, 3]  # class 1 on the right

    (picture,) = patch_pictures(patch, layout, [(10, 20, 30), (200, 100, 0)])

    rgb, labels = picture[:, :, :2], picture[:, :, -2:]
    assert (rgb[0] == 255).all() and (rgb[1] == 128).all() and (rgb[2] == 128).all()
    assert tuple(labels[:, 0, 0]) == (10, 20, 30) and tuple(labels[:, 0, 1]) == (200, 100, 0)


def test_a_checkpoint_of_other_classes_is_not_resumed(tmp_path: Path, source: Path) -> None:
    (tmp_path / "data").symlink_to(source / "data")
    run_pipeline(write_pipeline(tmp_path, steps=2), log=quiet)
    pipeline = write_pipeline(tmp_path, steps=4)  # rewrites region.yaml, changed below
    region = yaml.safe_load((tmp_path / "region.yaml").read_text())
    region["classes"] = {
        "classes": [
            {"value": v, "name": n, "colour": "#123456"}
            for v, n in enumerate(["wet", "built", "bare", "woody", "herb"], start=1)
        ]
    }
    region["weak_labels"] = []
    (tmp_path / "region.yaml").write_text(yaml.safe_dump(region))

    with pytest.raises(CheckpointError, match="class_names"):
        check_file(pipeline, Overrides(overwrite=True))
