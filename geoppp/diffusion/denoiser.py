"""The ε-prediction network ε_θ(x_t, t): a DDPM U-Net, built from an explicit configuration.

The network is diffusers' ``UNet2DModel`` (a well-kept implementation of the Ho et al. U-Net:
residual blocks with a sinusoidal time embedding, self-attention at chosen resolutions, a
mid block with attention). It is always built from a config, never downloaded. Not
hand-written: on this project's 2-core CPU, forward + backward of the reference-size U-Net
runs at 0.76 of plain matmul GFLOP/s (0.57 for a small (32, 64, 128) one; see
``tests/benchmarks/bench_training.py``), and the time is in oneDNN's convolutions, which a
hand-written U-Net would call just the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import torch
from diffusers.models.attention_processor import Attention
from diffusers.models.resnet import ResnetBlock2D
from diffusers.models.unets.unet_2d import UNet2DModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from torch import Tensor, nn

from geoppp.errors import ConfigError

PositiveInt = Annotated[int, Field(ge=1)]


class DenoiserConfig(BaseModel):
    """Size and shape of the U-Net. Frozen; refuses unknown keys.

    Level ``i`` of the U-Net works at ``sample_size / 2**i`` pixels with
    ``base_channels * channel_multipliers[i]`` channels; ``attention_resolutions`` names the
    levels (by their size in pixels) whose blocks get single-head self-attention, as in the
    DDPM paper (the mid block always has attention).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    in_channels: PositiveInt = Field(description="Channels of x (and of the predicted ε).")
    sample_size: PositiveInt = Field(description="Height = width of the training patches.")
    base_channels: PositiveInt = Field(64, description="Channels of the first level.")
    channel_multipliers: tuple[PositiveInt, ...] = Field(
        (1, 2, 3, 4), min_length=1, description="Channels of each level, in base_channels."
    )
    layers_per_block: PositiveInt = Field(2, description="Residual blocks per level.")
    attention_resolutions: tuple[PositiveInt, ...] = Field(
        (8,), description="Feature-map sizes (pixels) at which blocks get self-attention."
    )
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout in the residual blocks.")
    norm_groups: PositiveInt = Field(
        32, description="Groups of the group norms; must divide every level's channels."
    )

    @property
    def level_sizes(self) -> tuple[int, ...]:
        """Feature-map size in pixels at each level, from the input down."""
        return tuple(self.sample_size >> level for level in range(len(self.channel_multipliers)))

    @property
    def level_channels(self) -> tuple[int, ...]:
        return tuple(self.base_channels * m for m in self.channel_multipliers)

    @model_validator(mode="after")
    def _check_shape(self) -> DenoiserConfig:
        levels = len(self.channel_multipliers)
        if self.sample_size % (1 << (levels - 1)):
            raise ValueError(
                f"sample_size {self.sample_size} must be divisible by 2**{levels - 1} = "
                f"{1 << (levels - 1)} to go down {levels - 1} times; pick a patch size that "
                "is, or fewer channel_multipliers"
            )
        unknown = sorted(set(self.attention_resolutions) - set(self.level_sizes))
        if unknown:
            raise ValueError(
                f"attention_resolutions {unknown} name no level of this U-Net; its levels are "
                f"{list(self.level_sizes)} pixels"
            )
        bad = [c for c in self.level_channels if c % self.norm_groups]
        if bad:
            raise ValueError(
                f"norm_groups {self.norm_groups} does not divide the channels {bad}; choose "
                f"a divisor of {list(self.level_channels)} (e.g. 8 or 16 for small models)"
            )
        return self


class Denoiser(nn.Module):
    """ε_θ: ``forward(x, t) -> ε̂``, a thin wrapper that returns the tensor, not diffusers' output.

    Attributes:
        config: what it was built from (checkpoints store it).
        unet: the diffusers ``UNet2DModel``.
    """

    def __init__(self, config: DenoiserConfig) -> None:
        super().__init__()
        self.config = config
        self.unet = UNet2DModel(**unet_arguments(config))
        _zero_init_branch_outputs(self.unet)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """Predict the noise in ``x``.

        Args:
            x: (B, C, H, W) float, x_t, with C = ``config.in_channels``; H and W divisible by
                2**(levels - 1) (``sample_size`` itself is what training used).
            t: (B,) or 0-d integer timesteps in [0, T).

        Returns:
            (B, C, H, W) ε̂, the dtype of ``x`` (or the autocast dtype).
        """
        if x.ndim != 4 or x.shape[1] != self.config.in_channels:
            raise ValueError(
                f"denoiser expects x of shape (B, {self.config.in_channels}, H, W), "
                f"got {tuple(x.shape)}"
            )
        if t.ndim > 1 or (t.ndim == 1 and t.shape[0] != x.shape[0]):
            raise ValueError(
                f"denoiser expects t of shape ({x.shape[0]},) or 0-d, got {tuple(t.shape)}"
            )
        output: Tensor = self.unet(x, t, return_dict=False)[0]
        return output


def unet_arguments(config: DenoiserConfig) -> dict[str, Any]:
    """The explicit ``UNet2DModel`` keyword arguments for a config (no diffusers defaults relied
    on for the architecture)."""
    attention = set(config.attention_resolutions)
    down = tuple(
        "AttnDownBlock2D" if size in attention else "DownBlock2D" for size in config.level_sizes
    )
    up = tuple(
        "AttnUpBlock2D" if size in attention else "UpBlock2D"
        for size in reversed(config.level_sizes)
    )
    return {
        "sample_size": config.sample_size,
        "in_channels": config.in_channels,
        "out_channels": config.in_channels,
        "block_out_channels": config.level_channels,
        "layers_per_block": config.layers_per_block,
        "down_block_types": down,
        "up_block_types": up,
        "mid_block_type": "UNetMidBlock2D",
        "add_attention": True,
        "attention_head_dim": None,  # one head with all channels, as in the DDPM paper
        "norm_num_groups": config.norm_groups,
        "dropout": config.dropout,
        "time_embedding_type": "positional",
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "act_fn": "silu",
        "downsample_type": "conv",
        "upsample_type": "conv",
        "resnet_time_scale_shift": "default",
    }


def _zero_init_branch_outputs(unet: UNet2DModel) -> None:
    """Zero the last layer of every residual and attention branch, and the output conv.

    Ho et al.'s DDPM (and improved/guided-diffusion after it) initialise these to zero, so
    each block starts as the identity and the network as ε̂ = 0 (loss 1); diffusers leaves
    them random. On the tiny test model it also made fitting somewhat faster.
    """
    layers: list[nn.Module] = [unet.conv_out]
    for module in unet.modules():
        if isinstance(module, ResnetBlock2D):
            layers.append(module.conv2)
        elif isinstance(module, Attention):
            layers.append(module.to_out[0])
    for layer in layers:
        for parameter in layer.parameters():
            nn.init.zeros_(parameter)


def denoiser_config(
    settings: Mapping[str, Any], in_channels: int, sample_size: int, where: str
) -> DenoiserConfig:
    """A DenoiserConfig from a YAML's ``denoiser:`` mapping, the data setting the channels and
    size; a problem raises a ConfigError naming ``where`` (a file or step) and the key."""
    try:
        return DenoiserConfig.model_validate(
            {**settings, "in_channels": in_channels, "sample_size": sample_size}
        )
    except ValidationError as error:
        problems = "; ".join(
            ".".join(["denoiser", *(str(p) for p in e["loc"])])
            + ": "
            + e["msg"].removeprefix("Value error, ")
            for e in error.errors()
        )
        raise ConfigError(f"{where}: {problems}") from None


def build_denoiser(config: DenoiserConfig, device: torch.device | str | None = None) -> Denoiser:
    """A freshly initialised denoiser (initialised from torch's global RNG: seed it first)."""
    model = Denoiser(config)
    return model.to(device) if device is not None else model
