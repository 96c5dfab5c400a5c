"""An exponential moving average of a model's weights (the weights a DDPM samples with).

torch's ``AveragedModel`` keeps the averaged copy and ``get_ema_multi_avg_fn`` does the
foreach lerp; this adds a warm-up, ``decay_n = min(decay, (1 + n) / (10 + n))`` after ``n``
updates (the TensorFlow ``ExponentialMovingAverage`` rule), so that early averages are not
dominated by the random initialisation during short runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class ExponentialMovingAverage:
    """EMA weights of ``model``, updated by :meth:`update` after each optimiser step.

    Args:
        model: the model being trained; the average starts as a deep copy of it.
        decay: the long-run decay in [0, 1); 0.999 averages over roughly the last 1000 steps.
        warmup: use ``min(decay, (1 + n) / (10 + n))`` for the n-th update.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, warmup: bool = True) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must lie in [0, 1), got {decay}")
        self.decay = decay
        self.warmup = warmup
        # A host-side count of updates, so the warm-up decay never reads the device tensor
        # ``n_averaged`` (a CUDA sync per step).
        self._updates = 0
        self.averaged = AveragedModel(model, multi_avg_fn=self._average, use_buffers=True)
        self.averaged.eval()

    @property
    def module(self) -> nn.Module:
        """The averaged copy of the model (eval mode)."""
        module: nn.Module = self.averaged.module
        return module

    @property
    def updates(self) -> int:
        """How many times :meth:`update` has run."""
        return self._updates

    def decay_at(self, updates: int) -> float:
        """The decay applied when folding in the model after ``updates`` earlier updates."""
        if not self.warmup:
            return self.decay
        return min(self.decay, (1 + updates) / (10 + updates))

    def update(self, model: nn.Module) -> None:
        """Fold the current weights of ``model`` into the average (the first call copies)."""
        self.averaged.update_parameters(model)
        self._updates += 1

    def _average(
        self,
        averaged: list[Tensor] | tuple[Tensor, ...],
        current: list[Tensor] | tuple[Tensor, ...],
        num_averaged: Tensor | int,
    ) -> None:
        # ``update_parameters`` calls this from the second update on; ``_updates`` is then
        # the number of weights already in the average.
        get_ema_multi_avg_fn(self.decay_at(self._updates))(averaged, current, num_averaged)

    def state_dict(self) -> dict[str, Any]:
        return {"averaged": self.averaged.state_dict(), "updates": self._updates}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.averaged.load_state_dict(state["averaged"])
        self._updates = int(state["updates"])
