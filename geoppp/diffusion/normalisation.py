"""Per-channel affine normalisation of the data a denoiser sees, recorded in its checkpoint.

A prior is only usable on data normalised the way its training data was, so the mean and
standard deviation travel with the weights.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor


@dataclass(frozen=True, slots=True)
class ChannelNormalisation:
    """``normalised = (x - mean) / std`` per channel; one entry per channel of the data."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if len(self.mean) != len(self.std) or not self.mean:
            raise ValueError(
                f"normalisation needs one mean and one std per channel, got {len(self.mean)} "
                f"means and {len(self.std)} stds"
            )
        if any(not s > 0 for s in self.std):
            raise ValueError(f"every std must be positive, got {list(self.std)}")

    @property
    def channels(self) -> int:
        return len(self.mean)

    def normalise(self, x: Tensor) -> Tensor:
        """x: (B, C, H, W) or (C, H, W) with C = :attr:`channels` → the same shape, normalised."""
        mean, std = self._broadcast(x)
        return (x - mean) / std

    def denormalise(self, x: Tensor) -> Tensor:
        """The inverse of :meth:`normalise`."""
        mean, std = self._broadcast(x)
        return x * std + mean

    def _broadcast(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.ndim < 3 or x.shape[-3] != self.channels:
            raise ValueError(
                f"normalisation has {self.channels} channels but the data has shape "
                f"{tuple(x.shape)} (expected (..., {self.channels}, H, W))"
            )
        shape = (self.channels, 1, 1)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).reshape(shape)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).reshape(shape)
        return mean, std

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChannelNormalisation:
        if set(data) != {"mean", "std"}:
            raise ValueError(
                f"normalisation needs exactly the keys mean and std, got {sorted(data)}"
            )
        mean: Sequence[float] = data["mean"]
        std: Sequence[float] = data["std"]
        return cls(tuple(mean), tuple(std))
