"""Differentiable land-cover constraints: the ``log c(x, y)`` terms a plug-and-play sampler
maximises together with the diffusion prior.

Graikos et al. 2022 (*Diffusion models as plug-and-play priors*, NeurIPS) infer land cover by
optimising a sample of a diffusion prior over (image, labels) so that it also satisfies
constraints: the image part should match the observed image, the labels should agree with
weak (coarse) labels, and label boundaries should follow the image's colour clusters. Each
function here is one such term for a batch of tiles:

- :func:`image_match`: Gaussian log-likelihood of the observed image given the predicted one.
- :func:`weak_label_kl`: minus the KL divergence from the pooled weak labels to the pooled
  predicted labels (block-wise agreement, not per pixel, since weak labels are coarse).
- :func:`label_statistics_loglik`: the label super-resolution term of Malkin et al. 2019
  (*Label super-resolution networks*, ICLR): within a block whose coarse code is ``c``, the
  class fractions should look like those measured for ``c``
  (:class:`~geoppp.landcover.label_statistics.LabelStatistics`).
- :func:`local_nmi`: local normalised mutual information between labels and colour clusters
  (the colour term of Graikos et al.): in each window, knowing a pixel's cluster should tell
  its label.
- :func:`cluster_agreement`: a class-aware colour term: the pixels of one local cluster should
  share a label, weighted towards pixels whose weak label is unsure.
- :func:`colour_model_loglik`: the observed colours' likelihood under class colour models
  fitted on the target tile itself (:mod:`geoppp.landcover.colour_model`), mixed by the
  predicted labels.

Conventions: ``p`` is ``(B, K, H, W)`` class probabilities (summing to 1 over K),
``valid`` ``(B, H, W)`` bool with False on nodata; invalid pixels contribute nothing. Each
term returns ``(B,)`` log c, higher is better, and is a mean over valid pixels (or cells), so
its scale does not depend on the tile's size. A tile with no valid pixel scores 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from geoppp.landcover.clustering import local_average

EPS = 1e-6
"""Added inside logarithms of probabilities, so that empty classes give finite terms."""
NMI_EPS = 1e-8
"""Added under the square root of the entropies' product in :func:`local_nmi`."""


def _check(name: str, tensor: Tensor, shape: tuple[int | None, ...]) -> None:
    """Raise ``ValueError`` unless ``tensor`` has ``shape`` (None: any size)."""
    if tensor.ndim != len(shape) or any(
        want is not None and have != want for have, want in zip(tensor.shape, shape, strict=True)
    ):
        expected = tuple("*" if size is None else size for size in shape)
        raise ValueError(f"{name}: expected shape {expected}, actual shape {tuple(tensor.shape)}")


def _check_labels(p: Tensor, valid: Tensor) -> tuple[int, int, int, int]:
    _check("p", p, (None, None, None, None))
    batch, classes, height, width = p.shape
    _check("valid", valid, (batch, height, width))
    return batch, classes, height, width


def _weight(valid: Tensor, like: Tensor) -> Tensor:
    """``(B, 1, H, W)`` 1 on valid pixels, 0 elsewhere, in ``like``'s dtype and device."""
    return valid.to(device=like.device, dtype=like.dtype).unsqueeze(1)


def _masked_mean(values: Tensor, weight: Tensor) -> Tensor:
    """``(B, ...)`` → ``(B,)``: mean of ``values`` where ``weight`` is 1; 0 with none."""
    total = (values * weight).flatten(1).sum(1)
    return total / weight.flatten(1).sum(1).clamp(min=1)


def image_match(predicted: Tensor, observed: Tensor, valid: Tensor, sigma: float) -> Tensor:
    """Gaussian log-likelihood of the observed image: ``-mean (pred - obs)² / (2σ²)``.

    Args:
        predicted: ``(B, bands, H, W)`` the image channels of the sample.
        observed: ``(B, bands, H, W)`` the observed image, same scale; may hold anything
            (NaN included) on invalid pixels.
        valid: ``(B, H, W)`` bool.
        sigma: standard deviation of the observation noise, in the images' units.

    Returns:
        ``(B,)``: 0 at equality, mean over valid pixels and bands.
    """
    _check("predicted", predicted, (None, None, None, None))
    _check("observed", observed, tuple(predicted.shape))
    batch, _, height, width = predicted.shape
    _check("valid", valid, (batch, height, width))
    if sigma <= 0:
        raise ValueError(f"sigma must be positive; got {sigma}")
    mask = valid.to(predicted.device).unsqueeze(1)
    # where, not a product: 0 · NaN is NaN, and so would be its gradient.
    difference = torch.where(mask, predicted - observed, 0.0)
    weight = _weight(valid, predicted).expand_as(predicted)
    return -_masked_mean(difference**2, weight) / (2 * sigma**2)


def colour_model_loglik(p: Tensor, class_loglik: Tensor, valid: Tensor) -> Tensor:
    """Mean over valid pixels of ``log Σ_k p_k · N(x | μ_k, Σ_k)``: how well the labels,
    as mixing weights of per-class colour models, explain the observed colours.

    Args:
        p: ``(B, K, H, W)`` class probabilities.
        class_loglik: ``(B, K, H, W)`` each pixel's log-density under each class's colour
            model (:func:`geoppp.landcover.colour_model.fit_colour_models`), fixed.
        valid: ``(B, H, W)`` bool.

    Returns:
        ``(B,)``; highest when each pixel's probability sits on the class whose model
        explains its colour best.
    """
    _check_labels(p, valid)
    _check("class_loglik", class_loglik, tuple(p.shape))
    mixture = torch.logsumexp(torch.log(p + EPS) + class_loglik.to(p), dim=1)
    return _masked_mean(mixture, _weight(valid, p)[:, 0])


def weak_label_kl(
    p: Tensor, weak: Tensor, valid: Tensor, pool: int, stride: int | None = None
) -> Tensor:
    """Minus the mean KL(pooled weak ‖ pooled p) over ``pool × pool`` cells.

    Both label maps are averaged over each cell's valid pixels (pixels whose weak label is
    NaN count as invalid), with ``ceil_mode`` so that the last partial cells count too; the
    KL divergence ``Σ_k w_k (log(w_k + ε) - log(p_k + ε))`` is averaged over cells with a
    valid pixel. It is exactly 0 where the pooled labels equal the pooled weak labels.

    Args:
        p: ``(B, K, H, W)`` class probabilities.
        weak: ``(B, K, H, W)`` weak class probabilities; NaN where unlabelled.
        valid: ``(B, H, W)`` bool.
        pool: side of a cell, in pixels.
        stride: step between cells; ``None`` means ``pool`` (disjoint cells), 1 gives
            every cell position.

    Returns:
        ``(B,)``, ≤ 0.
    """
    _check_labels(p, valid)
    _check("weak", weak, tuple(p.shape))
    if pool < 1 or (stride is not None and stride < 1):
        raise ValueError(f"pool and stride must be 1 or more; got {pool} and {stride}")
    stride = pool if stride is None else stride
    labelled = valid.to(p.device) & torch.isfinite(weak).all(1)
    weak = torch.where(labelled.unsqueeze(1), weak, 0.0)
    weight = _weight(labelled, p)

    def pooled(data: Tensor) -> Tensor:
        return F.avg_pool2d(data, pool, stride=stride, ceil_mode=True)

    support = pooled(weight)
    cells = support.clamp(min=torch.finfo(p.dtype).tiny)
    pooled_p = pooled(p * weight) / cells
    pooled_weak = pooled(weak.to(p.dtype) * weight) / cells
    kl = (pooled_weak * (torch.log(pooled_weak + EPS) - torch.log(pooled_p + EPS))).sum(1)
    return -_masked_mean(kl, (support[:, 0] > 0).to(p.dtype))


def label_statistics_loglik(
    p: Tensor,
    code_index: Tensor,
    valid: Tensor,
    stats_mean: Tensor,
    stats_var: Tensor,
    cell: int,
) -> Tensor:
    """Gaussian log-likelihood of each block's class fractions under its code's statistics.

    The label super-resolution term of Malkin et al. 2019: ``p`` is averaged over disjoint
    ``cell × cell`` blocks from the top left (valid pixels only; blocks less than half valid
    and partial blocks at the right and bottom edges, as in :meth:`LabelStatistics.measure`,
    are ignored), a
    block's code is the most frequent ``code_index`` among its valid pixels, and the block
    scores ``Σ_k -(frac_k - μ_k)² / (2σ²_k)`` under that code's mean and variance. Malkin et
    al. also add the variance of the network's own fraction estimate to σ²; here ``p`` is a
    sample, not a distribution over samples, so it is left out. Blocks whose most frequent
    code has no statistics (-1) are ignored; the result is the mean over the others.

    Args:
        p: ``(B, K, H, W)`` class probabilities.
        code_index: ``(B, H, W)`` long index into the statistics' codes
            (:meth:`LabelStatistics.index`), -1 where none.
        valid: ``(B, H, W)`` bool.
        stats_mean: ``(n_codes, K)`` :attr:`LabelStatistics.mean` as a tensor.
        stats_var: ``(n_codes, K)`` :attr:`LabelStatistics.var` as a tensor.
        cell: block side in pixels (:attr:`LabelStatistics.cell`).

    Returns:
        ``(B,)``, ≤ 0, 0 when every block's fractions are its code's means.
    """
    batch, classes, height, width = _check_labels(p, valid)
    _check("code_index", code_index, (batch, height, width))
    _check("stats_mean", stats_mean, (None, classes))
    n_codes = stats_mean.shape[0]
    _check("stats_var", stats_var, (n_codes, classes))
    if cell < 1:
        raise ValueError(f"cell must be 1 or more; got {cell}")
    if n_codes == 0:
        return p.sum((1, 2, 3)) * 0
    weight = _weight(valid, p)
    support = F.avg_pool2d(weight, cell, stride=cell)
    fractions = F.avg_pool2d(p * weight, cell, stride=cell) / support.clamp(min=EPS)

    # The block's code: one-hot counts pooled, "no statistics" as an extra last code.
    index = code_index.to(p.device).long()
    index = torch.where((index >= 0) & (index < n_codes), index, n_codes)
    one_hot = F.one_hot(index, n_codes + 1).permute(0, 3, 1, 2).to(p.dtype)
    block_index = F.avg_pool2d(one_hot * weight, cell, stride=cell).argmax(1)
    scored = (block_index < n_codes) & (2 * support[:, 0] >= 1)

    safe = block_index.clamp(max=n_codes - 1)
    mean = stats_mean.to(p)[safe].permute(0, 3, 1, 2)
    var = stats_var.to(p)[safe].permute(0, 3, 1, 2)
    loglik = (-((fractions - mean) ** 2) / (2 * var)).sum(1)
    return _masked_mean(loglik, scored.to(p.dtype))


def _joint(p: Tensor, clusters: Tensor, weight: Tensor, radius: int) -> Tensor:
    """``(B, K, M, H, W)`` local joint ``P(k, m)``: window mean of ``p_k q_m`` on valid pixels."""
    product = p.unsqueeze(2) * clusters.unsqueeze(1) * weight.unsqueeze(1)
    support = local_average(weight, radius).clamp(min=EPS).unsqueeze(1)
    return local_average(product, radius) / support


def local_nmi(p: Tensor, clusters: Tensor, valid: Tensor, radius: int) -> Tensor:
    """Mean over valid pixels of the normalised mutual information of labels and clusters
    in the pixel's ``(2r+1)²`` window (the colour term of Graikos et al. 2022).

    In each window, ``P(k, m)`` is the mean of ``p_k q_m`` over valid pixels, ``P(k)`` and
    ``P(m)`` its marginals, ``MI = Σ P(k, m) log(P(k, m) / (P(k) P(m)))`` and
    ``NMI = MI / sqrt(H(K) H(M) + 1e-8)``. NMI is 0 where labels and clusters are
    independent, 1 where they are the same partition; a window with a single label or
    cluster has nothing to explain and scores 0. Labels are not told which cluster is which
    class: any one-to-one match scores the same.

    Args:
        p: ``(B, K, H, W)`` class probabilities.
        clusters: ``(B, M, H, W)`` cluster posteriors (e.g. :func:`~geoppp.landcover.
            clustering.local_gmm`), summing to 1 over M.
        valid: ``(B, H, W)`` bool.
        radius: half side of the window, in pixels.

    Returns:
        ``(B,)`` in [0, 1].
    """
    batch, _, height, width = _check_labels(p, valid)
    _check("clusters", clusters, (batch, None, height, width))
    weight = _weight(valid, p)
    joint = _joint(p, clusters.to(p), weight, radius)
    p_k = joint.sum(2, keepdim=True)
    p_m = joint.sum(1, keepdim=True)
    mi = (joint * (torch.log(joint + EPS) - torch.log(p_k + EPS) - torch.log(p_m + EPS))).sum(
        (1, 2)
    )
    h_k = -(p_k * torch.log(p_k + EPS)).sum((1, 2))
    h_m = -(p_m * torch.log(p_m + EPS)).sum((1, 2))
    nmi = mi / torch.sqrt(h_k * h_m + NMI_EPS)
    return _masked_mean(nmi, weight[:, 0])


def cluster_agreement(
    p: Tensor, clusters: Tensor, weak_confidence: Tensor, valid: Tensor, radius: int
) -> Tensor:
    """Expected log-probability of each pixel's label under its local cluster's label mix.

    In each ``(2r+1)²`` window, cluster m's label mix is
    ``r_m(k) = avg(q_m p_k) / avg(q_m)`` over valid pixels, and a pixel scores
    ``Σ_m q_m Σ_k p_k log r_m(k)``: minus the cross-entropy between its label and its
    cluster's. It is 0 when every local cluster is pure (one label) and lower the more
    a cluster's labels are mixed. Unlike :func:`local_nmi` it says which way to resolve a
    mixed cluster: towards the label most of the cluster has.

    Each pixel is weighted by ``1 - weak_confidence``: where the weak label is sure (a
    building footprint, a road), the label should follow it, not be pulled to the
    majority of its colour cluster (a grey roof among grey roads); where it is unsure
    (a coarse NLCD mix), colour decides. The weights are not renormalised, so that a tile
    of sure weak labels has a small term rather than one as strong as any other.

    Args:
        p: ``(B, K, H, W)`` class probabilities.
        clusters: ``(B, M, H, W)`` cluster posteriors, summing to 1 over M.
        weak_confidence: ``(B, H, W)`` in [0, 1], e.g. the weak labels' largest class
            probability; NaN (no weak label) counts as 0.
        valid: ``(B, H, W)`` bool.
        radius: half side of the window, in pixels.

    Returns:
        ``(B,)``, ≤ 0.
    """
    batch, _, height, width = _check_labels(p, valid)
    _check("clusters", clusters, (batch, None, height, width))
    _check("weak_confidence", weak_confidence, (batch, height, width))
    weight = _weight(valid, p)
    q = clusters.to(p)
    joint = _joint(p, q, weight, radius)  # (B, K, M, H, W)
    cluster_mass = joint.sum(1, keepdim=True)
    mix = joint / cluster_mass.clamp(min=EPS)
    # Clamped rather than shifted by ε, so that a pure cluster scores exactly 0.
    score = (p.unsqueeze(2) * q.unsqueeze(1) * torch.log(mix.clamp(min=EPS))).sum((1, 2))
    confidence = torch.nan_to_num(weak_confidence.to(p), nan=0.0).clamp(0, 1)
    return _masked_mean((1 - confidence) * score, weight[:, 0])
