"""Benchmark of the TSP task on CPU: seconds per instance for inference through the prior
(batched and one at a time) and for 2-opt, the vectorised 2-opt against a plain Python
2-opt (first improvement, each move's gain from four distances) in the same run.

    PYTHONPATH=. .venv/bin/python tests/benchmarks/bench_tsp.py [--n 50 100] [--instances 10]
        [--steps 16] [--batch 10] [--prior PATH]

Inference seconds are for ``--steps`` optimiser steps plus the one-off rasterisation of
every possible edge (about 0.5-1 s per TSP-50 instance, 2-4 s per TSP-100 one). 2-opt starts
from random tours (the slowest start) and from greedy-edge tours. Prints one JSON object
per line.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from geoppp.tasks.tsp.construction import greedy_edge_tour, random_tours
from geoppp.tasks.tsp.instances import euclidean_distances, random_instances, tour_lengths
from geoppp.tasks.tsp.local_search import two_opt
from geoppp.tasks.tsp.settings import SolveConfig
from geoppp.tasks.tsp.solve import load_prior, optimise_adjacency


def python_two_opt(distances: np.ndarray, tour: np.ndarray) -> np.ndarray:
    """Plain Python first-improvement 2-opt: the loop the vectorised one replaces."""
    tour = list(tour)
    nodes = len(tour)
    improved = True
    while improved:
        improved = False
        for i in range(nodes - 1):
            for j in range(i + 1, nodes):
                a, b = tour[i], tour[i + 1]
                c, e = tour[j], tour[(j + 1) % nodes]
                gain = distances[a, c] + distances[b, e] - distances[a, b] - distances[c, e]
                if gain < -1e-9:
                    tour[i + 1 : j + 1] = reversed(tour[i + 1 : j + 1])
                    improved = True
    return np.asarray(tour)


def timed(function: object, *arguments: object) -> tuple[object, float]:
    started = time.perf_counter()
    result = function(*arguments)  # type: ignore[operator]
    return result, time.perf_counter() - started


def bench_two_opt(nodes: int, instances: int) -> None:
    coords = random_instances(instances, nodes, 77)
    distances = euclidean_distances(coords)
    starts = {
        "random": random_tours(instances, nodes, 77),
        "greedy edge": np.stack([greedy_edge_tour(-d, d) for d in distances]),
    }
    for name, tours in starts.items():
        batched, batched_s = timed(two_opt, distances, tours)
        single_s = sum(timed(two_opt, d, t)[1] for d, t in zip(distances, tours, strict=True))
        started = time.perf_counter()
        python = [python_two_opt(d, t) for d, t in zip(distances, tours, strict=True)]
        python_s = time.perf_counter() - started
        print(
            json.dumps(
                {
                    "bench": "two_opt",
                    "n": nodes,
                    "start": name,
                    "instances": instances,
                    "vectorised_batched_s_per_instance": round(batched_s / instances, 5),
                    "vectorised_single_s_per_instance": round(single_s / instances, 5),
                    "python_s_per_instance": round(python_s / instances, 5),
                    "speedup_single_vs_python": round(python_s / single_s, 1),
                    "mean_length_vectorised": round(
                        float(tour_lengths(distances, batched).mean()), 4
                    ),  # type: ignore[arg-type]
                    "mean_length_python": round(
                        float(tour_lengths(distances, np.stack(python)).mean()), 4
                    ),  # type: ignore[arg-type]
                }
            ),
            flush=True,
        )


def bench_inference(
    nodes: int, instances: int, steps: int, batch: int, prior_path: Path | None
) -> None:
    prior = load_prior(prior_path)
    coords = random_instances(instances, nodes, 78)
    config = SolveConfig(steps=steps)
    started = time.perf_counter()
    for start in range(0, instances, batch):
        chunk = coords[start : start + batch]
        optimise_adjacency(prior, chunk, config, list(range(start, start + len(chunk))))
    batched_s = (time.perf_counter() - started) / instances
    started = time.perf_counter()
    for index in range(min(instances, 3)):
        optimise_adjacency(prior, coords[index : index + 1], config, [index])
    single_s = (time.perf_counter() - started) / min(instances, 3)
    print(
        json.dumps(
            {
                "bench": "inference",
                "n": nodes,
                "steps": steps,
                "batch": batch,
                "threads": torch.get_num_threads(),
                "prior_step": prior.step,
                "batched_s_per_instance": round(batched_s, 3),
                "one_at_a_time_s_per_instance": round(single_s, 3),
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--instances", type=int, default=10)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--prior", type=Path)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    for nodes in arguments.n:
        bench_two_opt(nodes, arguments.instances)
        bench_inference(
            nodes, arguments.instances, arguments.steps, arguments.batch, arguments.prior
        )


if __name__ == "__main__":
    main()
