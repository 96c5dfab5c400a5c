"""Benchmark of plug-and-play inference: tiles per second batched against one tile at a time,
seconds per km² of 1 m imagery, and achieved GFLOP/s against a matmul, in the same run.

    python tests/benchmarks/bench_ppp.py [--prior demo-joint] [--batches 1 8 16] [--steps 20]

Needs only torch and geoppp.diffusion (runs on a GPU machine without the geo stack). Tiles
are random η of the prior's shape with a cheap quadratic constraint: the cost is the
denoiser's forward and backward, which does not depend on the values. A tile is the prior's
patch (64 cells of 4 m = 256 m a side, 0.0655 km²); a map's tiles overlap by their halo, so
seconds per km² are quoted for tiles of 224 m cores (0.0502 km²), as the demo maps.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from geoppp.diffusion.checkpoint import load_checkpoint
from geoppp.diffusion.ppp import PlugAndPlayConfig, WeightedConstraint, optimise

PRIORS = Path(__file__).resolve().parents[2] / "geoppp" / "landcover" / "data" / "priors"
CORE_KM2 = 0.224**2


def matmul_gflops(device: torch.device, size: int = 2048, repeats: int = 10) -> float:
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    for _ in range(2):
        a @ b
    synchronise(device)
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronise(device)
    return 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def step_flops(model: torch.nn.Module, shape: tuple[int, ...], device: torch.device) -> int:
    """FLOPs of one optimiser step of F (denoiser forward and backward to η)."""
    eta = torch.zeros(shape, device=device, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        t = torch.full((shape[0],), 100, device=device)
        model(eta, t).square().mean().backward()
    return int(counter.get_total_flops())


def run(
    prior: str, batches: list[int], steps: int, tiles: int, device: torch.device, repeats: int
) -> None:
    checkpoint = load_checkpoint(PRIORS / f"{prior}.safetensors")
    model = checkpoint.model.to(device)
    channels = int(checkpoint.layout["channels"])
    size = int(checkpoint.layout["size"])
    config = PlugAndPlayConfig(steps=steps)
    target = torch.zeros(1, channels, size, size, device=device)
    constraint = WeightedConstraint(
        "quadratic", 1.0, lambda x: -((x - target) ** 2).flatten(1).mean(1)
    )
    results: dict[int, float] = {}
    # Alternate the batch sizes and measure the matmul beside each: this machine is shared.
    for repeat, batch in ((r, b) for r in range(repeats) for b in batches):
        matmul = matmul_gflops(device)
        flops = step_flops(model, (batch, channels, size, size), device) * steps
        optimise(
            model,
            checkpoint.schedule,
            torch.zeros(batch, channels, size, size, device=device),
            [constraint],
            PlugAndPlayConfig(steps=2),
            list(range(batch)),
        )  # warm-up
        synchronise(device)
        started = time.perf_counter()
        done = 0
        while done < tiles:
            init = torch.zeros(batch, channels, size, size, device=device)
            optimise(model, checkpoint.schedule, init, [constraint], config, list(range(batch)))
            done += batch
        synchronise(device)
        seconds = time.perf_counter() - started
        calls = done // batch
        tiles_per_second = done / seconds
        results[batch] = tiles_per_second
        baseline = results.get(batches[0], tiles_per_second)
        print(
            json.dumps(
                {
                    "device": str(device),
                    "repeat": repeat,
                    "prior": prior,
                    "batch": batch,
                    "steps": steps,
                    "tiles": done,
                    "seconds": round(seconds, 2),
                    "tiles_per_s": round(tiles_per_second, 3),
                    "s_per_km2_at_200_steps": round(200 / steps / tiles_per_second / CORE_KM2, 1),
                    "gflop_s": round(flops * calls / seconds / 1e9, 1),
                    "matmul_gflop_s": round(matmul, 1),
                    "of_matmul": round(flops * calls / seconds / 1e9 / matmul, 2),
                    "speedup_vs_first_batch": round(tiles_per_second / baseline, 2),
                }
            ),
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prior", default="demo-joint")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 16])
    parser.add_argument("--steps", type=int, default=20, help="optimiser steps per call")
    parser.add_argument("--tiles", type=int, default=16, help="tiles per batch size")
    parser.add_argument("--repeats", type=int, default=2, help="rounds over the batch sizes")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    arguments = parser.parse_args()
    run(
        arguments.prior,
        arguments.batches,
        arguments.steps,
        arguments.tiles,
        torch.device(arguments.device),
        arguments.repeats,
    )


if __name__ == "__main__":
    main()
