"""The source's labels as a learned likelihood: a segmentation network's class probabilities
as a plug-and-play term.

A network trained on the labelled source region (a ``train_segmentation`` checkpoint) knows
how the source's imagery looks per class; on the target it gives q(k | image) at every
pixel. Graikos et al.'s framework takes any differentiable constraint c(x, y); this one is
the agreement of η's labels with q, in two places:

- at the prior's cells, ``-KL(q̄ ‖ p(η))`` per cell, with q̄ the cell's mean of q over its
  valid pixels (:func:`~geoppp.landcover.constraints.weak_label_kl` with a pool of one
  cell): weighted like the other terms by ``constraints.network``;
- at full resolution, a product of experts, ``p(k) ∝ p(k) · q(k)^r`` with ``r`` the step's
  ``network_readout``, before the colour readout (whose colour models then start from it).

q is a function of the observed image alone, so it is computed once per batch, without a
gradient; the gradient flows through p(η).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from geoppp.landcover.segmentation import SegmentationModel

FLOOR = 1e-3
"""Smallest probability a network's class gets in the readout's product: one confident
mistake of the network damps a class, it does not erase it."""


def network_probabilities(
    network: SegmentationModel, arrays: dict[str, np.ndarray], valid: np.ndarray
) -> Tensor:
    """The network's class probabilities on a batch's imagery: ``(B, K, H, W)`` on the
    network's device, uniform where the imagery is nodata."""
    out = torch.from_numpy(network(arrays, valid)).to(network.device)
    uniform = torch.full_like(out, 1.0 / out.shape[1])
    return torch.where(torch.isfinite(out), out, uniform)


def coarse_probabilities(q: Tensor, valid: np.ndarray, factor: int) -> Tensor:
    """``q`` averaged over each ``factor × factor`` cell's valid pixels: ``(B, K, h, w)``
    (uniform in a cell without one)."""
    weight = torch.from_numpy(valid).to(q.device).float().unsqueeze(1)
    share = F.avg_pool2d(weight, factor)
    coarse = F.avg_pool2d(q * weight, factor) / share.clamp(min=1e-6)
    uniform = torch.full_like(coarse, 1.0 / coarse.shape[1])
    return torch.where(share > 0, coarse, uniform)


def product_readout(fine: Tensor, q: Tensor, exponent: float) -> Tensor:
    """``p ∝ p · max(q, FLOOR)^exponent`` per pixel: ``(B, K, H, W)`` → same."""
    if exponent == 0:
        return fine
    product = fine * q.clamp(min=FLOOR) ** exponent
    return product / product.sum(dim=1, keepdim=True).clamp(min=1e-12)
