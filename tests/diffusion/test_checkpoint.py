"""The checkpoint: a bit-exact round trip, layout checks that name the key, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from geoppp.diffusion import (
    ChannelNormalisation,
    DenoiserConfig,
    NoiseSchedule,
    build_denoiser,
    load_checkpoint,
    save_checkpoint,
)
from geoppp.diffusion.denoiser import Denoiser
from geoppp.errors import CheckpointError, GeopppError

LAYOUT = {"bands": ["red", "green", "blue"], "classes": ["water", "forest"], "mode": "joint"}
NORMALISATION = ChannelNormalisation((0.1, 0.2, 0.3), (1.0, 2.0, 0.5))


def random_model(config: DenoiserConfig, seed: int = 0) -> Denoiser:
    torch.manual_seed(seed)
    model = build_denoiser(config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_()
    return model


@pytest.fixture
def saved(tmp_path: Path, tiny_config: DenoiserConfig) -> tuple[Path, Denoiser]:
    model = random_model(tiny_config)
    path = save_checkpoint(
        tmp_path / "prior.safetensors",
        model,
        NoiseSchedule.cosine(500),
        LAYOUT,
        NORMALISATION,
        1234,
    )
    return path, model


def test_round_trip_is_exact(saved: tuple[Path, Denoiser], tiny_config: DenoiserConfig) -> None:
    path, model = saved
    loaded = load_checkpoint(path, expected_layout=LAYOUT)
    assert loaded.config == tiny_config
    assert loaded.schedule == NoiseSchedule.cosine(500)
    assert loaded.layout == LAYOUT
    assert loaded.normalisation == NORMALISATION
    assert loaded.step == 1234 and loaded.format_version == 1 and loaded.path == path
    original, restored = model.state_dict(), loaded.model.state_dict()
    assert original.keys() == restored.keys()
    for name, tensor in original.items():
        assert torch.equal(tensor, restored[name]), name
    assert not loaded.model.training
    assert not any(p.requires_grad for p in loaded.model.parameters())
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([7, 300])
    model.eval()
    assert torch.equal(model(x, t), loaded.model(x, t))


def test_metadata_is_readable_json(saved: tuple[Path, Denoiser]) -> None:
    path, _ = saved
    with safe_open(path, framework="pt") as handle:
        metadata = handle.metadata()
    assert metadata["format"] == "geoppp.diffusion.denoiser"
    assert json.loads(metadata["layout"]) == LAYOUT
    assert json.loads(metadata["normalisation"]) == {"mean": [0.1, 0.2, 0.3], "std": [1, 2, 0.5]}
    assert json.loads(metadata["schedule"])["kind"] == "cosine"
    assert json.loads(metadata["denoiser_config"])["base_channels"] == 16
    assert metadata["step"] == "1234"


def test_a_different_layout_is_named_key_by_key(saved: tuple[Path, Denoiser]) -> None:
    path, _ = saved
    expected = {"classes": ["water", "forest", "field"], "mode": "joint"}
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path, expected_layout=expected)
    message = str(caught.value)
    assert (
        f"checkpoint {path} was trained on classes ['water', 'forest'] but "
        "['water', 'forest', 'field'] was expected" in message
    )
    assert "mode" not in message


def test_a_key_missing_from_the_layout_is_named(saved: tuple[Path, Denoiser]) -> None:
    path, _ = saved
    with pytest.raises(CheckpointError, match=r"records no 'resolution'.*but 1\.0 was expected"):
        load_checkpoint(path, expected_layout={"resolution": 1.0})


def test_tuples_in_the_expected_layout_compare_as_lists(saved: tuple[Path, Denoiser]) -> None:
    path, _ = saved
    load_checkpoint(path, expected_layout={"classes": ("water", "forest")})


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere.safetensors")


def test_truncated_file(saved: tuple[Path, Denoiser]) -> None:
    path, _ = saved
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"not a readable safetensors file.*truncated"):
        load_checkpoint(path)


def test_not_a_safetensors_file(tmp_path: Path) -> None:
    path = tmp_path / "prior.safetensors"
    path.write_text("hello")
    with pytest.raises(GeopppError, match="not a readable safetensors"):
        load_checkpoint(path)


def test_safetensors_from_elsewhere(tmp_path: Path) -> None:
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, path, metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="not a geoppp denoiser checkpoint"):
        load_checkpoint(path)


def test_newer_format_version(saved: tuple[Path, Denoiser]) -> None:
    path, _ = saved
    with safe_open(path, framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    save_file(tensors, path, metadata={**metadata, "format_version": "2"})
    with pytest.raises(CheckpointError, match=r"format version 2.*upgrade geoppp"):
        load_checkpoint(path)


def test_weights_that_do_not_fit_the_config(saved: tuple[Path, Denoiser]) -> None:
    path, _ = saved
    with safe_open(path, framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    tensors.pop("unet.conv_in.weight")
    save_file(tensors, path, metadata=metadata)
    with pytest.raises(CheckpointError, match="do not fit its own denoiser_config"):
        load_checkpoint(path)


def test_save_is_atomic(
    tmp_path: Path, tiny_config: DenoiserConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A save that fails half-way leaves the previous checkpoint and no stray files."""
    path = tmp_path / "prior.safetensors"
    save_checkpoint(path, random_model(tiny_config, 1), NoiseSchedule.linear(), {}, None, 1)
    before = path.read_bytes()

    def write_half_then_fail(tensors: object, filename: Path, metadata: object) -> None:
        Path(filename).write_bytes(before[: len(before) // 2])
        raise OSError("disk full")

    monkeypatch.setattr("geoppp.diffusion.checkpoint.save_file", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, random_model(tiny_config, 2), NoiseSchedule.linear(), {}, None, 2)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prior.safetensors"]
    with pytest.raises(ValueError, match="JSON-serialisable"):
        save_checkpoint(
            path, random_model(tiny_config, 2), NoiseSchedule.linear(), {"x": object()}, None, 2
        )


def test_normalisation_must_fit_the_model(tmp_path: Path, tiny_config: DenoiserConfig) -> None:
    with pytest.raises(ValueError, match="normalisation has 2 channels but the model has 3"):
        save_checkpoint(
            tmp_path / "p.safetensors",
            random_model(tiny_config),
            NoiseSchedule.linear(),
            {},
            ChannelNormalisation((0, 0), (1, 1)),
            0,
        )


def test_normalisation_round_trip_and_inverse() -> None:
    x = torch.randn(2, 3, 4, 4)
    again = ChannelNormalisation.from_dict(NORMALISATION.to_dict())
    assert again == NORMALISATION
    torch.testing.assert_close(NORMALISATION.denormalise(NORMALISATION.normalise(x)), x)
    assert NORMALISATION.normalise(torch.full((3, 1, 1), 0.3))[2].item() == pytest.approx(0.0)
    with pytest.raises(ValueError, match="positive"):
        ChannelNormalisation((0.0,), (0.0,))


def test_a_checkpoint_is_readable_by_others(saved: tuple[Path, Denoiser]) -> None:
    path, _ = saved
    assert path.stat().st_mode & 0o044 == 0o044  # group and others may read a shared prior
