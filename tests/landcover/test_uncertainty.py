"""Agreement and entropy of posterior samples, and the accuracy of the certainty halves."""

from __future__ import annotations

import numpy as np
import pytest

from geoppp.landcover.uncertainty import CertaintyHalves, summarise_samples


def disagreeing_samples(samples: int = 4) -> np.ndarray:
    """(K, 3, 4, 8): the left half sure of class 0 in every sample, the right half a
    different class in each sample; one nodata pixel, on the right."""
    probabilities = np.full((samples, 3, 4, 8), 0.05, np.float32)
    probabilities[:, 0, :, :4] = 0.9
    for k in range(samples):
        probabilities[k, k % 3, :, 4:] = 0.9
    probabilities[:, :, 0, 7] = np.nan
    return probabilities


def test_agreement_and_entropy_are_in_range_and_follow_disagreement() -> None:
    summary = summarise_samples(disagreeing_samples())
    valid = summary.valid
    assert not valid[0, 7] and valid.sum() == 31
    assert np.isnan(summary.agreement[0, 7]) and summary.predicted[0, 7] == -1
    assert ((summary.agreement[valid] >= 0.25) & (summary.agreement[valid] <= 1)).all()
    assert ((summary.entropy[valid] >= 0) & (summary.entropy[valid] <= 1)).all()
    left, right = np.s_[:, :4], np.s_[1:, 4:]
    assert (summary.agreement[left] == 1).all()
    assert (summary.agreement[right] == 0.5).all()  # classes 0, 1, 2, 0
    assert summary.entropy[right].min() > summary.entropy[left].max()


def test_identical_samples_agree_fully() -> None:
    probabilities = np.repeat(disagreeing_samples()[:1], 3, axis=0)
    summary = summarise_samples(probabilities)
    assert (summary.agreement[summary.valid] == 1).all()


def test_halves_split_the_pixels_by_certainty() -> None:
    summary = summarise_samples(disagreeing_samples())
    truth = np.zeros((4, 8), np.int64)
    truth[:, 4:] = 2  # the unsure half is wrong (its mean favours class 0)
    halves = CertaintyHalves(4)
    halves.add(summary, truth)
    result = halves.summary()
    assert result["all"]["pixels"] == 31
    assert result["most_certain"]["pixels"] + result["least_certain"]["pixels"] == 31
    assert result["most_certain"]["accuracy"] == pytest.approx(1.0)
    assert result["least_certain"]["accuracy"] < 0.1
    accuracies = [result[k]["accuracy"] for k in ("most_certain", "least_certain")]
    pixels = [result[k]["pixels"] for k in ("most_certain", "least_certain")]
    overall = sum(a * p for a, p in zip(accuracies, pixels, strict=True)) / 31
    assert overall == pytest.approx(result["all"]["accuracy"], abs=0.02)


def test_pixels_without_truth_are_left_out() -> None:
    summary = summarise_samples(disagreeing_samples())
    halves = CertaintyHalves(4)
    halves.add(summary, np.full((4, 8), -1, np.int64))
    result = halves.summary()
    assert result["all"] == {"pixels": 0, "accuracy": None}
