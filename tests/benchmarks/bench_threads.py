"""Benchmark of where a single worker runs torch: on the calling thread (what the engine does
with ``workers: 1``) against a thread pool's only thread (what it did before), in the same
run, alternating.

    python tests/benchmarks/bench_threads.py [--prior demo-labels] [--batches 1 25]

One optimiser step of plug-and-play (the prior's forward and backward to η) per tile. The
main thread uses torch first, as geoppp does when it loads a model, so the pool's thread is
a second OpenMP team.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from geoppp.diffusion.checkpoint import load_checkpoint

PRIORS = Path(__file__).resolve().parents[2] / "geoppp" / "landcover" / "data" / "priors"


def seconds_per_tile(model: torch.nn.Module, shape: tuple[int, ...], repeats: int) -> float:
    eta = torch.randn(shape, requires_grad=True)
    t = torch.full((shape[0],), 300)
    model(eta, t).square().mean().backward()  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        eta.grad = None
        model(eta, t).square().mean().backward()
    return (time.perf_counter() - started) / repeats / shape[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prior", default="demo-labels")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 25])
    parser.add_argument("--tiles", type=int, default=25, help="tiles per measurement")
    parser.add_argument("--rounds", type=int, default=2)
    arguments = parser.parse_args()
    checkpoint = load_checkpoint(PRIORS / f"{arguments.prior}.safetensors")
    model = checkpoint.model
    channels, size = int(checkpoint.layout["channels"]), int(checkpoint.layout["size"])
    for round_ in range(arguments.rounds):
        for batch in arguments.batches:
            shape = (batch, channels, size, size)
            repeats = max(1, arguments.tiles // batch)
            here = seconds_per_tile(model, shape, repeats)
            # A fresh pool each time: its thread's OpenMP team goes when the thread exits.
            with ThreadPoolExecutor(max_workers=1) as pool:
                pooled = pool.submit(seconds_per_tile, model, shape, repeats).result()
            print(
                json.dumps(
                    {
                        "round": round_,
                        "batch": batch,
                        "torch_threads": torch.get_num_threads(),
                        "s_per_tile_step_calling_thread": round(here, 4),
                        "s_per_tile_step_pool_thread": round(pooled, 4),
                        "pool_over_calling": round(pooled / here, 2),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
