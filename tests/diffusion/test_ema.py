"""The EMA of the weights follows its formula, warm-up included, and survives a state round trip."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from geoppp.diffusion import ExponentialMovingAverage


def weight(module: nn.Module) -> torch.Tensor:
    tensor = module.weight
    assert isinstance(tensor, torch.Tensor)
    return tensor


def test_average_follows_the_formula_with_warmup() -> None:
    model = nn.Linear(2, 1, bias=False)
    ema = ExponentialMovingAverage(model, decay=0.9, warmup=True)
    expected = None
    for step, value in enumerate([1.0, 2.0, -3.0, 5.0, 0.5]):
        with torch.no_grad():
            model.weight.fill_(value)
        decay = min(0.9, (1 + step) / (10 + step))
        ema.update(model)
        expected = value if expected is None else decay * expected + (1 - decay) * value
        assert weight(ema.module)[0, 0].item() == pytest.approx(expected, rel=1e-6)
    assert ema.updates == 5


def test_without_warmup_the_decay_is_constant() -> None:
    model = nn.Linear(1, 1, bias=False)
    ema = ExponentialMovingAverage(model, decay=0.5, warmup=False)
    for value in (4.0, 0.0, 0.0):
        with torch.no_grad():
            model.weight.fill_(value)
        ema.update(model)
    assert weight(ema.module).item() == pytest.approx(1.0)  # 4 → 2 → 1
    assert ema.decay_at(0) == ema.decay_at(10_000) == 0.5


def test_the_average_is_a_copy_not_the_model() -> None:
    model = nn.Linear(1, 1)
    ema = ExponentialMovingAverage(model)
    assert ema.module is not model
    ema.update(model)
    with torch.no_grad():
        model.weight.add_(1.0)
    assert weight(ema.module).item() != model.weight.item()


def test_state_round_trip_continues_identically() -> None:
    model = nn.Linear(3, 2)
    first = ExponentialMovingAverage(model, decay=0.99)
    for _ in range(3):
        with torch.no_grad():
            model.weight.mul_(1.5)
        first.update(model)
    second = ExponentialMovingAverage(nn.Linear(3, 2), decay=0.99)
    second.load_state_dict(first.state_dict())
    for ema in (first, second):
        ema.update(model)
    assert torch.equal(weight(first.module), weight(second.module))
    assert second.updates == first.updates == 4


def test_decay_outside_the_unit_interval_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        ExponentialMovingAverage(nn.Linear(1, 1), decay=1.0)
