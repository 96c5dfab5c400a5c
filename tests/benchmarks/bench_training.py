"""Benchmark: DDPM training throughput of the denoiser, against plain matmul on the same machine.

For each U-Net config (9 channels = 4 image bands + 5 label channels, 64×64 patches, batch 8):
  * the FLOPs of one forward + backward, counted by ``torch.utils.flop_counter``;
  * the median time of forward + backward, hence the achieved GFLOP/s;
  * training throughput (patches/s) of ``geoppp.diffusion.train`` itself (Adam, EMA and
    data included), timed between the patch draws of consecutive steps;
and the GFLOP/s of plain float32 2048×2048 matmuls measured in the same run (before and
after), with the ratio achieved / matmul (goal on CPU: ≥ 0.6). On CUDA, the same with bf16
autocast against bf16 matmul. Prints one JSON object per line.

    .venv/bin/python tests/benchmarks/bench_training.py [--configs small reference] [--steps 6]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import torch
from torch.utils.flop_counter import FlopCounterMode

from geoppp.diffusion import DenoiserConfig, NoiseSchedule, TrainingConfig, build_denoiser, train

CHANNELS, SIZE, BATCH = 9, 64, 8
CONFIGS = {
    # The U-Net (32, 64, 128) that DESIGN.md's measurements used.
    "small": DenoiserConfig(
        in_channels=CHANNELS, sample_size=SIZE, base_channels=32, channel_multipliers=(1, 2, 4),
        attention_resolutions=(16,),
    ),
    # The reference shape: (64, 128, 192, 256), attention at 8×8.
    "reference": DenoiserConfig(
        in_channels=CHANNELS, sample_size=SIZE, base_channels=64,
        channel_multipliers=(1, 2, 3, 4), attention_resolutions=(8,),
    ),
}  # fmt: skip


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(run: Callable[[], object], device: torch.device, repeats: int) -> float:
    run()  # warm-up
    synchronise(device)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        synchronise(device)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def matmul_gflops(device: torch.device, dtype: torch.dtype, n: int = 2048) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    repeats = 10 if device.type == "cpu" else 50
    seconds = median_seconds(lambda: a @ b, device, repeats)
    return 2 * n**3 / seconds / 1e9


def autocast_for(device: torch.device, bf16: bool) -> AbstractContextManager[object]:
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()


def forward_backward(
    config: DenoiserConfig, device: torch.device, bf16: bool, repeats: int
) -> dict[str, float]:
    torch.manual_seed(0)
    model = build_denoiser(config, device)
    x = torch.randn(BATCH, CHANNELS, SIZE, SIZE, device=device)
    t = torch.randint(0, 1000, (BATCH,), device=device)

    def step() -> None:
        with autocast_for(device, bf16):
            loss = (model(x, t).float() - x).square().mean()
        loss.backward()
        model.zero_grad(set_to_none=True)

    counter = FlopCounterMode(display=False)
    with counter:
        step()
    flops = counter.get_total_flops()
    seconds = median_seconds(step, device, repeats)
    return {
        "parameters_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "gflop_per_step": flops / 1e9,
        "forward_backward_s": seconds,
        "gflops": flops / seconds / 1e9,
    }


class TimedPatches:
    """Random patches; records when each batch is drawn (the start of each training step)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        self.times.append(time.perf_counter())
        return torch.rand(batch_size, CHANNELS, SIZE, SIZE, generator=generator) * 2 - 1


def training_throughput(
    config: DenoiserConfig, device: torch.device, bf16: bool, steps: int, warmup: int = 2
) -> dict[str, float]:
    source = TimedPatches()
    training = TrainingConfig(
        steps=warmup + steps + 1, batch_size=BATCH, device=device.type, bf16_autocast=bf16
    )
    train(config, NoiseSchedule.linear(), source, training, progress=False)
    starts = source.times[warmup:]
    step_seconds = statistics.median(b - a for a, b in itertools.pairwise(starts))
    return {"train_step_s": step_seconds, "patches_per_s": BATCH / step_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=sorted(CONFIGS))
    parser.add_argument("--steps", type=int, default=6, help="timed steps and repeats per test")
    args = parser.parse_args()

    cores = os.cpu_count() or 1
    torch.set_num_threads(cores)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        bf16 = device.type == "cuda"
        dtype = torch.bfloat16 if bf16 else torch.float32
        name = torch.cuda.get_device_name(device) if bf16 else f"cpu ({cores} threads)"
        before = matmul_gflops(device, dtype)
        results = {
            key: {
                **forward_backward(CONFIGS[key], device, bf16, args.steps),
                **training_throughput(CONFIGS[key], device, bf16, args.steps),
            }
            for key in args.configs
        }
        after = matmul_gflops(device, dtype)
        matmul = (before + after) / 2
        print(json.dumps({
            "what": "matmul", "device": name, "dtype": str(dtype).removeprefix("torch."),
            "n": 2048, "gflops_before": round(before, 1), "gflops_after": round(after, 1),
            "load_average": os.getloadavg()[0],
        }))  # fmt: skip
        for key, result in results.items():
            print(json.dumps({
                "what": "denoiser", "config": key, "device": name, "bf16_autocast": bf16,
                "batch": BATCH, "channels": CHANNELS, "size": SIZE,
                **{k: round(v, 3) for k, v in result.items()},
                "ratio_to_matmul": round(result["gflops"] / matmul, 3),
            }))  # fmt: skip


if __name__ == "__main__":
    main()
