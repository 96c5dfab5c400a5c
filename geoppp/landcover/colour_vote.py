"""The colour-cluster vote baseline: the cheap map a sampler should beat. Global k-means
clusters of the image, each cluster labelled with the weak class most frequent in it.

Numpy and scipy only (a ``colour_vote`` step loads no torch); pure computation."""

from __future__ import annotations

import warnings

import numpy as np


def colour_cluster_vote(
    image: np.ndarray,
    weak: np.ndarray,
    valid: np.ndarray,
    n_clusters: int = 8,
    seed: int = 0,
) -> np.ndarray:
    """Baseline map: k-means colour clusters, each taking the weak class most frequent in it.

    k-means (scipy's ``kmeans2``, k-means++ start) runs on the band values of the valid
    pixels, unscaled: bands should share a scale. Each pixel of the weak labels with a
    finite class distribution votes for its most probable class; every valid pixel of a
    cluster gets the one-hot of its cluster's winning class. A cluster without a vote (weak
    labels from roads alone leave most colours unlabelled) takes the class of the cluster
    with votes whose centre is nearest in colour.

    Args:
        image: ``(bands, H, W)`` float.
        weak: ``(K, H, W)`` class probabilities; NaN where unlabelled (no vote).
        valid: ``(H, W)`` bool, False on nodata.
        n_clusters: k of k-means.
        seed: seeds k-means; the same seed gives the same map.

    Returns:
        ``(K, H, W)`` float32 one-hot probabilities; NaN on invalid pixels, and everywhere
        when no valid pixel has a weak label.
    """
    if image.ndim != 3 or weak.ndim != 3 or valid.shape != image.shape[1:]:
        raise ValueError(
            "colour_cluster_vote needs image (bands, H, W), weak (K, H, W) and valid (H, W) "
            f"on one grid; got {image.shape}, {weak.shape} and {valid.shape}"
        )
    if weak.shape[1:] != image.shape[1:]:
        raise ValueError(f"weak {weak.shape} is not on the image's grid {image.shape[1:]}")
    # Here, not at the top: a pipeline that only names the step needs neither.
    from scipy.cluster.vq import kmeans2
    from scipy.spatial.distance import cdist

    n_classes = weak.shape[0]
    result = np.full(weak.shape, np.nan, dtype=np.float32)
    pixels = image[:, valid].T.astype(np.float64)  # (N, bands)
    if len(pixels) == 0:
        return result
    k = min(n_clusters, len(pixels))
    with warnings.catch_warnings():
        # An empty cluster is harmless here: it labels no pixel.
        warnings.filterwarnings("ignore", message="One of the clusters is empty")
        # k-means++ divides by the summed distances to the centres so far, which are 0 once a
        # flat tile (fewer colours than clusters) has a centre on each: the surplus centres
        # repeat a colour and stay empty, so the 0/0 is harmless too.
        warnings.filterwarnings("ignore", message="invalid value encountered in divide")
        centres, assignment = kmeans2(pixels, k, minit="++", seed=np.random.default_rng(seed))
    votes = weak[:, valid]  # (K, N)
    voting = np.isfinite(votes).all(axis=0)
    if not voting.any():
        return result
    counts = np.zeros((k, n_classes), dtype=np.int64)
    winners = np.argmax(np.where(voting, votes, -np.inf), axis=0)
    np.add.at(counts, (assignment[voting], winners[voting]), 1)
    labelled = counts.sum(axis=1) > 0
    nearest = np.flatnonzero(labelled)[
        cdist(centres, centres[labelled], "sqeuclidean").argmin(axis=1)
    ]
    classes = counts[nearest].argmax(axis=1)
    result[:, valid] = np.eye(n_classes, dtype=np.float32)[classes[assignment]].T
    return result
