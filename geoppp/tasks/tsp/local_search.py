"""Local search on tours: 2-opt and Or-opt, with every candidate move of a pass evaluated at
once in numpy (O(N²) move gains as one array expression), never by re-measuring tours.

Hand-written: the PyPI solvers (fast-tsp, OR-Tools, elkai) run their own local search from
their own starts and do not take a given tour to polish, which the diffusion decode and the
baselines need.
"""

from __future__ import annotations

import numpy as np

# Moves must gain more than this (in distance units) to count; guards against cycling on
# float rounding.
_TOLERANCE = 1e-9


def two_opt_gains(distances: np.ndarray, tours: np.ndarray) -> np.ndarray:
    """Change in length of every 2-opt move, for a batch.

    Move (i, j), i < j, replaces edges (t_i, t_{i+1}) and (t_j, t_{j+1}) by (t_i, t_j) and
    (t_{i+1}, t_{j+1}), i.e. reverses t_{i+1} … t_j.

    Args:
        distances: (B, N, N) float.
        tours: (B, N) int.

    Returns:
        (B, N, N) float, the length change of move (i, j) (negative: shorter); +inf where
        j <= i.
    """
    batch, nodes = tours.shape
    rows = np.arange(batch)[:, None, None]
    here = tours[:, :, None]
    after = np.roll(tours, -1, axis=1)[:, :, None]
    there = tours[:, None, :]
    there_after = np.roll(tours, -1, axis=1)[:, None, :]
    gains = (
        distances[rows, here, there]
        + distances[rows, after, there_after]
        - distances[rows, here, after]
        - distances[rows, there, there_after]
    )
    lower = np.tril(np.ones((nodes, nodes), dtype=bool))
    gains[:, lower] = np.inf
    return gains


def two_opt(distances: np.ndarray, tours: np.ndarray, max_passes: int = 100_000) -> np.ndarray:
    """Best-improvement 2-opt to a local optimum, for a batch of tours at once.

    Each pass evaluates all O(N²) moves of every tour as one array and applies each tour's
    best improving move; tours already at a local optimum are left as they are.

    Args:
        distances: (B, N, N) or (N, N) float, symmetric.
        tours: (B, N) or (N,) int, permutations.
        max_passes: a safety bound on the passes.

    Returns:
        Tours of the same shape, none longer than its input, each a 2-opt local optimum.
    """
    single = tours.ndim == 1
    distances = distances[None] if single else distances
    tours = np.array(tours[None] if single else tours, dtype=np.int64)
    nodes = tours.shape[1]
    positions = np.arange(nodes)
    active = np.arange(tours.shape[0])
    for _ in range(max_passes):
        if active.size == 0:
            break
        gains = two_opt_gains(distances[active], tours[active])
        flat = gains.reshape(len(active), -1)
        best = flat.argmin(1)
        improving = flat[np.arange(len(active)), best] < -_TOLERANCE
        active, best = active[improving], best[improving]
        i, j = np.divmod(best, nodes)
        inside = (positions > i[:, None]) & (positions <= j[:, None])
        source = np.where(inside, i[:, None] + 1 + j[:, None] - positions, positions)
        tours[active] = np.take_along_axis(tours[active], source, axis=1)
    return tours[0] if single else tours


def or_opt(distances: np.ndarray, tour: np.ndarray, max_moves: int = 100_000) -> np.ndarray:
    """Best-improvement Or-opt on one tour: move a segment of 1–3 consecutive nodes,
    possibly reversed, to the best other place, until no such move shortens the tour.

    Args:
        distances: (N, N) float, symmetric.
        tour: (N,) int, a permutation.

    Returns:
        (N,) int64, no longer than ``tour``.
    """
    tour = np.asarray(tour, dtype=np.int64).copy()
    nodes = len(tour)
    for _ in range(max_moves):
        move = _best_or_move(distances, tour)
        if move is None:
            break
        tour = _apply_or_move(tour, *move)
        if len(tour) != nodes:  # pragma: no cover - a bug guard
            raise AssertionError("Or-opt lost nodes")
    return tour


def _best_or_move(distances: np.ndarray, tour: np.ndarray) -> tuple[int, int, int, bool] | None:
    """(start, length, insertion position, reversed) of the best gaining move, or None."""
    nodes = len(tour)
    positions = np.arange(nodes)
    best: tuple[float, tuple[int, int, int, bool]] | None = None
    edge_from, edge_to = tour, np.roll(tour, -1)  # edge j joins tour[j] and tour[j + 1]
    for length in (1, 2, 3):
        if length > nodes - 3:
            break
        first = tour  # segment starting at position i
        last = np.roll(tour, -(length - 1))
        before = np.roll(tour, 1)
        after = np.roll(tour, -length)
        removed = (
            distances[before, first] + distances[last, after] - distances[before, after]
        )  # (N,) saved by taking the segment out
        # Cost of putting segment i into edge j, forward and reversed: (N_i, N_j).
        forward = (
            distances[edge_from[None, :], first[:, None]]
            + distances[last[:, None], edge_to[None, :]]
            - distances[edge_from, edge_to][None, :]
        )
        backward = (
            distances[edge_from[None, :], last[:, None]]
            + distances[first[:, None], edge_to[None, :]]
            - distances[edge_from, edge_to][None, :]
        )
        # Edges touching the segment (j from i - 1 to i + length - 1) are not places for it.
        offset = (positions[None, :] - positions[:, None] + 1) % nodes
        allowed = offset > length
        for reverse, insertion in ((False, forward), (True, backward)):
            change = np.where(allowed, insertion - removed[:, None], np.inf)
            flat = int(change.argmin())
            value = float(change.flat[flat])
            if value < -_TOLERANCE and (best is None or value < best[0]):
                i, j = divmod(flat, nodes)
                best = (value, (i, length, j, reverse))
    return None if best is None else best[1]


def _apply_or_move(
    tour: np.ndarray, start: int, length: int, edge: int, reverse: bool
) -> np.ndarray:
    nodes = len(tour)
    # Rotate so the segment is at the front, then re-insert it after the edge's first node.
    rotated = np.roll(tour, -start)
    segment, rest = rotated[:length], rotated[length:]
    if reverse:
        segment = segment[::-1]
    anchor = tour[edge]
    where = int(np.flatnonzero(rest == anchor)[0]) + 1
    result = np.concatenate([rest[:where], segment, rest[where:]])
    assert len(result) == nodes
    return result


def two_opt_or_opt(distances: np.ndarray, tour: np.ndarray) -> np.ndarray:
    """2-opt and Or-opt in turn until neither shortens the tour: a local optimum of both."""
    tour = two_opt(distances, tour)
    while True:
        moved = or_opt(distances, tour)
        if np.array_equal(moved, tour):
            return tour
        polished = two_opt(distances, moved)
        tour = polished
