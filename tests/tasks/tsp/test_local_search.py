"""2-opt and Or-opt: never longer, and a local optimum at the end."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from geoppp.tasks.tsp.construction import random_tours
from geoppp.tasks.tsp.instances import euclidean_distances, random_instances, tour_lengths
from geoppp.tasks.tsp.local_search import (
    _apply_or_move,
    _best_or_move,
    or_opt,
    two_opt,
    two_opt_gains,
    two_opt_or_opt,
)


def brute_force_two_opt_gain(distances: np.ndarray, tour: np.ndarray) -> float:
    """The best 2-opt move's change, by re-measuring every reversed tour."""
    length = float(tour_lengths(distances, tour))
    best = 0.0
    for i in range(len(tour)):
        for j in range(i + 1, len(tour)):
            moved = np.concatenate([tour[: i + 1], tour[i + 1 : j + 1][::-1], tour[j + 1 :]])
            best = min(best, float(tour_lengths(distances, moved)) - length)
    return best


@settings(max_examples=40, deadline=None)
@given(st.integers(4, 40), st.integers(0, 2**16))
def test_two_opt_never_lengthens_and_ends_at_a_local_optimum(nodes: int, seed: int) -> None:
    distances = euclidean_distances(random_instances(3, nodes, seed))
    start = random_tours(3, nodes, seed)
    improved = two_opt(distances, start)
    for tour in improved:
        assert sorted(tour.tolist()) == list(range(nodes))
    assert (tour_lengths(distances, improved) <= tour_lengths(distances, start) + 1e-12).all()
    assert two_opt_gains(distances, improved).min() >= -1e-9
    assert brute_force_two_opt_gain(distances[0], improved[0]) >= -1e-9


def test_gains_match_remeasured_tours() -> None:
    distances = euclidean_distances(random_instances(1, 12, 5))
    tour = random_tours(1, 12, 5)
    gains = two_opt_gains(distances, tour)[0]
    length = float(tour_lengths(distances[0], tour[0]))
    for i, j in [(0, 5), (2, 3), (4, 11), (0, 10)]:
        moved = np.concatenate([tour[0, : i + 1], tour[0, i + 1 : j + 1][::-1], tour[0, j + 1 :]])
        assert np.isclose(gains[i, j], float(tour_lengths(distances[0], moved)) - length)


def test_single_tour_shape_is_kept() -> None:
    distances = euclidean_distances(random_instances(1, 10, 2))[0]
    tour = two_opt(distances, np.arange(10))
    assert tour.shape == (10,)


@settings(max_examples=25, deadline=None)
@given(st.integers(5, 30), st.integers(0, 2**16))
def test_or_opt_never_lengthens_and_both_end_at_a_joint_optimum(nodes: int, seed: int) -> None:
    distances = euclidean_distances(random_instances(1, nodes, seed))[0]
    start = random_tours(1, nodes, seed)[0]
    moved = or_opt(distances, start)
    assert sorted(moved.tolist()) == list(range(nodes))
    assert tour_lengths(distances, moved) <= tour_lengths(distances, start) + 1e-12
    assert _best_or_move(distances, moved) is None
    both = two_opt_or_opt(distances, start)
    assert sorted(both.tolist()) == list(range(nodes))
    assert tour_lengths(distances, both) <= tour_lengths(distances, two_opt(distances, start))
    assert _best_or_move(distances, both) is None
    assert two_opt_gains(distances[None], both[None]).min() >= -1e-9


def test_each_or_move_shortens_the_tour() -> None:
    distances = euclidean_distances(random_instances(1, 25, 9))[0]
    tour = random_tours(1, 25, 9)[0]
    for _ in range(10):
        move = _best_or_move(distances, tour)
        assert move is not None
        moved = _apply_or_move(tour, *move)
        assert tour_lengths(distances, moved) < tour_lengths(distances, tour) - 1e-9
        tour = moved
