from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from geoppp.tasks.digits.classifier import ClassifierConfig, DigitClassifier
from geoppp.tasks.digits.constraints import (
    ClassConstraint,
    InpaintingConstraint,
    asymmetry,
    symmetry,
)


def test_class_constraint_is_the_log_probability_of_the_target() -> None:
    torch.manual_seed(0)
    classifier = DigitClassifier(ClassifierConfig(channels=(4, 4, 4), features=8)).double()
    x = torch.rand(3, 1, 32, 32, dtype=torch.float64) * 2 - 1
    targets = torch.tensor([0, 3, 9])
    value = ClassConstraint(classifier, targets)(x)
    expected = F.log_softmax(classifier(x), 1)[torch.arange(3), targets]
    torch.testing.assert_close(value, expected)
    assert (value <= 0).all()
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(ClassConstraint(classifier, targets), (x,), fast_mode=True)


def test_class_constraint_refuses_a_target_count_that_does_not_match() -> None:
    classifier = DigitClassifier(ClassifierConfig())
    with pytest.raises(ValueError, match="2 targets for a batch of 3"):
        ClassConstraint(classifier, torch.tensor([1, 2]))(torch.zeros(3, 1, 32, 32))


def test_symmetry_is_zero_for_mirror_images_and_its_gradient_pulls_towards_them() -> None:
    x = torch.rand(2, 1, 32, 32, dtype=torch.float64)
    symmetric = (x + x.flip(3)) / 2
    assert torch.allclose(symmetry(symmetric), torch.zeros(2, dtype=torch.float64))
    assert (symmetry(x) < 0).all()
    x.requires_grad_(True)
    (gradient,) = torch.autograd.grad(symmetry(x).sum(), x)
    torch.testing.assert_close(gradient, -4 * (x - x.flip(3)).detach())
    assert torch.autograd.gradcheck(symmetry, (x,), fast_mode=True)
    assert torch.allclose(asymmetry(symmetric), torch.zeros(2, dtype=torch.float64))


def test_inpainting_scores_only_known_pixels_and_pastes_them_back() -> None:
    known = torch.rand(2, 1, 32, 32, dtype=torch.float64)
    mask = torch.zeros_like(known)
    mask[..., :16, :] = 1
    constraint = InpaintingConstraint(known, mask)
    x = known.clone()
    x[..., 16:, :] = -5  # unknown half: ignored
    assert torch.allclose(constraint(x), torch.zeros(2, dtype=torch.float64))
    x[..., 0, 0] += 0.5
    assert torch.allclose(constraint(x), torch.full((2,), -0.25, dtype=torch.float64))
    x.requires_grad_(True)
    (gradient,) = torch.autograd.grad(constraint(x).sum(), x)
    torch.testing.assert_close(gradient, -2 * mask * (x - known).detach())
    pasted = constraint.paste(torch.zeros_like(known))
    torch.testing.assert_close(pasted[..., :16, :], known[..., :16, :])
    assert (pasted[..., 16:, :] == 0).all()


def test_constraints_refuse_images_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"\(B, 1, 32, 32\)"):
        symmetry(torch.zeros(2, 3, 32, 32))
