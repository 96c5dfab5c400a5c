"""Per-tile class colour models by EM, and the constraint built on them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from geoppp.landcover.colour_model import (
    ABSENT,
    SHRINKAGE,
    ColourRefinementConfig,
    bhattacharyya,
    class_loglik,
    fit_colour_models,
    merge_inseparable,
    refine_with_colour,
    standardise,
    weak_reach,
)
from geoppp.landcover.constraints import colour_model_loglik

HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)


def two_colours(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A 32 × 32 tile: class 0 is dark, class 1 bright; 20 % of the left half (which the
    weak labels call 70 % class 0) is bright, 20 % of the right half (70 % class 1) dark.

    Returns (image (1, 3, 32, 32), truth (32, 32), weak (1, 2, 32, 32))."""
    generator = np.random.default_rng(seed)
    truth = np.zeros((32, 32), dtype=np.int64)
    truth[:, 16:] = 1
    flip = generator.random((32, 32)) < 0.2
    truth[flip] = 1 - truth[flip]
    centres = np.array([[40.0, 60.0, 30.0], [160.0, 150.0, 120.0]])
    image = centres[truth].transpose(2, 0, 1) + generator.normal(0, 8, (3, 32, 32))
    weak = np.zeros((2, 32, 32))
    weak[0, :, :16], weak[1, :, :16] = 0.7, 0.3
    weak[0, :, 16:], weak[1, :, 16:] = 0.3, 0.7
    return (
        torch.tensor(image[np.newaxis], dtype=torch.float32),
        torch.from_numpy(truth),
        torch.tensor(weak[np.newaxis], dtype=torch.float32),
    )


def test_standardise_uses_valid_pixels_only() -> None:
    image = torch.randn(2, 3, 8, 8) * 5 + 7
    valid = torch.rand(2, 8, 8) > 0.3
    spoiled = image.clone()
    spoiled[~valid.unsqueeze(1).expand_as(image)] = 1e6
    result = standardise(spoiled, valid)
    for b in range(2):
        values = result[b][:, valid[b]]
        np.testing.assert_allclose(values.mean(1), 0.0, atol=1e-4)
        np.testing.assert_allclose(values.var(1, unbiased=False), 1.0, atol=1e-4)
    np.testing.assert_allclose(
        result[valid.unsqueeze(1).expand_as(image)],
        standardise(image, valid)[valid.unsqueeze(1).expand_as(image)],
        atol=1e-5,
    )


def test_class_loglik_is_the_weighted_gaussian_density() -> None:
    generator = torch.Generator().manual_seed(1)
    image = torch.randn(1, 3, 6, 6, generator=generator)
    weights = torch.rand(1, 2, 6, 6, generator=generator)
    valid = torch.ones(1, 6, 6, dtype=torch.bool)
    result = class_loglik(image, weights, valid)
    x = image[0].flatten(1).T.double().numpy()
    for k in range(2):
        w = weights[0, k].flatten().double().numpy()
        mean = (w[:, None] * x).sum(0) / w.sum()
        cov = ((w[:, None] * (x - mean)).T @ (x - mean)) / w.sum() + SHRINKAGE * np.eye(3)
        expected = multivariate_normal(mean, cov).logpdf(x) + 3 * HALF_LOG_2PI
        np.testing.assert_allclose(result[0, k].flatten().numpy(), expected, rtol=1e-4)


def test_pseudo_pixels_make_an_absent_class_the_tiles_own_distribution() -> None:
    image = standardise(torch.randn(1, 3, 8, 8), torch.ones(1, 8, 8, dtype=torch.bool))
    weights = torch.zeros(1, 2, 8, 8)
    weights[:, 0] = 1.0  # class 1 has no pixel at all
    result = class_loglik(image, weights, torch.ones(1, 8, 8, dtype=torch.bool), 50.0)
    x = image[0].flatten(1).T.double().numpy()
    expected = multivariate_normal(np.zeros(3), (1 + SHRINKAGE) * np.eye(3)).logpdf(x)
    np.testing.assert_allclose(
        result[0, 1].flatten().numpy(), expected + 3 * HALF_LOG_2PI, rtol=1e-5
    )


def test_refinement_puts_each_pixel_in_the_class_of_its_colour() -> None:
    image, truth, weak = two_colours()
    valid = torch.ones(1, 32, 32, dtype=torch.bool)
    before = (weak[0].argmax(0) == truth).float().mean()
    refined = refine_with_colour(weak, image, valid, ColourRefinementConfig(pseudo_count=10))
    after = (refined[0].argmax(0) == truth).float().mean()
    assert before == pytest.approx(0.8, abs=0.05)
    assert after > 0.98
    np.testing.assert_allclose(refined.sum(1), 1.0, atol=1e-5)


def test_invalid_pixels_neither_count_nor_disturb() -> None:
    image, _, weak = two_colours()
    valid = torch.ones(1, 32, 32, dtype=torch.bool)
    valid[:, :4] = False
    spoiled = image.clone()
    spoiled[:, :, :4] = 1e4
    config = ColourRefinementConfig(iterations=2, pseudo_count=10)
    np.testing.assert_allclose(
        refine_with_colour(weak, spoiled, valid, config)[:, :, 4:],
        refine_with_colour(weak, image, valid, config)[:, :, 4:],
        atol=1e-5,
    )


def test_each_tile_is_fitted_alone() -> None:
    image, _, weak = two_colours()
    other, _, other_weak = two_colours(seed=5)
    valid = torch.ones(2, 32, 32, dtype=torch.bool)
    together, _ = fit_colour_models(
        torch.cat([weak, other_weak]), torch.cat([image, other]), valid, 3, 10.0
    )
    alone, _ = fit_colour_models(weak, image, valid[:1], 3, 10.0)
    np.testing.assert_allclose(together[:1], alone, atol=1e-5)


def test_colour_model_constraint_prefers_labels_that_explain_the_colours() -> None:
    image, truth, weak = two_colours()
    valid = torch.ones(1, 32, 32, dtype=torch.bool)
    _, loglik = fit_colour_models(weak, image, valid, 3, 10.0)
    right = torch.nn.functional.one_hot(truth, 2).permute(2, 0, 1)[None].float() * 0.98 + 0.01
    wrong = right.flip(1)
    assert colour_model_loglik(right, loglik, valid) > colour_model_loglik(weak, loglik, valid)
    assert colour_model_loglik(weak, loglik, valid) > colour_model_loglik(wrong, loglik, valid)
    # the mixture's log-density, computed directly
    direct = torch.log((right * loglik.exp()).sum(1) + 0.0).mean()
    np.testing.assert_allclose(colour_model_loglik(right, loglik, valid), direct, rtol=1e-3)
    labels = weak.clone().requires_grad_(True)
    colour_model_loglik(labels, loglik, valid).sum().backward()
    assert labels.grad is not None and torch.isfinite(labels.grad).all()
    # pixels that look like class 1 pull class 1 up
    bright = truth == 1
    assert (labels.grad[0, 1][bright] > labels.grad[0, 0][bright]).float().mean() > 0.95


def test_weak_reach_is_each_class_s_largest_labelled_probability() -> None:
    weak = torch.rand(2, 3, 6, 6)
    labelled = torch.rand(2, 6, 6) > 0.5
    labelled[1] = False
    weak[0, 2][~labelled[0]] = 5.0  # unlabelled pixels do not count
    reach = weak_reach(weak, labelled)
    expected = torch.stack([weak[0, k][labelled[0]].max() for k in range(3)])
    np.testing.assert_allclose(reach[0], expected)
    np.testing.assert_array_equal(reach[1], torch.ones(3))  # no labelled pixel: all possible


def test_a_class_absent_from_the_weak_labels_claims_no_pixel() -> None:
    """A third class the weak labels put at 0.1-0.3 %: left in, its model fits the small dark
    patch where its weight is highest and takes it (forest shadow became water so on the
    Chesapeake patches); ruled out, it gets no pixel and the log-density ABSENT."""
    image, truth, weak = two_colours()
    image[:, :, :4, :4] = torch.tensor([5.0, 5.0, 40.0])[:, None, None] + torch.randn(3, 4, 4)
    third = torch.full((1, 1, 32, 32), 0.001)
    third[..., :4, :4] = 0.003
    weak = torch.cat([weak * (1 - third), third], dim=1)
    valid = torch.ones(1, 32, 32, dtype=torch.bool)
    config = ColourRefinementConfig(pseudo_count=0, absent_below=0.01)
    reach = weak_reach(weak, valid)
    np.testing.assert_array_equal(reach >= 0.01, [[True, True, False]])
    kept = refine_with_colour(weak, image, valid, config)
    ruled_out = refine_with_colour(weak, image, valid, config, reach)
    assert kept[0, 2, :4, :4].mean() > 0.9
    assert ruled_out[0, 2].max() == 0.0
    outside = np.ones((32, 32), dtype=bool)
    outside[:4, :4] = False
    assert (ruled_out[0].argmax(0) == truth)[outside].float().mean() > 0.98
    np.testing.assert_allclose(ruled_out.sum(1), 1.0, atol=1e-5)
    _, loglik = fit_colour_models(weak, image, valid, 3, 0.0, reach >= 0.01)
    assert (loglik[0, 2] == ABSENT).all()
    labels = weak.clone().requires_grad_(True)
    colour_model_loglik(labels, loglik, valid).sum().backward()
    assert labels.grad is not None and torch.isfinite(labels.grad).all()


def test_bhattacharyya_is_one_for_identical_gaussians_and_falls_with_distance() -> None:
    mean = torch.tensor([[[0.0, 0.0], [0.0, 0.0], [3.0, 0.0], [30.0, 0.0]]])
    cov = torch.eye(2).expand(1, 4, 2, 2)
    overlap = bhattacharyya(mean, cov)
    np.testing.assert_allclose(overlap[0, 0, 1], 1.0, atol=1e-5)
    np.testing.assert_allclose(overlap[0, 0, 2], np.exp(-9 / 8), rtol=1e-5)  # (1/8)·d²
    assert overlap[0, 0, 3] < 1e-40
    np.testing.assert_allclose(overlap[0], overlap[0].T)


def test_a_group_of_inseparable_classes_shares_its_mass_as_the_start_did() -> None:
    responsibilities = torch.tensor([0.5, 0.3, 0.2]).view(1, 3, 1, 1)
    start = torch.tensor([0.1, 0.6, 0.3]).view(1, 3, 1, 1)
    together = torch.zeros(1, 3, 3, dtype=torch.bool)
    together[0, 0, 1] = together[0, 1, 0] = True  # 0 and 1: one group; 2 alone
    merged = merge_inseparable(responsibilities, start, together)
    np.testing.assert_allclose(merged.flatten(), [0.8 * 0.1 / 0.7, 0.8 * 0.6 / 0.7, 0.2])
    chained = torch.zeros(1, 3, 3, dtype=torch.bool)
    chained[0, 0, 1] = chained[0, 1, 0] = chained[0, 1, 2] = chained[0, 2, 1] = True
    np.testing.assert_allclose(merge_inseparable(responsibilities, start, chained), start)


def shared_colours(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A 32 × 32 tile all of class 0 (a field) whose colour brightens to the right, with
    weak labels of two blocks: 90 % class 0 on the left, 55 % on the right. Both classes
    look the same; only brightness, which says nothing, goes with the weak labels."""
    generator = np.random.default_rng(seed)
    ramp = np.linspace(0.8, 1.2, 32)[np.newaxis, :] * np.ones((32, 1))
    image = np.array([70.0, 120.0, 50.0])[:, None, None] * ramp + generator.normal(
        0, 4, (3, 32, 32)
    )
    weak = np.zeros((2, 32, 32))
    weak[0, :, :16], weak[1, :, :16] = 0.9, 0.1
    weak[0, :, 16:], weak[1, :, 16:] = 0.55, 0.45
    return (
        torch.tensor(image[np.newaxis], dtype=torch.float32),
        torch.zeros(32, 32, dtype=torch.long),
        torch.tensor(weak[np.newaxis], dtype=torch.float32),
    )


def test_classes_that_share_a_colour_keep_the_weak_labels_class() -> None:
    image, truth, weak = shared_colours()
    valid = torch.ones(1, 32, 32, dtype=torch.bool)
    split = refine_with_colour(
        weak, image, valid, ColourRefinementConfig(pseudo_count=10, max_overlap=1.0)
    )
    guarded = refine_with_colour(
        weak, image, valid, ColourRefinementConfig(pseudo_count=10, max_overlap=0.3)
    )
    assert (split[0].argmax(0) == truth).float().mean() < 0.7  # split by brightness
    assert (guarded[0].argmax(0) == truth).float().mean() == 1.0
    np.testing.assert_allclose(guarded.sum(1), 1.0, atol=1e-5)


def test_classes_that_colours_separate_keep_the_gain() -> None:
    image, truth, weak = two_colours()
    valid = torch.ones(1, 32, 32, dtype=torch.bool)
    guarded = refine_with_colour(
        weak, image, valid, ColourRefinementConfig(pseudo_count=10, max_overlap=0.3)
    )
    assert (guarded[0].argmax(0) == truth).float().mean() > 0.98
