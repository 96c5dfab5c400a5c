"""Accuracy and intersection over union from a confusion matrix, accumulated window by window."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def confusion_matrix(predicted: np.ndarray, truth: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n, n)`` int64 counts, rows the true class, columns the predicted one.

    Args:
        predicted: class indices 0..n-1; other values (e.g. -1 for nodata) are left out.
        truth: class indices 0..n-1, same shape; other values are left out.
        n_classes: number of classes n.
    """
    keep = (truth >= 0) & (truth < n_classes) & (predicted >= 0) & (predicted < n_classes)
    pairs = truth[keep].astype(np.int64) * n_classes + predicted[keep].astype(np.int64)
    return np.bincount(pairs, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


@dataclass(frozen=True)
class Scores:
    """Overall accuracy, per-class IoU (NaN for a class absent from both maps) and mIoU."""

    accuracy: float
    iou: tuple[float, ...]
    miou: float
    pixels: int
    confusion: tuple[tuple[int, ...], ...] = ()
    """Counts, rows the true class and columns the predicted one."""
    truth_pixels: int | None = None
    """Pixels with a true class, whether or not the map gives one there (None: not counted)."""

    @property
    def coverage(self) -> float:
        """Share of the pixels with a true class that were scored (the map gives a class):
        a map of a sliver scores few of them, whatever its accuracy. NaN when unknown."""
        if not self.truth_pixels:
            return float("nan")
        return self.pixels / self.truth_pixels

    @classmethod
    def pooled(cls, scores: Sequence[Scores]) -> Scores:
        """The scores of several maps taken as one: confusions and truth pixels summed."""
        if not scores:
            raise ValueError("nothing to pool")
        confusion = np.sum([np.array(s.confusion, dtype=np.int64) for s in scores], axis=0)
        counted = [s.truth_pixels for s in scores]
        truth = None if None in counted else sum(c for c in counted if c is not None)
        return cls.from_confusion(confusion, truth)

    @classmethod
    def from_confusion(cls, confusion: np.ndarray, truth_pixels: int | None = None) -> Scores:
        total = int(confusion.sum())
        hits = np.diag(confusion).astype(np.float64)
        union = confusion.sum(axis=0) + confusion.sum(axis=1) - hits
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = np.where(union > 0, hits / union, np.nan)
        accuracy = float(hits.sum() / total) if total else float("nan")
        miou = float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")
        counts = tuple(tuple(int(v) for v in row) for row in confusion)
        return cls(accuracy, tuple(float(v) for v in iou), miou, total, counts, truth_pixels)
