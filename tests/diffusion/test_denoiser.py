"""The U-Net: shapes, the block layout a config asks for, validation, initialisation."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from geoppp.diffusion import DenoiserConfig, build_denoiser
from geoppp.diffusion.denoiser import unet_arguments


def test_forward_returns_a_tensor_of_the_input_shape(tiny_config: DenoiserConfig) -> None:
    model = build_denoiser(tiny_config)
    x = torch.randn(2, 3, 16, 16)
    out = model(x, torch.tensor([0, 999]))
    assert isinstance(out, torch.Tensor)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert model(x, torch.tensor(5)).shape == x.shape


def test_attention_goes_where_the_config_says() -> None:
    config = DenoiserConfig(
        in_channels=9,
        sample_size=64,
        base_channels=32,
        channel_multipliers=(1, 2, 3, 4),
        attention_resolutions=(16, 8),
    )
    arguments = unet_arguments(config)
    assert config.level_sizes == (64, 32, 16, 8)
    assert arguments["block_out_channels"] == (32, 64, 96, 128)
    assert arguments["down_block_types"] == (
        "DownBlock2D",
        "DownBlock2D",
        "AttnDownBlock2D",
        "AttnDownBlock2D",
    )
    assert arguments["up_block_types"] == (
        "AttnUpBlock2D",
        "AttnUpBlock2D",
        "UpBlock2D",
        "UpBlock2D",
    )
    assert arguments["in_channels"] == arguments["out_channels"] == 9


def test_a_fresh_denoiser_predicts_zero_noise(tiny_config: DenoiserConfig) -> None:
    """DDPM's zero initialisation of the output layer: the loss starts at exactly 1."""
    model = build_denoiser(tiny_config)
    out = model(torch.randn(2, 3, 16, 16), torch.tensor([3, 500]))
    assert torch.equal(out, torch.zeros_like(out))
    assert any(p.abs().sum() > 0 for p in model.parameters())


def test_wrong_input_shapes_are_refused(tiny_config: DenoiserConfig) -> None:
    model = build_denoiser(tiny_config)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.randn(2, 4, 16, 16), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match=r"t of shape \(2,\)"):
        model(torch.randn(2, 3, 16, 16), torch.tensor([1, 2, 3]))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sample_size": 20, "channel_multipliers": (1, 2, 2, 2)}, "divisible by 2\\*\\*3"),
        ({"attention_resolutions": (4,)}, r"name no level.*\[16, 8\]"),
        ({"norm_groups": 32}, "norm_groups 32 does not divide"),
        ({"channel_multipliers": ()}, "at least 1"),
        ({"depth": 3}, "Extra inputs are not permitted"),
    ],
)
def test_bad_configs_say_what_is_wrong(
    tiny_config: DenoiserConfig, change: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        DenoiserConfig.model_validate({**tiny_config.model_dump(), **change})
