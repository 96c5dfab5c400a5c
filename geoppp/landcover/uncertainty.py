"""Per-pixel uncertainty from posterior samples (plug-and-play runs with different seeds), and
whether it means something: accuracy on the most and least certain halves of the pixels.

Computed on arrays block by block; the halves are found from counts per certainty level, so
memory does not grow with the map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ENTROPY_BINS = 256
"""Entropy levels that break ties between pixels of equal agreement."""


@dataclass(frozen=True)
class Uncertainty:
    """Per-pixel summaries of K samples, each ``(H, W)``.

    Attributes:
        agreement: share of the K samples' argmax equal to their modal class, in [1/K, 1]
            (NaN where invalid).
        entropy: entropy of the samples' mean probabilities over ``log C``, in [0, 1]
            (NaN where invalid).
        predicted: argmax of the mean probabilities (-1 where invalid).
        valid: pixels where every sample has probabilities.
    """

    agreement: np.ndarray
    entropy: np.ndarray
    predicted: np.ndarray
    valid: np.ndarray


def summarise_samples(probabilities: np.ndarray) -> Uncertainty:
    """Agreement and entropy of K samples.

    Args:
        probabilities: ``(K, C, H, W)`` class probabilities of K samples; NaN where a
            sample has none (nodata).
    """
    samples, classes = probabilities.shape[:2]
    valid = np.isfinite(probabilities).all(axis=(0, 1))
    filled = np.where(valid, probabilities, 0.0)
    votes = filled.argmax(axis=1)  # (K, H, W)
    counts = np.stack([(votes == c).sum(axis=0) for c in range(classes)])
    agreement = counts.max(axis=0) / samples
    mean = filled.mean(axis=0)
    mean = mean / np.maximum(mean.sum(axis=0, keepdims=True), 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(mean > 0, mean * np.log(mean), 0.0)
    entropy = -terms.sum(axis=0) / np.log(classes) if classes > 1 else np.zeros(valid.shape)
    entropy = np.clip(entropy, 0.0, 1.0)
    predicted = np.where(valid, mean.argmax(axis=0), -1)
    return Uncertainty(
        np.where(valid, agreement, np.nan).astype(np.float32),
        np.where(valid, entropy, np.nan).astype(np.float32),
        predicted,
        valid,
    )


class CertaintyHalves:
    """Accumulates, block by block, how accurate the most and least certain halves are.

    Pixels are ranked by agreement, ties broken by lower entropy. Counts are kept per
    (agreement, entropy) level; the level that straddles the median is shared out in
    proportion, assuming its pixels are alike.

    Args:
        samples: K, the number of samples (agreement takes the values 1/K..1).
    """

    def __init__(self, samples: int) -> None:
        self.samples = samples
        levels = (samples + 1) * ENTROPY_BINS
        self.total = np.zeros(levels, np.int64)
        self.correct = np.zeros(levels, np.int64)

    def add(self, uncertainty: Uncertainty, truth: np.ndarray) -> None:
        """Count the pixels of a block with ground truth: ``truth`` ``(H, W)`` class indices,
        negative where there is none."""
        scored = uncertainty.valid & (truth >= 0)
        agreement = np.rint(uncertainty.agreement[scored] * self.samples).astype(np.int64)
        entropy = np.minimum(
            (uncertainty.entropy[scored] * ENTROPY_BINS).astype(np.int64), ENTROPY_BINS - 1
        )
        level = agreement * ENTROPY_BINS + (ENTROPY_BINS - 1 - entropy)
        right = uncertainty.predicted[scored] == truth[scored]
        self.total += np.bincount(level, minlength=len(self.total))
        self.correct += np.bincount(level, weights=right, minlength=len(self.total)).astype(
            np.int64
        )

    def summary(self) -> dict[str, dict[str, float | int | None]]:
        """``{"all" | "most_certain" | "least_certain": {"pixels", "accuracy"}}``."""
        pixels = int(self.total.sum())
        order = np.arange(len(self.total))[::-1]  # most certain level first
        total, correct = self.total[order].astype(np.float64), self.correct[order]
        half = pixels / 2
        before = np.concatenate([[0.0], np.cumsum(total)[:-1]])
        share = np.clip((half - before) / np.maximum(total, 1), 0.0, 1.0)
        top_pixels = float((total * share).sum())
        top_correct = float((correct * share).sum())

        def part(count: float, right: float, shown: int) -> dict[str, float | int | None]:
            return {"pixels": shown, "accuracy": right / count if count > 0 else None}

        everything = float(correct.sum())
        top_shown = round(top_pixels)  # the halves' counts add up to the total
        return {
            "all": part(pixels, everything, pixels),
            "most_certain": part(top_pixels, top_correct, top_shown),
            "least_certain": part(
                pixels - top_pixels, everything - top_correct, pixels - top_shown
            ),
        }
