"""The evaluation table: mean tour length and gap to fast-tsp's reference tours for the
diffusion prior and the constructive + local-search baselines, on random instances."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from geoppp.diffusion.checkpoint import LoadedCheckpoint
from geoppp.tasks.tsp.construction import greedy_edge_tour, nearest_neighbour_tours, random_tours
from geoppp.tasks.tsp.decode import decode
from geoppp.tasks.tsp.instances import euclidean_distances, random_instances, tour_lengths
from geoppp.tasks.tsp.local_search import two_opt, two_opt_or_opt
from geoppp.tasks.tsp.reference import reference_tour
from geoppp.tasks.tsp.settings import SolveConfig
from geoppp.tasks.tsp.solve import adjacency, distance_latent, solve


@dataclass(frozen=True)
class Row:
    """One method's result over the instances."""

    method: str
    mean_length: float
    gap_percent: float
    """Mean over instances of (length / reference length - 1) · 100."""
    seconds_per_instance: float


def evaluate(
    nodes: int,
    instances: int,
    seed: int,
    prior: LoadedCheckpoint | None,
    config: SolveConfig,
    batch_size: int = 20,
    reference_seconds: float = 0.1,
    progress: bool = True,
) -> list[Row]:
    """Compare methods on ``instances`` random instances of ``nodes`` nodes.

    Args:
        nodes: N.
        instances: how many instances (drawn from ``seed``).
        seed: seeds the instances and, through them, every method's randomness.
        prior: a TSP prior, or None to leave the diffusion rows out.
        config: the plug-and-play search's settings.
        batch_size: instances optimised together through the prior.
        reference_seconds: fast-tsp's budget per reference tour.
        progress: show progress bars.

    Returns:
        The reference row first, then one row per method.
    """
    coords = random_instances(instances, nodes, seed)
    distances = euclidean_distances(coords)
    timed: dict[str, tuple[np.ndarray, float]] = {}

    def run(name: str, method: Callable[[], np.ndarray]) -> None:
        started = time.perf_counter()
        tours = method()
        timed[name] = (tours, (time.perf_counter() - started) / instances)

    bar = tqdm(distances, desc=f"fast-tsp, TSP-{nodes}", disable=not progress, leave=False)
    run(
        "fast-tsp (reference)",
        lambda: np.stack([reference_tour(d, reference_seconds) for d in bar]),
    )
    greedy = np.stack([greedy_edge_tour(-d, d) for d in distances])
    run("greedy edge + 2-opt", lambda: two_opt(distances, greedy))
    run(
        "greedy edge + 2-opt + Or-opt",
        lambda: np.stack([two_opt_or_opt(d, t) for d, t in zip(distances, greedy, strict=True)]),
    )
    run("nearest neighbour + 2-opt", lambda: two_opt(distances, nearest_neighbour_tours(distances)))
    run("random + 2-opt", lambda: two_opt(distances, random_tours(instances, nodes, seed)))
    run(
        "distance-init A, no prior: decode + 2-opt", lambda: _unoptimised(coords, distances, config)
    )
    if prior is not None:
        started = time.perf_counter()
        decoded, polished = [], []
        starts = range(0, instances, batch_size)
        for start in tqdm(starts, desc=f"diffusion, TSP-{nodes}", disable=not progress):
            batch = slice(start, start + batch_size)
            seeds = [seed * 1_000_003 + index for index in range(instances)][batch]
            found = solve(prior, coords[batch], config, seeds, distances[batch])
            decoded.append(found.greedy)
            polished.append(found.polished)
        seconds = (time.perf_counter() - started) / instances
        timed["diffusion + greedy decode"] = (np.concatenate(decoded), seconds)
        timed["diffusion + greedy decode + 2-opt"] = (np.concatenate(polished), seconds)
    reference = tour_lengths(distances, timed["fast-tsp (reference)"][0])
    rows = []
    for name, (tours, seconds) in timed.items():
        lengths = tour_lengths(distances, tours)
        gap = float(((lengths / reference - 1.0) * 100.0).mean())
        rows.append(Row(name, float(lengths.mean()), gap, seconds))
    return rows


def _unoptimised(coords: np.ndarray, distances: np.ndarray, config: SolveConfig) -> np.ndarray:
    """The control for the prior: decode the distance-initialised A without optimising it."""
    latent = distance_latent(torch.from_numpy(coords), config.logit_scale)
    weights = adjacency(latent, config.logit_scale).numpy()
    greedy = np.stack([decode(a, d) for a, d in zip(weights, distances, strict=True)])
    return two_opt(distances, greedy)


def format_table(rows: list[Row], title: str) -> str:
    """The rows as a Markdown table."""
    lines = [
        title,
        "",
        "| method | mean length | gap to reference | s / instance |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r.method} | {r.mean_length:.4f} | {r.gap_percent:.2f} % | "
        f"{r.seconds_per_instance:.3f} |"
        for r in rows
    ]
    return "\n".join(lines)
