"""From the optimised relaxed adjacency matrix to a tour, as the released code decodes it."""

from __future__ import annotations

import numpy as np

from geoppp.tasks.tsp.construction import greedy_edge_tour


def decode(adjacency: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """A Hamiltonian cycle from a (row-stochastic) adjacency matrix.

    The matrix is symmetrised and edges are inserted greedily by weight / distance (short
    heavy edges first) while no node exceeds degree 2 and no subtour closes.

    Args:
        adjacency: (N, N) float, non-negative weights; any values give a valid tour.
        distances: (N, N) float.

    Returns:
        (N,) int64, a permutation of the nodes.
    """
    weights = adjacency + adjacency.T
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = weights / distances
    return greedy_edge_tour(scores, distances)
