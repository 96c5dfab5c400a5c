"""Rendering geometry: edges, nodes, the differentiable canvas and the square's symmetries."""

from __future__ import annotations

import torch

from geoppp.tasks.tsp.images import TourImages, symmetric_coordinates
from geoppp.tasks.tsp.render import EdgeCanvas, node_masks, render_tours, segment_masks


def test_horizontal_edge_covers_two_rows_between_its_ends() -> None:
    # From pixel (10, 20.0) to (40, 20.0): centres at rows 19.5 and 20.5 are 0.5 px away.
    coords = torch.tensor([[10.0, 20.0], [40.0, 20.0]]) / 64
    mask = segment_masks(coords, torch.tensor([[0, 1]]))[0].reshape(64, 64)
    rows, columns = mask.nonzero(as_tuple=True)
    assert set(rows.tolist()) == {19, 20}
    # Round caps of radius 1: centres 9.5 and 40.5 are within 1 px of the ends.
    assert columns.min() == 9 and columns.max() == 40
    assert mask[19, 10:40].all() and mask[20, 10:40].all()


def test_node_disc_has_radius_two_pixels() -> None:
    # A node at a pixel centre: the disc of radius 2 holds 13 pixel centres.
    coords = torch.tensor([[[32.5, 16.5]]]) / 64
    mask = node_masks(coords)[0]
    assert int(mask.sum()) == 13
    assert mask[16, 30:35].all() and mask[14:19, 32].all()
    assert not mask[14, 30]


def test_tour_image_values_and_nodes_on_top() -> None:
    coords = torch.tensor([[[0.2, 0.2], [0.8, 0.2], [0.5, 0.8]]])
    image = render_tours(coords, torch.tensor([[0, 1, 2]]))
    assert image.shape == (1, 1, 64, 64)
    assert set(image.unique().tolist()) == {-1.0, 0.0, 1.0}
    assert image[0, 0, 12, 32] == 0.0  # on edge 0-1, at y = 0.2 · 64 = 12.8
    assert image[0, 0, 12, 12] == 1.0  # node 0
    assert image[0, 0, 40, 5] == -1.0


def test_canvas_of_a_tour_adjacency_is_its_training_image_and_differentiable() -> None:
    generator = torch.Generator().manual_seed(1)
    coords = torch.rand(2, 12, 2, generator=generator)
    tours = torch.stack([torch.randperm(12, generator=generator) for _ in range(2)])
    weights = torch.zeros(2, 12, 12)
    for b in range(2):
        weights[b, tours[b], tours[b].roll(-1)] = 1.0
        weights[b, tours[b].roll(-1), tours[b]] = 1.0
    weights.requires_grad_(True)
    canvas = EdgeCanvas(coords)
    target = render_tours(coords, tours)
    assert torch.equal(canvas(weights).detach(), target)
    # Half weights: edge pixels at -0.5 (0 where two edges overlap), nodes still +1.
    image = canvas(weights * 0.5)
    on_edges = image.detach()[target == 0]
    assert set(on_edges.unique().tolist()) <= {-0.5, 0.0}
    assert (on_edges == -0.5).float().mean() > 0.8
    assert torch.equal(image.detach()[target == 1], target[target == 1])
    image.sum().backward()
    assert weights.grad is not None and weights.grad.abs().sum() > 0


def test_symmetries_of_the_coordinates_are_symmetries_of_the_image() -> None:
    generator = torch.Generator().manual_seed(2)
    coords = torch.rand(1, 10, 2, generator=generator)
    tour = torch.randperm(10, generator=generator)[None]
    image = render_tours(coords, tour)[0, 0]
    expected = {
        1: image.T,  # swap x and y
        2: image.flip(1),  # mirror x: columns
        4: image.flip(0),  # mirror y: rows
        7: image.T.flip(1).flip(0),
    }
    for symmetry, want in expected.items():
        moved = symmetric_coordinates(coords, torch.tensor([symmetry]))
        assert torch.equal(render_tours(moved, tour)[0, 0], want), symmetry


def test_training_source_is_reproducible_from_its_generator() -> None:
    source = TourImages(nodes=10, count=3, seed=0, solver_seconds=0.01)
    first = source.sample(4, torch.Generator().manual_seed(5))
    again = source.sample(4, torch.Generator().manual_seed(5))
    assert first.shape == (4, 1, 64, 64) and first.dtype == torch.float32
    assert torch.equal(first, again)
