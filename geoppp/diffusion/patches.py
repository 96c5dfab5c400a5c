"""Where training batches come from: the :class:`PatchSource` protocol and an in-memory source.

Training draws every batch through ``sample(batch_size, generator)`` with a
``torch.Generator`` that it owns, seeds and checkpoints, so a source that takes all its
randomness from that generator makes training reproducible and exactly resumable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor


@runtime_checkable
class PatchSource(Protocol):
    """Anything that draws batches of training patches."""

    def sample(self, batch_size: int, generator: torch.Generator) -> Tensor:
        """Draw a batch.

        Args:
            batch_size: B.
            generator: a CPU generator; the source's only source of randomness.

        Returns:
            (B, C, H, W) float32, normalised (roughly in [-1, 1]), on the CPU.
        """
        ...


PatchSampler = PatchSource | Callable[[int, torch.Generator], Tensor]
"""A :class:`PatchSource`, or a plain function ``(batch_size, generator) -> (B, C, H, W)``."""


def as_patch_source(patches: PatchSampler) -> PatchSource:
    """``patches`` as a :class:`PatchSource` (a plain function gets wrapped)."""
    if isinstance(patches, PatchSource):
        return patches
    if callable(patches):
        return _FunctionSource(patches)
    raise TypeError(
        "patches must have a sample(batch_size, generator) method or be a function "
        f"(batch_size, generator) -> tensor, got {type(patches).__name__}"
    )


class _FunctionSource:
    def __init__(self, function: Callable[[int, torch.Generator], Tensor]) -> None:
        self.function = function

    def sample(self, batch_size: int, generator: torch.Generator) -> Tensor:
        return self.function(batch_size, generator)


class TensorPatches:
    """Patches held in memory, drawn uniformly with replacement.

    Args:
        patches: (N, C, H, W) float32, already normalised.
        augment: apply a random one of the 8 symmetries of the square (rot90 × flip) to each
            drawn patch; needs H = W. Only for data without a preferred orientation.
    """

    def __init__(self, patches: Tensor, augment: bool = False) -> None:
        if patches.ndim != 4 or patches.shape[0] < 1:
            raise ValueError(f"patches must have shape (N, C, H, W), got {tuple(patches.shape)}")
        if patches.dtype != torch.float32:
            raise ValueError(f"patches must be float32, got {patches.dtype}")
        if augment and patches.shape[2] != patches.shape[3]:
            raise ValueError(
                f"augment rotates by 90°, which needs square patches; got {tuple(patches.shape)}"
            )
        self.patches = patches
        self.augment = augment

    def sample(self, batch_size: int, generator: torch.Generator) -> Tensor:
        """(B, C, H, W) float32: B patches drawn with replacement (augmented if asked)."""
        index = torch.randint(len(self.patches), (batch_size,), generator=generator)
        batch = self.patches[index]
        if not self.augment:
            return batch
        symmetry = torch.randint(8, (batch_size,), generator=generator)
        out = torch.empty_like(batch)
        for k in range(8):
            chosen = symmetry == k
            rotated = torch.rot90(batch[chosen], k % 4, dims=(2, 3))
            out[chosen] = rotated.flip(3) if k >= 4 else rotated
        return out
