"""TSP instances: random ones in the unit square, tour lengths and Euclidean distances.

Reading files (CSV, TSPLIB) is in :mod:`geoppp.tasks.tsp.files`.
"""

from __future__ import annotations

import numpy as np


def random_instances(count: int, nodes: int, seed: int) -> np.ndarray:
    """(count, nodes, 2) float64 coordinates drawn uniformly in the unit square."""
    return np.random.default_rng(seed).random((count, nodes, 2))


def euclidean_distances(coords: np.ndarray) -> np.ndarray:
    """(..., N, N) float64 Euclidean distances of (..., N, 2) coordinates."""
    difference = coords[..., :, None, :] - coords[..., None, :, :]
    return np.sqrt((difference**2).sum(-1))


def tour_lengths(distances: np.ndarray, tours: np.ndarray) -> np.ndarray:
    """Lengths of closed tours.

    Args:
        distances: (B, N, N) or (N, N) float.
        tours: (B, N) or (N,) int, permutations of the nodes.

    Returns:
        (B,) float64, or a 0-d array for one tour.
    """
    following = np.roll(tours, -1, axis=-1)
    if tours.ndim == 1:
        return np.asarray(distances[tours, following].sum())
    rows = np.arange(tours.shape[0])[:, None]
    return distances[rows, tours, following].sum(-1)


def normalise_to_unit_square(coords: np.ndarray) -> tuple[np.ndarray, float]:
    """Shift and scale (N, 2) coordinates into [0, 1]², keeping the aspect ratio.

    Returns:
        The coordinates in the unit square and the scale (distances there times the scale
        are distances in the original units).
    """
    low = coords.min(0)
    scale = float((coords.max(0) - low).max())
    if scale == 0:
        return np.full_like(coords, 0.5), 1.0
    return (coords - low) / scale, scale
