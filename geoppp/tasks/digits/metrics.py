"""How good generated digits are, judged by the independent classifier (never the one
inside the constraint).

- success rate: the fraction of samples that meet every asked-for constraint: the judge
  reads the target digit (or, for inpainting, the digit the known half came from) and, for
  symmetry, the mean |x - mirror(x)| is below ``SYMMETRY_TOLERANCE``;
- diversity: mean pairwise distance between samples, as RMS per pixel (in [-1, 1] units);
- realism: the Fréchet distance between Gaussians fitted to the judge's penultimate
  features of the samples and of held-out real digits (FID's formula on a digit network).
  The reference set should be the real digits that meet the same constraint (the held-out
  digits of the target class): 16 training 3s score about 90 against the held-out 3s, 16
  uniform-noise images about 1 250, 16 training 5s about 1 040. Against all ten classes,
  16 samples cannot estimate the mixture (16 real digits score worse than noise there), so
  that comparison is only meaningful with hundreds of samples. It is biased upwards at few
  samples: compare methods at the same count.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from scipy import linalg
from torch import Tensor

from geoppp.tasks.digits.classifier import DigitClassifier
from geoppp.tasks.digits.constraints import asymmetry

SYMMETRY_TOLERANCE = 0.13
"""Mean |x - mirror(x)| (pixels in [-1, 1]) below which a sample counts as symmetric: about as
symmetric as the most symmetric tenth of the held-out real digits (their 10th percentile is
0.136, their median 0.207)."""


@dataclass(frozen=True)
class Scores:
    """One row of the evaluation table."""

    success: float
    asymmetry: float
    diversity: float
    frechet: float


def success(judge: DigitClassifier, x: Tensor, digits: Tensor | None, symmetric: bool) -> Tensor:
    """(B,) bool: whether each sample meets its constraints.

    Args:
        judge: the independent classifier.
        x: (B, 1, 32, 32) samples in [-1, 1].
        digits: (B,) the digit each sample should show, or None for no class constraint.
        symmetric: whether symmetry was asked for.
    """
    ok = torch.ones(len(x), dtype=torch.bool)
    if digits is not None:
        with torch.no_grad():
            ok &= judge(x).argmax(1) == digits
    if symmetric:
        ok &= asymmetry(x) < SYMMETRY_TOLERANCE
    return ok


def diversity(x: Tensor) -> float:
    """Mean pairwise RMS-per-pixel distance between the samples of ``x`` (B ≥ 2)."""
    if len(x) < 2:
        raise ValueError("diversity needs at least two samples")
    flat = x.flatten(1).double()
    return float(torch.pdist(flat).mean() / flat.shape[1] ** 0.5)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, D) and (M, D):
    ‖μ_a - μ_b‖² + tr(Σ_a + Σ_b - 2 (Σ_a Σ_b)^½)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():
        # With fewer samples than features the product is singular by construction (sqrtm
        # still returns its square root); the warning would only repeat that for every cell.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(cov_a @ cov_b)
    if np.iscomplexobj(root):  # numerical noise on a (near-)singular product
        root = root.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def features(judge: DigitClassifier, x: Tensor) -> np.ndarray:
    """(B, D) float64: the judge's penultimate features."""
    with torch.no_grad():
        return judge.features(x).double().numpy()


def score(
    judge: DigitClassifier,
    x: Tensor,
    real_features: np.ndarray,
    digits: Tensor | None,
    symmetric: bool,
) -> Scores:
    """Success rate, mean asymmetry, diversity and Fréchet distance of samples ``x``."""
    return Scores(
        success=float(success(judge, x, digits, symmetric).float().mean()),
        asymmetry=float(asymmetry(x).mean()),
        diversity=diversity(x),
        frechet=frechet_distance(features(judge, x), real_features),
    )
