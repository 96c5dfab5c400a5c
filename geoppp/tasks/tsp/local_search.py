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

    Each pass evaluates all O(N²) moves of every tour as one array, then applies, best
    first, each tour's improving moves whose reversed stretches [i, j] do not overlap (such
    moves change disjoint edges, so their gains add up); up to N moves per pass, so a
    random start does not cost one whole evaluation per move. Tours at a local optimum are
    left as they are.

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
    active = np.arange(tours.shape[0])
    for _ in range(max_passes):
        if active.size == 0:
            break
        flat = two_opt_gains(distances[active], tours[active]).reshape(len(active), -1)
        count = min(nodes, flat.shape[1])
        candidates = np.argpartition(flat, count - 1, axis=1)[:, :count]
        gains = np.take_along_axis(flat, candidates, axis=1)
        order = np.argsort(gains, axis=1)
        candidates = np.take_along_axis(candidates, order, axis=1)
        gains = np.take_along_axis(gains, order, axis=1)
        improving = gains[:, 0] < -_TOLERANCE
        for row in np.flatnonzero(improving):
            tours[active[row]] = _apply_disjoint_moves(
                tours[active[row]], candidates[row], gains[row], nodes
            )
        active = active[improving]
    return tours[0] if single else tours


def _apply_disjoint_moves(
    tour: np.ndarray, moves: np.ndarray, gains: np.ndarray, nodes: int
) -> np.ndarray:
    """Apply the improving moves (flat i · N + j, best first) that overlap no earlier one."""
    source = np.arange(nodes)
    taken: list[tuple[int, int]] = []
    # A Python loop over at most N candidates: which ones fit depends on those taken.
    for move, gain in zip(moves.tolist(), gains.tolist(), strict=True):
        if gain >= -_TOLERANCE:
            break
        i, j = divmod(move, nodes)
        if any(i <= end and start <= j for start, end in taken):
            continue
        taken.append((i, j))
        source[i + 1 : j + 1] = source[i + 1 : j + 1][::-1]
    return tour[source]


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
