"""Class colour models fitted on the target itself: a Gaussian per class and tile, by EM.

A map's class probabilities p(k) at each pixel are mixing weights; each class k has a
Gaussian N(μ_k, Σ_k) over the pixel's bands (standardised per tile), fitted per tile by
expectation maximisation (Dempster et al. 1977) with the mixing weights held fixed:

    r(k) ∝ p(k) · N(x | μ_k, Σ_k),   μ_k, Σ_k = the r-weighted mean and covariance of x.

The colours of each class are learned where they are used, so a shifted domain (dry grass,
bright bare soil) does not mislead them as it misleads an image-to-label link learned on the
source region. Used twice by plug-and-play inference: as a constraint at the prior's cells
(:func:`geoppp.landcover.constraints.colour_model_loglik`) and as a readout at full
resolution (:func:`refine_with_colour`).

Covariances are full, because a class's bands move together with brightness (a diagonal
model let one class take over whole tiles of the demo target). A class with little weight in
a tile would fit a few pixels tightly and then claim others; ``pseudo_count`` pixels of the
tile's own standardised distribution (mean 0, identity covariance) are added to every class,
a conjugate prior that keeps such a class broad.

Colour models can also do harm: where two classes share a tile's colours (field and forest
in a green tile), the EM splits the shared colours between them by brightness, and a tile
the weak labels call 80 % field comes out half forest. The readout therefore lets colour
decide only between classes it can tell apart: classes whose fitted Gaussians overlap with
a Bhattacharyya coefficient above ``max_overlap`` (Bhattacharyya 1943; 1 for identical
Gaussians) form a group, which takes the mass the colour models give it and shares it out
between its classes as the probabilities the readout started from do
(:func:`merge_inseparable`). No label is needed; where colours separate the classes the
groups are single classes and the readout is unchanged.

A class that the weak labels all but rule out in a whole tile (below ``absent_below`` at
every labelled pixel) gets no model there: given the smallest weight, the broad model of a
class that is not in the tile still fits its darkest or brightest corner best, and on the
Chesapeake patches forest shadow became water where the weak labels said 0.1 % water.

Written here rather than with scikit-learn's ``GaussianMixture``: that fits one vector of
mixing weights per model, not a map of per-pixel weights, and does not run batched on a GPU.
"""

from __future__ import annotations

import torch
from torch import Tensor

from geoppp.landcover.settings import ColourRefinementConfig

SHRINKAGE = 1e-2
"""Added to each covariance's diagonal (standardised units), so that it stays invertible."""
ABSENT = -1e9
"""Log-density given to a class absent from a tile: finite, so that no sum becomes NaN."""


def weak_reach(weak: Tensor, labelled: Tensor) -> Tensor:
    """Each class's largest weak-label probability over a tile's labelled pixels, 1 for every
    class of a tile without one (nothing rules a class out there).

    ``(B, K, H, W)``, ``(B, H, W)`` bool → ``(B, K)``.
    """
    reach = (weak * labelled.unsqueeze(1)).amax(dim=(2, 3))
    unlabelled = ~labelled.flatten(1).any(dim=1, keepdim=True)
    return torch.where(unlabelled, torch.ones_like(reach), reach)


def standardise(image: Tensor, valid: Tensor) -> Tensor:
    """Each tile's bands to zero mean and unit variance over its valid pixels.

    ``(B, C, H, W)``, ``(B, H, W)`` bool → ``(B, C, H, W)``.
    """
    weight = valid.unsqueeze(1).to(image.dtype)
    count = weight.sum(dim=(2, 3), keepdim=True).clamp(min=1.0)
    mean = (image * weight).sum(dim=(2, 3), keepdim=True) / count
    var = (((image - mean) * weight) ** 2).sum(dim=(2, 3), keepdim=True) / count
    return (image - mean) / var.sqrt().clamp(min=1e-6)


def class_gaussians(
    image: Tensor, weights: Tensor, valid: Tensor, pseudo_count: float = 0.0
) -> tuple[Tensor, Tensor]:
    """The ``weights``-weighted mean ``(B, K, C)`` and covariance ``(B, K, C, C)`` of each
    class's pixels in its tile (an M step); arguments as :func:`class_loglik`'s."""
    bands = image.shape[1]
    x = image.flatten(2).transpose(1, 2)  # (B, N, C)
    w = (weights * valid.unsqueeze(1)).flatten(2).transpose(1, 2)  # (B, N, K)
    mass = w.sum(dim=1) + pseudo_count  # (B, K)
    mean = torch.einsum("bnk,bnc->bkc", w, x) / mass.clamp(min=1e-6)[..., None]
    centred = x[:, :, None, :] - mean[:, None]  # (B, N, K, C)
    eye = torch.eye(bands, dtype=image.dtype, device=image.device)
    # The pseudo-pixels sit at the tile's mean 0: their scatter about μ_k is I + μ_k μ_kᵀ.
    scatter = torch.einsum("bnk,bnkc,bnkd->bkcd", w, centred, centred) + pseudo_count * (
        eye + mean[..., :, None] * mean[..., None, :]
    )
    cov = scatter / mass.clamp(min=1e-6)[..., None, None] + SHRINKAGE * eye
    return mean, cov


def class_loglik(
    image: Tensor, weights: Tensor, valid: Tensor, pseudo_count: float = 0.0
) -> Tensor:
    """log N(x | μ_k, Σ_k) at every pixel, for μ_k and Σ_k the ``weights``-weighted mean and
    covariance of each class's pixels in its tile (an M step, then the E step's scores).

    Args:
        image: ``(B, C, H, W)`` bands, standardised per tile (:func:`standardise`).
        weights: ``(B, K, H, W)`` each pixel's weight for each class (responsibilities).
        valid: ``(B, H, W)`` bool; invalid pixels weigh nothing.
        pseudo_count: pixels of mean 0 and identity covariance added to every class.

    Returns:
        ``(B, K, H, W)`` log-densities, without the constant -C/2 · log 2π.
    """
    batch, bands = image.shape[:2]
    mean, cov = class_gaussians(image, weights, valid, pseudo_count)
    x = image.flatten(2).transpose(1, 2)  # (B, N, C)
    centred = x[:, :, None, :] - mean[:, None]  # (B, N, K, C)
    eye = torch.eye(bands, dtype=image.dtype, device=image.device)
    chol = torch.linalg.cholesky(cov)  # (B, K, C, C)
    # L⁻¹ once per class, then one product per pixel: solving per pixel would broadcast L
    # to (B, N, K, C, C).
    inverse = torch.linalg.solve_triangular(chol, eye.expand_as(chol), upper=False)
    solved = torch.einsum("bkcd,bnkd->bnkc", inverse, centred)
    log_det = torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(dim=-1)  # (B, K)
    loglik = -0.5 * (solved**2).sum(dim=-1) - log_det[:, None]  # (B, N, K)
    return loglik.transpose(1, 2).reshape(batch, -1, *image.shape[2:])


def fit_colour_models(
    probabilities: Tensor,
    image: Tensor,
    valid: Tensor,
    iterations: int,
    pseudo_count: float,
    present: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """EM of per-tile class colour models under fixed per-pixel mixing weights.

    Args:
        probabilities: ``(B, K, H, W)`` the mixing weights, and the first responsibilities.
        image: ``(B, C, H, W)`` the bands, any scale (standardised per tile here).
        valid: ``(B, H, W)`` bool.
        iterations: EM steps, each an M step then an E step.
        pseudo_count: see :func:`class_loglik`.
        present: ``(B, K)`` bool, the classes each tile may hold; the others get no weight
            and the log-density :data:`ABSENT`. None: all of them.

    Returns:
        ``(responsibilities, loglik)``, both ``(B, K, H, W)``: p(k | x) under the fitted
        models, and each pixel's log-density under each class's model.
    """
    x = standardise(image.float(), valid)
    log_prior = torch.log(probabilities.float().clamp(min=1e-8))
    responsibilities = probabilities.float()
    absent = None
    if present is not None:
        absent = ~present[:, :, None, None]
        log_prior = log_prior.masked_fill(absent, ABSENT)
        responsibilities = torch.softmax(log_prior, dim=1)
    loglik = torch.zeros_like(responsibilities)
    for _ in range(iterations):
        loglik = class_loglik(x, responsibilities, valid, pseudo_count)
        if absent is not None:
            loglik = loglik.masked_fill(absent, ABSENT)
        responsibilities = torch.softmax(log_prior + loglik, dim=1)
    return responsibilities, loglik


def bhattacharyya(mean: Tensor, cov: Tensor) -> Tensor:
    """The Bhattacharyya coefficient of every pair of a tile's Gaussians, 1 for identical
    ones, towards 0 for well-separated ones: ``(B, K, C)``, ``(B, K, C, C)`` → ``(B, K, K)``.
    """
    pair_cov = 0.5 * (cov[:, :, None] + cov[:, None, :])  # (B, K, K, C, C)
    difference = mean[:, :, None] - mean[:, None, :]  # (B, K, K, C)
    solved = torch.linalg.solve(pair_cov, difference.unsqueeze(-1)).squeeze(-1)
    distance = 0.125 * (difference * solved).sum(-1)
    log_det = torch.linalg.slogdet(cov).logabsdet  # (B, K)
    spread = 0.5 * (
        torch.linalg.slogdet(pair_cov).logabsdet - 0.5 * (log_det[:, :, None] + log_det[:, None, :])
    )
    return torch.exp(-(distance + spread))


def merge_inseparable(responsibilities: Tensor, probabilities: Tensor, together: Tensor) -> Tensor:
    """The colour readout with each group of inseparable classes sharing its mass as the
    starting probabilities do.

    Args:
        responsibilities: ``(B, K, H, W)`` the colour readout.
        probabilities: ``(B, K, H, W)`` the probabilities it started from.
        together: ``(B, K, K)`` bool, classes whose colours cannot be told apart; grouped
            transitively (a with b and b with c: one group).

    Returns:
        ``(B, K, H, W)``: per group G and class k in it, ``Σ_G r · p_k / Σ_G p``.
    """
    classes = together.shape[-1]
    eye = torch.eye(classes, dtype=torch.bool, device=together.device)
    group = (together | eye).float()
    for _ in range(max(classes - 1, 0).bit_length()):  # transitive closure by squaring
        group = (group @ group > 0).float()
    group = group.to(responsibilities)
    p = probabilities.to(responsibilities).clamp(min=1e-8)
    group_r = torch.einsum("bkj,bjhw->bkhw", group, responsibilities)
    group_p = torch.einsum("bkj,bjhw->bkhw", group, p)
    return group_r * p / group_p


def refine_with_colour(
    probabilities: Tensor,
    image: Tensor,
    valid: Tensor,
    config: ColourRefinementConfig,
    reach: Tensor | None = None,
) -> Tensor:
    """A map's probabilities read out through per-tile class colour models:
    ``(B, K, H, W)`` → ``(B, K, H, W)`` responsibilities (see :func:`fit_colour_models`),
    each group of classes whose models overlap more than ``config.max_overlap`` sharing
    its mass as ``probabilities`` do (:func:`merge_inseparable`).

    ``reach``: ``(B, K)`` :func:`weak_reach` of the tiles' weak labels; the classes below
    ``config.absent_below`` there are left out. None: none is.
    """
    present = None if reach is None else reach >= config.absent_below
    responsibilities, _ = fit_colour_models(
        probabilities, image, valid, config.iterations, config.pseudo_count, present
    )
    if config.max_overlap >= 1:
        return responsibilities
    mean, cov = class_gaussians(
        standardise(image.float(), valid), responsibilities, valid, config.pseudo_count
    )
    together = bhattacharyya(mean, cov) > config.max_overlap
    if present is not None:  # an absent class's model is no model: it groups with none
        together &= present[:, :, None] & present[:, None, :]
    return merge_inseparable(responsibilities, probabilities, together)
