"""Tours built from scratch: greedy edge insertion (from any score matrix), nearest
neighbour and random, the starting points that local search then improves."""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import DisjointSet


def greedy_edge_tour(scores: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """A Hamiltonian cycle from edges taken best score first.

    Edges are inserted in order of decreasing score (ties: shorter first) while no node
    exceeds degree 2 and no cycle closes before all N nodes are on one path; the path's two
    ends are then joined. Every edge of the complete graph is a candidate, so the result is
    always a Hamiltonian cycle, whatever the scores.

    Args:
        scores: (N, N) float, higher is better; read on the upper triangle of
            ``scores + scores.T`` (symmetrised). NaN counts as the lowest score.
        distances: (N, N) float, the tie-break.

    Returns:
        (N,) int64, a permutation of the nodes starting at node 0.
    """
    nodes = scores.shape[0]
    if nodes < 3:
        raise ValueError(f"a tour needs at least 3 nodes, got {nodes}")
    symmetric = np.nan_to_num(scores + scores.T, nan=-np.inf, posinf=np.finfo(float).max)
    first, second = np.triu_indices(nodes, k=1)
    order = np.lexsort((distances[first, second], -symmetric[first, second]))
    degree = np.zeros(nodes, dtype=np.int64)
    components = DisjointSet(range(nodes))
    neighbours: list[list[int]] = [[] for _ in range(nodes)]
    added = 0
    # A Python loop: each insertion depends on the ones before it (degrees, components),
    # and the N(N-1)/2 candidates cost ~1 ms per 1000 at N = 100.
    for edge in order:
        a, b = int(first[edge]), int(second[edge])
        if degree[a] == 2 or degree[b] == 2 or components.connected(a, b):
            continue
        components.merge(a, b)
        degree[a] += 1
        degree[b] += 1
        neighbours[a].append(b)
        neighbours[b].append(a)
        added += 1
        if added == nodes - 1:
            break
    ends = np.flatnonzero(degree < 2)
    neighbours[int(ends[0])].append(int(ends[-1]))
    neighbours[int(ends[-1])].append(int(ends[0]))
    return walk(neighbours)


def walk(neighbours: list[list[int]]) -> np.ndarray:
    """The node order of a cycle given each node's two neighbours, from node 0."""
    nodes = len(neighbours)
    tour = np.empty(nodes, dtype=np.int64)
    previous, current = -1, 0
    for position in range(nodes):
        tour[position] = current
        a, b = neighbours[current]
        previous, current = current, (b if a == previous else a)
    return tour


def nearest_neighbour_tours(distances: np.ndarray, start: int = 0) -> np.ndarray:
    """Nearest-neighbour tours from ``start``, for a batch.

    Args:
        distances: (B, N, N) float.

    Returns:
        (B, N) int64.
    """
    batch, nodes, _ = distances.shape
    rows = np.arange(batch)
    tours = np.empty((batch, nodes), dtype=np.int64)
    visited = np.zeros((batch, nodes), dtype=bool)
    current = np.full(batch, start)
    for position in range(nodes):
        tours[:, position] = current
        visited[rows, current] = True
        candidates = np.where(visited, np.inf, distances[rows, current])
        current = candidates.argmin(1)
    return tours


def random_tours(batch: int, nodes: int, seed: int) -> np.ndarray:
    """(batch, nodes) int64 uniformly random tours."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(nodes) for _ in range(batch)]).astype(np.int64)
