"""Inference through a (tiny, untrained) prior: batched, per-instance seeds, valid tours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from geoppp.diffusion.ppp import PlugAndPlayConfig, optimise
from geoppp.diffusion.schedule import NoiseSchedule
from geoppp.errors import CheckpointError
from geoppp.tasks.tsp.instances import euclidean_distances, random_instances, tour_lengths
from geoppp.tasks.tsp.settings import SolveConfig
from geoppp.tasks.tsp.solve import adjacency, load_prior, solve

CONFIG = SolveConfig(steps=3, lr=0.5)


def test_adjacency_is_row_stochastic_with_an_empty_diagonal() -> None:
    weights = adjacency(torch.randn(2, 6, 6), 0.1)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 6))
    assert (weights.diagonal(dim1=1, dim2=2) == 0).all()


def test_solve_gives_tours_and_two_opt_never_lengthens(tiny_prior: Path) -> None:
    coords = random_instances(3, 10, 7)
    found = solve(load_prior(tiny_prior), coords, CONFIG, seeds=[1, 2, 3])
    distances = euclidean_distances(coords)
    assert found.adjacency.shape == (3, 10, 10)
    for tour in (*found.greedy, *found.polished):
        assert sorted(tour.tolist()) == list(range(10))
    greedy = tour_lengths(distances, found.greedy)
    assert (tour_lengths(distances, found.polished) <= greedy + 1e-12).all()


def test_an_instance_does_not_depend_on_its_batch(tiny_prior: Path) -> None:
    prior = load_prior(tiny_prior)
    coords = random_instances(3, 9, 11)
    together = solve(prior, coords, CONFIG, seeds=[5, 6, 7])
    alone = solve(prior, coords[1:2], CONFIG, seeds=[6])
    np.testing.assert_allclose(together.adjacency[1], alone.adjacency[0], atol=1e-5)
    other_seed = solve(prior, coords[1:2], CONFIG, seeds=[8])
    assert not np.allclose(other_seed.adjacency[0], alone.adjacency[0], atol=1e-5)


def test_the_latent_moves_under_the_prior(tiny_prior: Path) -> None:
    prior = load_prior(tiny_prior)
    coords = random_instances(1, 8, 3)
    still = solve(prior, coords, SolveConfig(steps=1, lr=1e-9), seeds=[0]).adjacency
    moved = solve(prior, coords, SolveConfig(steps=3, lr=0.5), seeds=[0]).adjacency
    assert np.abs(moved - still).max() > 1e-4


def test_a_land_cover_checkpoint_is_refused(tmp_path: Path) -> None:
    from geoppp.diffusion import DenoiserConfig, build_denoiser, save_checkpoint

    config = DenoiserConfig(
        in_channels=1, sample_size=64, base_channels=8, channel_multipliers=(1,),
        attention_resolutions=(64,), norm_groups=8,
    )  # fmt: skip
    path = save_checkpoint(
        tmp_path / "other.safetensors", build_denoiser(config), NoiseSchedule.linear(), {}, None, 0
    )
    with pytest.raises(CheckpointError, match="task"):
        load_prior(path)


def test_parametrised_optimise_refuses_clip() -> None:
    with pytest.raises(ValueError, match="clip"):
        optimise(
            lambda x, t: x,
            NoiseSchedule.linear(),
            torch.zeros(1, 3),
            [],
            PlugAndPlayConfig(steps=1, clip=True),
            [0],
            parametrisation=lambda z: z[:, None, None, :],
        )


def test_distance_init_starts_on_nearest_neighbours(tiny_prior: Path) -> None:
    coords = random_instances(1, 12, 4)
    config = SolveConfig(steps=1, lr=1e-9, init="distances")
    weights = solve(load_prior(tiny_prior), coords, config, seeds=[0]).adjacency[0]
    distances = euclidean_distances(coords)[0] + np.eye(12) * 10
    # Logits -d / (mean nearest distance) plus noise of 0.1: the heaviest edge of each row
    # goes to one of its 3 nearest neighbours; random init gives 1/11 of the weight each.
    nearest_three = np.argsort(distances, axis=1)[:, :3]
    assert all(weights[row].argmax() in nearest_three[row] for row in range(12))
    assert weights[np.arange(12), distances.argmin(1)].mean() > 3 / 11
