"""The land-cover constraint terms: their optimum, their masks and their gradients."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest
import torch

from geoppp.landcover.constraints import (
    cluster_agreement,
    image_match,
    label_statistics_loglik,
    local_nmi,
    weak_label_kl,
)
from geoppp.landcover.label_statistics import LabelStatistics


def one_hot(classes: torch.Tensor, n: int) -> torch.Tensor:
    """``(B, H, W)`` class indices → ``(B, n, H, W)`` float64 one-hot."""
    return torch.nn.functional.one_hot(classes, n).permute(0, 3, 1, 2).to(torch.float64)


def stripes(height: int, width: int, axis: int) -> torch.Tensor:
    """``(1, H, W)`` classes 0, 1, 0, 1, … alternating along ``axis`` (0: rows, 1: columns)."""
    index = torch.arange(height if axis == 0 else width) % 2
    grid = index[:, None].expand(height, width) if axis == 0 else index.expand(height, width)
    return grid.unsqueeze(0)


def all_valid(batch: int, height: int, width: int) -> torch.Tensor:
    return torch.ones(batch, height, width, dtype=torch.bool)


def soft_labels(batch: int, classes: int, size: int, seed: int = 0) -> torch.Tensor:
    logits = torch.randn(
        batch, classes, size, size, generator=torch.Generator().manual_seed(seed)
    ).double()
    return logits.requires_grad_()


# --- image_match ------------------------------------------------------------------------


def test_image_match_is_zero_at_equality_and_the_gaussian_otherwise() -> None:
    observed = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    valid = all_valid(2, 8, 8)
    assert torch.equal(image_match(observed, observed, valid, 0.5), torch.zeros(2).double())
    # Off by 1 everywhere, σ = 2: -1 / (2·4).
    shifted = image_match(observed + 1, observed, valid, 2.0)
    assert torch.allclose(shifted, torch.full((2,), -1 / 8).double())


def test_image_match_ignores_invalid_pixels_even_nan() -> None:
    predicted = torch.rand(1, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    observed = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    valid = all_valid(1, 8, 8)
    valid[0, :2] = False
    before = image_match(predicted, observed, valid, 0.1)
    changed = observed.clone()
    changed[0, :, :2] = float("nan")
    after = image_match(predicted, changed, valid, 0.1)
    assert torch.equal(before, after)
    (gradient,) = torch.autograd.grad(after.sum(), predicted)
    assert torch.isfinite(gradient).all()
    assert (gradient[0, :, :2] == 0).all() and (gradient[0, :, 2:] != 0).any()
    # The mean is over valid pixels only, so the scale does not depend on how many there are.
    uniform_error = image_match(observed + 0.1, observed, valid, 0.1)
    assert torch.allclose(uniform_error, torch.tensor([-0.5]).double())


# --- weak_label_kl ----------------------------------------------------------------------


@pytest.mark.parametrize("stride", [None, 1])
def test_weak_label_kl_is_zero_when_pooled_labels_match(stride: int | None) -> None:
    weak = torch.rand(2, 3, 10, 10, dtype=torch.float64)
    weak = weak / weak.sum(1, keepdim=True)
    valid = all_valid(2, 10, 10)
    assert weak_label_kl(weak, weak, valid, pool=4, stride=stride).abs().max() <= 1e-6


def test_weak_label_kl_compares_cells_not_pixels() -> None:
    # Labels a permutation of the weak labels inside each 2×2 cell: pooled, they agree.
    weak = one_hot(stripes(4, 4, axis=1), 2)
    labels = one_hot(stripes(4, 4, axis=0), 2)
    valid = all_valid(1, 4, 4)
    assert weak_label_kl(labels, weak, valid, pool=2).abs().max() <= 1e-6
    # Pooled over 1 pixel, they disagree everywhere.
    assert (weak_label_kl(labels, weak, valid, pool=1) < -1).all()


def test_weak_label_kl_is_negative_when_labels_differ_and_ignores_invalid() -> None:
    weak = torch.full((1, 2, 8, 8), 0.5, dtype=torch.float64)
    labels = one_hot(torch.zeros(1, 8, 8, dtype=torch.long), 2)
    valid = all_valid(1, 8, 8)
    assert weak_label_kl(labels, weak, valid, pool=4) < -0.1
    # Disagreement only on invalid pixels or where the weak labels are NaN counts for nothing.
    labels_agreeing = weak.clone()
    labels_agreeing[:, :, :, :4] = labels[:, :, :, :4]
    valid[0, :, :4] = False
    assert weak_label_kl(labels_agreeing, weak, valid, pool=4).abs().max() <= 1e-6
    weak_unlabelled = weak.clone()
    weak_unlabelled[:, :, :, :4] = float("nan")
    assert weak_label_kl(labels_agreeing, weak_unlabelled, all_valid(1, 8, 8), pool=4).abs() <= 1e-6


# --- label statistics -------------------------------------------------------------------


def test_label_statistics_measure_by_hand() -> None:
    # 4 × 6 pixels in 2 × 2 blocks: a 2 × 3 grid of blocks.
    codes = np.array(
        [
            [11, 11, 11, 11, 21, 21],
            [11, 11, 11, 21, 21, 21],
            [21, 21, 11, 11, 41, 41],
            [21, 21, 11, 11, 41, 41],
        ]
    )
    labels = np.array(
        [
            [0, 0, 1, 1, 2, 2],
            [0, 0, 0, 1, 2, 0],
            [1, 1, -1, -1, 0, 0],
            [1, 2, -1, 0, 0, 0],
        ]
    )
    stats = LabelStatistics.measure(codes, labels, n_classes=3, cell=2, min_cells=2)
    # Code 11: blocks (0, 0) fractions (1, 0, 0) and (0, 1) (majority 11 by 3 of 4)
    # fractions (.25, .75, 0); block (1, 1) has one labelled pixel of 4 and is skipped.
    # Code 21: blocks (0, 2) (.25, 0, .75) and (1, 0) (0, .75, .25). Code 41: one block,
    # fewer than min_cells, dropped.
    assert stats.codes == (11, 21)
    np.testing.assert_allclose(stats.mean, [[0.625, 0.375, 0], [0.125, 0.375, 0.5]])
    np.testing.assert_allclose(
        stats.var, [[0.140625, 0.140625, 1e-3], [0.015625, 0.140625, 0.0625]]
    )
    assert stats.cell == 2
    again = LabelStatistics.from_dict(json.loads(json.dumps(stats.to_dict())))
    assert again.codes == stats.codes and again.cell == 2
    np.testing.assert_array_equal(again.mean, stats.mean)
    np.testing.assert_array_equal(again.var, stats.var)
    np.testing.assert_array_equal(stats.index(np.array([[41, 21], [11, 0]])), [[-1, 1], [0, -1]])


def test_label_statistics_reject_labels_out_of_range() -> None:
    with pytest.raises(ValueError, match="class indices"):
        LabelStatistics.measure(np.zeros((4, 4), int), np.full((4, 4), 3), n_classes=3, cell=2)


def blocks_at(fractions: list[list[float]], cell: int) -> torch.Tensor:
    """``(1, K, cell, cell·n)`` soft labels whose n blocks have the given class fractions."""
    columns = [
        torch.tensor(f, dtype=torch.float64)[:, None, None].expand(-1, cell, cell)
        for f in fractions
    ]
    return torch.cat(columns, dim=2).unsqueeze(0)


def test_label_statistics_loglik_is_highest_at_the_means() -> None:
    mean = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], dtype=torch.float64)
    var = torch.tensor([[0.01, 0.02, 0.01], [0.05, 0.01, 0.02]], dtype=torch.float64)
    cell = 4
    # Three blocks: code 0, code 1, and one without statistics.
    code_index = torch.tensor([0, 1, -1]).repeat_interleave(cell).expand(cell, -1).unsqueeze(0)
    valid = all_valid(1, cell, 3 * cell)
    at_means = blocks_at([mean[0].tolist(), mean[1].tolist(), [1, 0, 0]], cell)
    best = label_statistics_loglik(at_means, code_index, valid, mean, var, cell)
    assert best.abs().max() <= 1e-12
    # The block without statistics is ignored.
    other = blocks_at([mean[0].tolist(), mean[1].tolist(), [0, 0, 1]], cell)
    assert torch.equal(label_statistics_loglik(other, code_index, valid, mean, var, cell), best)
    for shift in ([0.1, -0.1, 0], [-0.05, 0, 0.05]):
        moved = blocks_at(
            [(mean[0] + torch.tensor(shift)).tolist(), mean[1].tolist(), [1, 0, 0]], cell
        )
        worse = label_statistics_loglik(moved, code_index, valid, mean, var, cell)
        assert worse < best - 0.1
    # Block 0 scored alone, by hand: -(0.1² / 0.02 + 0.1² / 0.04) / 2 blocks scored.
    moved = blocks_at([[0.8, 0.1, 0.1], mean[1].tolist(), [1, 0, 0]], cell)
    value = label_statistics_loglik(moved, code_index, valid, mean, var, cell)
    assert torch.allclose(value, torch.tensor([-(0.5 + 0.25) / 2], dtype=torch.float64))


def test_label_statistics_loglik_block_code_is_the_mode_of_valid_pixels() -> None:
    mean = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    var = torch.full((2, 2), 0.01, dtype=torch.float64)
    labels = one_hot(torch.zeros(1, 4, 4, dtype=torch.long), 2)  # all class 0: code 0's mean
    valid = all_valid(1, 4, 4)
    # One 4 × 4 block: code 1 on the top two rows and two more pixels, code 0 on six.
    codes = torch.zeros(1, 4, 4, dtype=torch.long)
    codes[0, :2] = 1
    codes[0, 2, :2] = 1
    assert label_statistics_loglik(labels, codes, valid, mean, var, 4) == -100
    # Top half invalid: among the valid pixels code 0 is the most frequent.
    valid[0, :2] = False
    assert label_statistics_loglik(labels, codes, valid, mean, var, 4) == 0
    # Less than half valid: the block is not scored at all, though its valid pixels' code
    # (1) is far from their labels.
    valid[0, 2, :] = False
    codes[0, 3, :] = 1
    assert label_statistics_loglik(labels, codes, valid, mean, var, 4) == 0
    valid[0, 2, :] = True
    assert label_statistics_loglik(labels, codes, valid, mean, var, 4) == -100


# --- local NMI --------------------------------------------------------------------------


def test_local_nmi_is_zero_for_independent_and_one_for_identical_partitions() -> None:
    valid = all_valid(1, 9, 9)
    columns = one_hot(stripes(9, 9, axis=1), 2)
    rows = one_hot(stripes(9, 9, axis=0), 2)
    # Every 3 × 3 window (clipped at the edges) holds each (row, column) parity pair in
    # proportion: labels and clusters independent.
    assert local_nmi(columns, rows, valid, radius=1).abs().max() < 1e-4
    identical = local_nmi(columns, columns, valid, radius=1)
    assert identical.item() == pytest.approx(1, abs=1e-4)
    # Any relabelling of the clusters is as good.
    assert local_nmi(columns, columns.flip(1), valid, radius=1).item() == pytest.approx(1, abs=1e-4)
    # Uniform labels say nothing about clusters.
    assert local_nmi(torch.full_like(columns, 0.5), columns, valid, radius=1).abs() < 1e-4


def test_local_nmi_is_in_between_for_partial_agreement() -> None:
    valid = all_valid(1, 12, 12)
    columns = stripes(12, 12, axis=1)
    noisy = columns.clone()
    flip = torch.rand(12, 12, generator=torch.Generator().manual_seed(0)) < 0.15
    noisy[0][flip] = 1 - noisy[0][flip]
    score = local_nmi(one_hot(noisy, 2), one_hot(columns, 2), valid, radius=2).item()
    assert 0.15 < score < 0.9


def test_local_nmi_ignores_invalid_pixels() -> None:
    columns = one_hot(stripes(8, 8, axis=1), 2)
    valid = all_valid(1, 8, 8)
    valid[0, :, :2] = False
    scrambled = columns.clone()
    scrambled[:, :, :, :2] = columns[:, :, :, :2].flip(1)
    assert torch.equal(
        local_nmi(scrambled, columns, valid, radius=1), local_nmi(columns, columns, valid, radius=1)
    )


# --- cluster agreement ------------------------------------------------------------------


def test_cluster_agreement_is_zero_for_pure_clusters_and_lower_for_mixed() -> None:
    valid = all_valid(1, 8, 8)
    unsure = torch.zeros(1, 8, 8, dtype=torch.float64)
    columns = one_hot(stripes(8, 8, axis=1), 2)
    assert cluster_agreement(columns, columns, unsure, valid, radius=2) == 0
    # Two labels in one cluster: each pixel's label has probability 1/2 in its cluster.
    one_cluster = torch.ones(1, 1, 8, 8, dtype=torch.float64)
    mixed = cluster_agreement(columns, one_cluster, unsure, valid, radius=8)
    assert mixed.item() == pytest.approx(np.log(0.5))
    # Mostly one label in the cluster: better than half and half, still below pure.
    mostly = one_hot(torch.zeros(1, 8, 8, dtype=torch.long), 2)
    mostly[0, :, 3, 3] = torch.tensor([0.0, 1.0])
    partly = cluster_agreement(mostly, one_cluster, unsure, valid, radius=8)
    assert mixed < partly < 0
    assert partly.item() == pytest.approx((63 * np.log(63 / 64) + np.log(1 / 64)) / 64)


def test_cluster_agreement_spares_pixels_with_sure_weak_labels() -> None:
    valid = all_valid(1, 8, 8)
    columns = one_hot(stripes(8, 8, axis=1), 2)
    one_cluster = torch.ones(1, 1, 8, 8, dtype=torch.float64)
    unsure = cluster_agreement(columns, one_cluster, torch.zeros(1, 8, 8), valid, radius=2)
    half = cluster_agreement(columns, one_cluster, torch.full((1, 8, 8), 0.5), valid, radius=2)
    sure = cluster_agreement(columns, one_cluster, torch.ones(1, 8, 8), valid, radius=2)
    assert sure == 0
    assert torch.allclose(half, unsure / 2)
    # No weak label (NaN) counts as unsure.
    missing = cluster_agreement(
        columns, one_cluster, torch.full((1, 8, 8), float("nan")), valid, radius=2
    )
    assert torch.equal(missing, unsure)


def test_cluster_agreement_ignores_invalid_pixels() -> None:
    columns = one_hot(stripes(8, 8, axis=1), 2)
    valid = all_valid(1, 8, 8)
    valid[0, :, :2] = False
    scrambled = columns.clone()
    scrambled[:, :, :, :2] = 0.5
    unsure = torch.zeros(1, 8, 8)
    assert cluster_agreement(scrambled, columns, unsure, valid, radius=2) == 0


# --- gradients --------------------------------------------------------------------------


def _terms() -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    valid = all_valid(2, 8, 8)
    valid[1, :3, :3] = False
    weak = torch.rand(2, 3, 8, 8, generator=generator, dtype=torch.float64)
    weak = weak / weak.sum(1, keepdim=True)
    clusters = torch.rand(2, 4, 8, 8, generator=generator, dtype=torch.float64)
    clusters = clusters / clusters.sum(1, keepdim=True)
    code_index = torch.randint(-1, 2, (2, 8, 8), generator=generator)
    mean = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]], dtype=torch.float64)
    var = torch.full((2, 3), 0.02, dtype=torch.float64)
    confidence = weak.max(1).values
    return {
        "image_match": lambda p: image_match(p, weak, valid, 0.3),
        "weak_label_kl": lambda p: weak_label_kl(p, weak, valid, pool=4),
        "weak_label_kl_stride_1": lambda p: weak_label_kl(p, weak, valid, pool=3, stride=1),
        "label_statistics": lambda p: label_statistics_loglik(p, code_index, valid, mean, var, 4),
        "local_nmi": lambda p: local_nmi(p, clusters, valid, radius=2),
        "cluster_agreement": lambda p: cluster_agreement(p, clusters, confidence, valid, 2),
    }


@pytest.mark.parametrize("name", list(_terms()))
def test_gradients_are_finite(name: str) -> None:
    logits = soft_labels(2, 3, 8)
    p = logits.softmax(1)
    value = _terms()[name](p)
    assert value.shape == (2,)
    assert torch.isfinite(value).all()
    (gradient,) = torch.autograd.grad(value.sum(), logits)
    assert torch.isfinite(gradient).all()
    assert gradient.abs().sum() > 0


@pytest.mark.parametrize("name", ["weak_label_kl", "local_nmi", "cluster_agreement"])
def test_gradients_are_finite_for_hard_labels(name: str) -> None:
    # One-hot labels put exact zeros inside the logarithms.
    hard = one_hot(torch.randint(0, 3, (2, 8, 8), generator=torch.Generator().manual_seed(2)), 3)
    hard.requires_grad_()
    (gradient,) = torch.autograd.grad(_terms()[name](hard).sum(), hard)
    assert torch.isfinite(gradient).all()


def test_shape_errors_name_the_argument() -> None:
    p = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match=r"valid: expected shape \(1, 8, 8\)"):
        local_nmi(p, p, all_valid(1, 4, 4), radius=1)
