"""Inference through the prior: for a batch of instances, optimise a latent N × N matrix L
so that the image of A = row-softmax(-scale · L) is a likely tour image under the frozen
denoiser, then decode A into a tour (and polish it by 2-opt).

η = render(A + Aᵀ) with A = row-softmax(-scale · L), diagonal masked; the loss is the
denoising error alone (no constraint term), as in the released code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from geoppp.diffusion.checkpoint import LoadedCheckpoint, load_checkpoint
from geoppp.diffusion.ppp import optimise
from geoppp.tasks.tsp.decode import decode
from geoppp.tasks.tsp.files import read_instance
from geoppp.tasks.tsp.instances import euclidean_distances, normalise_to_unit_square, tour_lengths
from geoppp.tasks.tsp.local_search import two_opt
from geoppp.tasks.tsp.reference import reference_tour
from geoppp.tasks.tsp.render import EdgeCanvas, geometry
from geoppp.tasks.tsp.settings import SolveConfig

SHIPPED_PRIOR = "tsp50.safetensors"


@dataclass(frozen=True)
class DiffusionTours:
    """What :func:`solve` found for a batch of instances."""

    adjacency: np.ndarray
    """(B, N, N) float32, the optimised row-stochastic A."""
    greedy: np.ndarray
    """(B, N) int64, A decoded greedily."""
    polished: np.ndarray
    """(B, N) int64, the greedy tours after 2-opt."""


def shipped_prior_path() -> Path:
    """The TSP-50 prior shipped inside the package."""
    return Path(str(resources.files("geoppp.tasks.tsp") / "data" / SHIPPED_PRIOR))


def load_prior(path: Path | None = None) -> LoadedCheckpoint:
    """A TSP prior (the shipped one by default), checked to be one."""
    return load_checkpoint(
        path or shipped_prior_path(), expected_layout={"task": "tsp", **geometry()}
    )


def adjacency(latent: Tensor, logit_scale: float) -> Tensor:
    """A = row-softmax(-logit_scale · L) with a zero diagonal; ``latent`` (B, N, N)."""
    nodes = latent.shape[-1]
    diagonal = torch.eye(nodes, dtype=torch.bool, device=latent.device)
    logits = (-logit_scale * latent).masked_fill(diagonal, float("-inf"))
    return torch.softmax(logits, dim=-1)


def distance_latent(points: Tensor, logit_scale: float) -> Tensor:
    """L whose A has row logits -d / (mean nearest-neighbour distance of the instance): a
    node's neighbours at 1, 2, … such distances are e^1, e^2, … times less likely.

    Args:
        points: (B, N, 2) float coordinates.

    Returns:
        (B, N, N) float32.
    """
    nodes = points.shape[1]
    distances = torch.cdist(points.float(), points.float())
    nearest = distances.masked_fill(torch.eye(nodes, dtype=torch.bool), torch.inf).amin(2)
    return distances / nearest.mean(1)[:, None, None] / logit_scale


def optimise_adjacency(
    prior: LoadedCheckpoint,
    coords: np.ndarray,
    config: SolveConfig,
    seeds: Sequence[int],
    progress: bool = False,
) -> np.ndarray:
    """The plug-and-play search for a batch of instances of the same size.

    Args:
        prior: a TSP prior.
        coords: (B, N, 2) float coordinates in the unit square.
        config: steps, learning rate, time schedule.
        seeds: one per instance: its initial L and its noise come from it alone.

    Returns:
        (B, N, N) float32, the optimised A.
    """
    points = torch.from_numpy(np.asarray(coords, dtype=np.float32))
    canvas = EdgeCanvas(points, prior.config.sample_size)
    nodes = points.shape[1]
    init = torch.stack(
        [torch.randn(nodes, nodes, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
    )
    if config.init == "distances":
        init = distance_latent(points, config.logit_scale) + init  # the noise breaks ties

    def image(latent: Tensor) -> Tensor:
        weights = adjacency(latent, config.logit_scale)
        return canvas(weights + weights.transpose(1, 2))

    result = optimise(
        prior.model,
        prior.schedule,
        init,
        [],
        config.plug_and_play(),
        [int(s) + 1 for s in seeds],  # not the init's stream
        progress=progress,
        parametrisation=image,
    )
    assert result.latent is not None
    return adjacency(result.latent, config.logit_scale).numpy()


def solve(
    prior: LoadedCheckpoint,
    coords: np.ndarray,
    config: SolveConfig,
    seeds: Sequence[int],
    distances: np.ndarray | None = None,
    progress: bool = False,
) -> DiffusionTours:
    """Optimise, decode and polish tours for a batch of instances of the same size.

    Args:
        prior: a TSP prior.
        coords: (B, N, 2) float coordinates in the unit square.
        config: the search's settings.
        seeds: one per instance.
        distances: (B, N, N) float, the metric that decoding and 2-opt use (a TSPLIB
            file's rule, say); default Euclidean distances of ``coords``.
        progress: show a bar over the optimiser's steps.
    """
    weights = optimise_adjacency(prior, coords, config, seeds, progress)
    if distances is None:
        distances = euclidean_distances(np.asarray(coords, dtype=np.float64))
    greedy = np.stack([decode(a, d) for a, d in zip(weights, distances, strict=True)])
    return DiffusionTours(weights, greedy, two_opt(distances, greedy))


@dataclass(frozen=True)
class SolvedInstance:
    """One instance solved by :func:`solve_instance`, with fast-tsp's tour beside it."""

    name: str
    rule: str
    """The distance rule of its file (``EUC_2D``, ``CEIL_2D``, ``GEO``, ``ATT``, ``EUCLIDEAN``)."""
    tour: np.ndarray
    """(N,) int64 node indices (0-based, in file order), starting at node 0."""
    length: float
    """Length of ``tour`` by the file's rule (diffusion + greedy decode + 2-opt)."""
    reference_length: float
    """Length of fast-tsp's tour by the same rule."""

    @property
    def gap(self) -> float:
        """``length / reference_length - 1``, e.g. 0.02 for 2 %."""
        return self.length / self.reference_length - 1.0


def solve_instance(
    path: Path,
    prior: LoadedCheckpoint | None = None,
    config: SolveConfig | None = None,
    seed: int = 0,
    progress: bool = False,
) -> SolvedInstance:
    """Solve the instance in a CSV (``x,y`` rows) or TSPLIB file with the prior.

    Args:
        path: the file; bad files raise :class:`geoppp.tasks.tsp.files.InstanceFileError`.
        prior: a TSP prior; the shipped TSP-50 prior when None.
        config: the search's settings; :class:`SolveConfig`'s defaults when None.
        seed: seeds the search.
        progress: show a bar over the optimiser's steps.
    """
    instance = read_instance(Path(path))
    unit, _ = normalise_to_unit_square(instance.coords)
    found = solve(
        prior if prior is not None else load_prior(),
        unit[None],
        config or SolveConfig(),
        [seed],
        instance.distances[None],
        progress=progress,
    )
    tour = found.polished[0]
    tour = np.roll(tour, -int(np.flatnonzero(tour == 0)[0]))
    reference = reference_tour(instance.distances, 1.0)
    return SolvedInstance(
        instance.name,
        instance.rule,
        tour,
        float(tour_lengths(instance.distances, tour)),
        float(tour_lengths(instance.distances, reference)),
    )
