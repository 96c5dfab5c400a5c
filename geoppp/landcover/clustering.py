"""Colour clusters of an image: a local Gaussian mixture.

:func:`local_gmm` is the "overlap clustering" of Graikos et al. 2022 (*Diffusion models as
plug-and-play priors*, land-cover experiments), itself from Malkin et al.'s land-cover work:
a mixture of Gaussians in colour space whose weights, means and variances vary over the
image, each estimated from a ``(2r+1)²`` window around the pixel. A cluster is thus "the
locally dark pixels" rather than one colour for the whole tile, which is what makes the
clusters useful as a colour constraint on labels under changing illumination. It is written
here because no library fits local (spatially varying) Gaussian mixtures: scikit-learn's and
torch's mixtures share one set of parameters over all pixels.

The k-means baseline of global colour clusters is :mod:`geoppp.landcover.colour_vote`.

Pure computation: no I/O, no global state.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

VAR_MIN = 1e-4
"""Smallest local variance of a cluster's band (the reference's ``var_min``)."""
MASS_MIN = 1e-6
"""Smallest local weight of a cluster, so that means and variances stay finite."""
POSTERIOR_SMOOTHING = 0.001
"""Added to each posterior after an EM step, so that no cluster dies out anywhere."""


def local_average(data: Tensor, radius: int) -> Tensor:
    """Box average of every channel over a ``(2·radius+1)²`` window, edges not padded.

    Args:
        data: ``(..., H, W)``.
        radius: half side of the window in pixels; 0 returns ``data`` itself.

    Returns:
        ``(..., H, W)``: the mean of each pixel's window, counting only in-image pixels.
    """
    if radius == 0:
        return data
    height, width = data.shape[-2:]
    side = 2 * radius + 1
    # Separable: a clipped window is a product of clipped intervals, so the mean over rows of
    # the means over columns is the 2D mean, in 2·side rather than side² operations per pixel.
    mean = F.avg_pool2d(
        data.reshape(-1, 1, height, width),
        (side, 1),
        stride=1,
        padding=(radius, 0),
        count_include_pad=False,
    )
    mean = F.avg_pool2d(mean, (1, side), stride=1, padding=(0, radius), count_include_pad=False)
    return mean.view(data.shape)


def _em_step(data: Tensor, p: Tensor, weight: Tensor, radius: int) -> Tensor:
    """One EM step of the local mixture: ``p`` ``(B, C, H, W)`` → new posteriors.

    ``data`` is ``(B, bands, H, W)`` and ``weight`` ``(B, 1, H, W)`` is 1 on valid pixels and
    0 elsewhere: every average is over valid pixels only (``avg(f·w) / avg(w)``), so that
    nodata neither shapes the clusters' colours nor their local proportions.
    """
    support = local_average(weight, radius).clamp(min=MASS_MIN)
    prior = local_average(p * weight, radius) / support
    mass = prior.clamp(min=MASS_MIN)
    weighted = (p * weight).unsqueeze(2)  # (B, C, 1, H, W)
    x = data.unsqueeze(1)  # (B, 1, bands, H, W)
    mean = local_average(weighted * x, radius) / support.unsqueeze(1) / mass.unsqueeze(2)
    var = local_average(weighted * x**2, radius) / support.unsqueeze(1) / mass.unsqueeze(2)
    var = (var - mean**2).clamp(min=VAR_MIN)

    # The likelihood of a pixel under cluster c averages the Gaussians fitted in every window
    # that holds the pixel (in log space), hence the local averages of the parameters' terms.
    w = weight.unsqueeze(1)
    w_support = support.unsqueeze(1)
    inverse = local_average(w / var, radius) / w_support
    linear = local_average(w * 2 * mean / var, radius) / w_support
    constant = local_average(w * mean**2 / var, radius) / w_support
    log_var = local_average(w * torch.log(var), radius) / w_support
    lp = (-inverse * x**2 + linear * x - constant - log_var).sum(2) / 2

    p = lp.softmax(1) * prior
    p = p / p.sum(1, keepdim=True).clamp(min=torch.finfo(p.dtype).tiny)
    p = p + POSTERIOR_SMOOTHING
    return p / p.sum(1, keepdim=True)


def local_gmm(
    image: Tensor,
    n_clusters: int = 5,
    radius: int = 10,
    iterations: int = 30,
    warmup_iterations: int = 0,
    warmup_radius: int | None = None,
    generator: torch.Generator | None = None,
    valid: Tensor | None = None,
) -> Tensor:
    """Posteriors of a local Gaussian mixture of the pixels' colours, by EM.

    The overlap clustering of Graikos et al. 2022 (after Malkin et al.): posteriors start at
    random; each step takes the local prior ``avg(p)``, per cluster and band the local mean
    ``avg(p·x) / avg(p)`` and variance ``avg(p·x²) / avg(p) - mean²`` over the
    ``(2r+1)²`` window, scores each pixel with the window-averaged Gaussian log-likelihood,
    and sets ``p ∝ softmax(log-likelihood) · prior``, smoothed by 0.001. Computed in float64
    as the reference does, without gradients. One difference: the reference's clamp of
    ``avg(p)`` is not in place and so has no effect; here it is applied.

    Args:
        image: ``(B, bands, H, W)`` float, any scale (variances are floored at 1e-4, so
            values of order 0.1 to 1 per band are best).
        n_clusters: number of clusters C.
        radius: half side of the window, in pixels.
        iterations: EM steps in all, warm-up included.
        warmup_iterations: the first steps use ``warmup_radius`` (the reference starts
            with a larger window so that clusters agree over the image before they localise).
        warmup_radius: radius of the warm-up steps; ``None`` means ``radius``.
        generator: seeds the random start; the same seed gives the same posteriors.
        valid: ``(B, H, W)`` bool, False on nodata. Invalid pixels weigh nothing in any
            local average and their posterior is uniform.

    Returns:
        ``(B, C, H, W)`` float32 posteriors that sum to 1 over clusters at every pixel.
        Cluster indices are arbitrary (label switching).
    """
    if image.ndim != 4:
        raise ValueError(f"image must be (B, bands, H, W); got shape {tuple(image.shape)}")
    batch, _, height, width = image.shape
    if valid is not None and valid.shape != (batch, height, width):
        raise ValueError(
            f"valid must be (B, H, W) = {(batch, height, width)} like the image; "
            f"got {tuple(valid.shape)}"
        )
    if n_clusters < 1 or radius < 0 or iterations < 1 or warmup_iterations < 0:
        raise ValueError(
            "local_gmm needs n_clusters ≥ 1, radius ≥ 0, iterations ≥ 1 and "
            f"warmup_iterations ≥ 0; got {n_clusters}, {radius}, {iterations}, "
            f"{warmup_iterations}"
        )
    warmup_radius = radius if warmup_radius is None else warmup_radius
    with torch.no_grad():
        data = image.to(torch.float64)
        if valid is None:
            weight = torch.ones((batch, 1, height, width), dtype=torch.float64, device=data.device)
        else:
            weight = valid.to(device=data.device, dtype=torch.float64).unsqueeze(1)
            # Nodata may hold anything (NaN, -9999); it is weighted 0, but 0·NaN is NaN.
            data = torch.where(weight.bool(), data, 0.0)
        start_device = generator.device if generator is not None else data.device
        p = torch.rand(
            (batch, n_clusters, height, width),
            generator=generator,
            dtype=torch.float64,
            device=start_device,
        ).to(data.device)
        p = p / p.sum(1, keepdim=True)
        for step in range(iterations):
            step_radius = warmup_radius if step < warmup_iterations else radius
            p = _em_step(data, p, weight, step_radius)
        if valid is not None:
            p = torch.where(weight.bool(), p, 1.0 / n_clusters)
        return p.to(torch.float32)


def downsampled_clusters(
    image: Tensor,
    factor: int = 4,
    upsample: Literal["nearest", "bilinear"] = "nearest",
    n_clusters: int = 5,
    radius: int = 10,
    iterations: int = 30,
    warmup_iterations: int = 0,
    warmup_radius: int | None = None,
    generator: torch.Generator | None = None,
    valid: Tensor | None = None,
) -> Tensor:
    """:func:`local_gmm` on the image averaged over ``factor × factor`` blocks, upsampled back.

    The reference clusters ×4-downsampled imagery: it is 16 times cheaper, and the clusters
    of a 1 m image at 4 m are those of its objects rather than of its texture. ``radius`` and
    ``warmup_radius`` are in downsampled pixels (radius 10 at ×4 is 40 image pixels); the
    other options are those of :func:`local_gmm`.

    Args:
        image: ``(B, bands, H, W)`` float. H and W need not be multiples of ``factor``: the
            last partial blocks are averaged over the pixels they have.
        factor: side of the averaging block, in pixels.
        upsample: ``nearest`` gives each pixel its block's posteriors; ``bilinear``
            interpolates them (still summing to 1, as a convex combination).
        valid: ``(B, H, W)`` bool. A block's colour is the mean of its valid pixels; a
            block with none is invalid. Invalid pixels get uniform posteriors.

    Returns:
        ``(B, C, H, W)`` float32 posteriors on the image's grid.
    """
    if factor < 1:
        raise ValueError(f"factor must be 1 or more; got {factor}")
    if image.ndim != 4:
        raise ValueError(f"image must be (B, bands, H, W); got shape {tuple(image.shape)}")
    height, width = image.shape[-2:]
    data = image.to(torch.float64)
    if valid is None:
        weight = torch.ones_like(data[:, :1])
    else:
        weight = valid.to(device=data.device, dtype=torch.float64).unsqueeze(1)
        data = torch.where(weight.bool(), data, 0.0)
    support = F.avg_pool2d(weight, factor, stride=factor, ceil_mode=True)
    coarse = F.avg_pool2d(data * weight, factor, stride=factor, ceil_mode=True)
    coarse = coarse / support.clamp(min=MASS_MIN)
    posteriors = local_gmm(
        coarse,
        n_clusters=n_clusters,
        radius=radius,
        iterations=iterations,
        warmup_iterations=warmup_iterations,
        warmup_radius=warmup_radius,
        generator=generator,
        valid=None if valid is None else support[:, 0] > 0,
    )
    if upsample == "nearest":
        fine = posteriors.repeat_interleave(factor, -2).repeat_interleave(factor, -1)
        fine = fine[..., :height, :width]
    else:
        fine = F.interpolate(posteriors, size=(height, width), mode="bilinear")
    if valid is not None:
        fine = torch.where(valid.to(fine.device).unsqueeze(1), fine, 1.0 / n_clusters)
    return fine
