"""The digits' constraints, each giving log c(x) per problem: ``(B, 1, 32, 32) -> (B,)``.

All follow :class:`geoppp.diffusion.ppp.Constraint`, so any mix of them, each with its
weight, goes to :func:`geoppp.diffusion.ppp.optimise`. Images are in [-1, 1].
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from geoppp.tasks.digits.classifier import DigitClassifier
from geoppp.tasks.digits.data import SIZE


def _check(x: Tensor, what: str) -> None:
    if x.ndim != 4 or tuple(x.shape[1:]) != (1, SIZE, SIZE):
        raise ValueError(f"{what} expects x of shape (B, 1, {SIZE}, {SIZE}), got {tuple(x.shape)}")


class ClassConstraint:
    """log p(target | x) under a frozen classifier: the image should show the target digit.

    Args:
        classifier: the constraint's classifier (not the judge that scores the results).
        targets: (B,) int64, the wanted digit of each problem.
    """

    def __init__(self, classifier: DigitClassifier, targets: Tensor) -> None:
        self.classifier = classifier
        self.targets = targets

    def __call__(self, x: Tensor) -> Tensor:
        _check(x, "ClassConstraint")
        if len(self.targets) != len(x):
            raise ValueError(f"{len(self.targets)} targets for a batch of {len(x)} images")
        log_p = F.log_softmax(self.classifier(x), dim=1)
        return log_p.gather(1, self.targets.view(-1, 1).to(x.device)).squeeze(1)


def symmetry(x: Tensor) -> Tensor:
    """log c = -Σ (x - mirror(x))² over pixels: 0 for a left-right symmetric image.

    Args:
        x: (B, 1, 32, 32).

    Returns:
        (B,) ≤ 0.
    """
    _check(x, "symmetry")
    return -((x - x.flip(3)) ** 2).flatten(1).sum(1)


def asymmetry(x: Tensor) -> Tensor:
    """Mean |x - mirror(x)| per image, (B,) in [0, 2]: 0 for a symmetric image."""
    _check(x, "asymmetry")
    return (x - x.flip(3)).abs().flatten(1).mean(1)


class InpaintingConstraint:
    """log c = -Σ mask · (x - known)²: the known pixels should keep their values.

    Args:
        known: (B, 1, 32, 32) in [-1, 1], the observed image (unknown pixels are ignored).
        mask: (B, 1, 32, 32) of 0/1, 1 where the pixel is known.
    """

    def __init__(self, known: Tensor, mask: Tensor) -> None:
        _check(known, "InpaintingConstraint")
        if known.shape != mask.shape:
            raise ValueError(f"mask {tuple(mask.shape)} must match known {tuple(known.shape)}")
        self.known = known
        self.mask = mask.to(known.dtype)

    def __call__(self, x: Tensor) -> Tensor:
        _check(x, "InpaintingConstraint")
        return -(self.mask * (x - self.known) ** 2).flatten(1).sum(1)

    def paste(self, x: Tensor) -> Tensor:
        """``x`` with the known pixels put back exactly (the hard constraint, at the end)."""
        return self.mask * self.known + (1 - self.mask) * x
