"""The prior's training data: random TSP instances and their fast-tsp tours, rendered."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from geoppp.tasks.tsp.instances import euclidean_distances, random_instances
from geoppp.tasks.tsp.reference import reference_tour
from geoppp.tasks.tsp.render import IMAGE_SIZE, render_tours


class TourImages:
    """A :class:`~geoppp.diffusion.patches.PatchSource` of tour images.

    A pool of ``count`` instances is solved once; each draw picks instances with the
    training generator and applies one of the 8 symmetries of the square to the
    coordinates (a tour stays optimal under them), so the pool yields 8 × ``count`` images.

    Args:
        nodes: N, nodes per instance.
        count: instances in the pool.
        seed: seeds the coordinates.
        solver_seconds: fast-tsp's budget per instance.
        progress: show a bar while solving.
    """

    def __init__(
        self, nodes: int, count: int, seed: int, solver_seconds: float, progress: bool = False
    ) -> None:
        self.coords = random_instances(count, nodes, seed)
        tours = [
            reference_tour(euclidean_distances(points), solver_seconds)
            for points in tqdm(self.coords, desc="reference tours", disable=not progress)
        ]
        self.tours = np.stack(tours)

    def sample(self, batch_size: int, generator: torch.Generator) -> Tensor:
        """(B, 1, 64, 64) float32 tour images."""
        picked = torch.randint(len(self.coords), (batch_size,), generator=generator)
        symmetry = torch.randint(8, (batch_size,), generator=generator)
        coords = torch.from_numpy(self.coords[picked.numpy()]).float()
        coords = symmetric_coordinates(coords, symmetry)
        tours = torch.from_numpy(self.tours[picked.numpy()])
        return render_tours(coords, tours, IMAGE_SIZE)


def symmetric_coordinates(coords: Tensor, symmetry: Tensor) -> Tensor:
    """Apply symmetry k ∈ [0, 8) of the unit square to each instance of (B, N, 2) coords:
    bit 0 swaps x and y, bit 1 mirrors x, bit 2 mirrors y."""
    flags = symmetry[:, None, None]
    swapped = torch.where(flags & 1 == 1, coords.flip(2), coords)
    x = torch.where(flags[..., 0] & 2 == 2, 1.0 - swapped[..., 0], swapped[..., 0])
    y = torch.where(flags[..., 0] & 4 == 4, 1.0 - swapped[..., 1], swapped[..., 1])
    return torch.stack([x, y], dim=2)
