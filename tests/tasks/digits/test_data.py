from __future__ import annotations

import numpy as np
import torch

from geoppp.tasks.digits.data import HELD_OUT_PER_CLASS, load_digits, split_indices


def test_split_is_stratified_disjoint_and_complete() -> None:
    labels = np.repeat(np.arange(10), 500)
    train, held_out = split_indices(labels, "train"), split_indices(labels, "held_out")
    assert len(np.intersect1d(train, held_out)) == 0
    assert len(train) + len(held_out) == 5000
    assert (np.bincount(labels[held_out]) == HELD_OUT_PER_CLASS).all()
    np.testing.assert_array_equal(held_out, split_indices(labels, "held_out"))  # fixed


def test_digits_are_padded_and_scaled() -> None:
    digits = load_digits("held_out")
    assert digits.images.shape == (500, 1, 32, 32)
    assert digits.images.dtype == torch.float32
    assert float(digits.images.min()) == -1.0 and float(digits.images.max()) == 1.0
    border = torch.cat([digits.images[..., :2, :].flatten(), digits.images[..., :, :2].flatten()])
    assert (border == -1.0).all()
    assert torch.bincount(digits.labels).tolist() == [50] * 10
