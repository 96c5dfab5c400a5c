"""Decoding and the constructive tours: a Hamiltonian cycle whatever the weights."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from geoppp.tasks.tsp.construction import greedy_edge_tour, nearest_neighbour_tours, random_tours
from geoppp.tasks.tsp.decode import decode
from geoppp.tasks.tsp.instances import euclidean_distances, random_instances


def is_tour(tour: np.ndarray, nodes: int) -> bool:
    return tour.shape == (nodes,) and sorted(tour.tolist()) == list(range(nodes))


@st.composite
def weights_and_distances(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    nodes = draw(st.integers(3, 30))
    values = st.floats(allow_nan=True, allow_infinity=True, width=32) | st.sampled_from([0.0])
    weights = draw(arrays(np.float64, (nodes, nodes), elements=values))
    seed = draw(st.integers(0, 2**16))
    return weights, euclidean_distances(random_instances(1, nodes, seed)[0])


@settings(max_examples=150, deadline=None)
@given(weights_and_distances())
def test_decoding_any_weights_gives_a_hamiltonian_cycle(
    case: tuple[np.ndarray, np.ndarray],
) -> None:
    weights, distances = case
    assert is_tour(decode(weights, distances), len(distances))


def test_decoding_a_tour_adjacency_returns_that_tour() -> None:
    distances = euclidean_distances(random_instances(1, 20, 3)[0])
    tour = np.random.default_rng(0).permutation(20)
    adjacency = np.zeros((20, 20))
    adjacency[tour, np.roll(tour, -1)] = 0.5
    adjacency[np.roll(tour, -1), tour] = 0.5
    decoded = decode(adjacency, distances)
    edges = {frozenset(e) for e in zip(decoded, np.roll(decoded, -1), strict=True)}
    assert edges == {frozenset(e) for e in zip(tour, np.roll(tour, -1), strict=True)}


def test_greedy_edge_takes_the_shortest_edges_first() -> None:
    # Points on a line: greedy edge joins neighbours, then closes the two ends.
    coords = np.array([[0.0, 0.0], [3.0, 0.0], [1.0, 0.0], [2.0, 0.0], [10.0, 0.0]])
    distances = euclidean_distances(coords)
    tour = greedy_edge_tour(-distances, distances)
    assert is_tour(tour, 5)
    edges = {frozenset(e) for e in zip(tour, np.roll(tour, -1), strict=True)}
    assert edges == {frozenset(e) for e in [(0, 2), (2, 3), (3, 1), (1, 4), (4, 0)]}


def test_nearest_neighbour_and_random_tours_are_tours() -> None:
    distances = euclidean_distances(random_instances(4, 15, 1))
    for tour in nearest_neighbour_tours(distances):
        assert is_tour(tour, 15) and tour[0] == 0
    nearest = nearest_neighbour_tours(distances)[0]
    assert nearest[1] == np.argsort(distances[0, 0])[1]
    for tour in random_tours(4, 15, 0):
        assert is_tour(tour, 15)
