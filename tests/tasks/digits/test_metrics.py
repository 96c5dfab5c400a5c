from __future__ import annotations

import numpy as np
import pytest
import torch

from geoppp.tasks.digits.data import load_digits
from geoppp.tasks.digits.metrics import diversity, frechet_distance, success


def test_diversity_is_zero_for_copies_and_the_rms_distance_for_two_images() -> None:
    assert diversity(torch.zeros(4, 1, 32, 32)) == 0.0
    pair = torch.stack([torch.full((1, 32, 32), -1.0), torch.full((1, 32, 32), 1.0)])
    assert diversity(pair) == pytest.approx(2.0)


def test_frechet_distance_is_zero_for_the_same_gaussian_and_the_mean_shift_squared() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2000, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, a + np.array([3.0, 4.0, 0.0])) == pytest.approx(25.0, rel=1e-6)


def test_shipped_judge_reads_held_out_digits(judge) -> None:  # type: ignore[no-untyped-def]
    digits = load_digits("held_out")
    assert float(success(judge, digits.images, digits.labels, False).float().mean()) > 0.95
    # Random labels: about one in ten.
    wrong = (digits.labels + 1) % 10
    assert float(success(judge, digits.images, wrong, False).float().mean()) < 0.05


def test_success_under_symmetry_needs_a_symmetric_image(judge) -> None:  # type: ignore[no-untyped-def]
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    x[0] = (x[0] + x[0].flip(2)) / 2
    assert success(judge, x, None, True).tolist() == [True, False]
