"""Patch sources: in-memory patches, their augmentation, and plain functions as sources."""

from __future__ import annotations

import pytest
import torch

from geoppp.diffusion import PatchSource, TensorPatches
from geoppp.diffusion.patches import as_patch_source


def symmetries(patch: torch.Tensor) -> list[torch.Tensor]:
    rotations = [torch.rot90(patch, k, dims=(1, 2)) for k in range(4)]
    return rotations + [r.flip(2) for r in rotations]


def test_draws_are_reproducible_and_come_from_the_patches() -> None:
    patches = torch.arange(5 * 2 * 3 * 3, dtype=torch.float32).reshape(5, 2, 3, 3)
    source = TensorPatches(patches)
    a = source.sample(16, torch.Generator().manual_seed(3))
    b = source.sample(16, torch.Generator().manual_seed(3))
    assert a.shape == (16, 2, 3, 3) and torch.equal(a, b)
    assert all(any(torch.equal(x, p) for p in patches) for x in a)


def test_augmentation_applies_only_symmetries_of_the_square() -> None:
    patches = torch.randn(3, 2, 4, 4)
    drawn = TensorPatches(patches, augment=True).sample(64, torch.Generator().manual_seed(0))
    seen: set[int] = set()
    for x in drawn:
        matches = [
            (i, k)
            for i, p in enumerate(patches)
            for k, s in enumerate(symmetries(p))
            if torch.equal(x, s)
        ]
        assert matches, "an augmented patch is not a rotation/flip of any patch"
        seen.update(k for _, k in matches)
    assert len(seen) == 8


def test_bad_patches_are_refused() -> None:
    with pytest.raises(ValueError, match="square"):
        TensorPatches(torch.zeros(2, 1, 4, 5), augment=True)
    with pytest.raises(ValueError, match="float32"):
        TensorPatches(torch.zeros(2, 1, 4, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        TensorPatches(torch.zeros(1, 4, 4))


def test_a_function_is_a_patch_source() -> None:
    def draw(batch_size: int, generator: torch.Generator) -> torch.Tensor:
        return torch.rand(batch_size, 1, 2, 2, generator=generator)

    source = as_patch_source(draw)
    assert isinstance(source, PatchSource)
    assert source.sample(3, torch.Generator()).shape == (3, 1, 2, 2)
    with pytest.raises(TypeError, match="sample"):
        as_patch_source(42)  # type: ignore[arg-type]
