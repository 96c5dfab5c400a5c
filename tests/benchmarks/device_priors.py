"""Train several small DDPM land-cover priors at once on one GPU, from arrays exported here.

Two halves, so that the GPU machine needs none of the geospatial stack:

``export`` (here, with the full virtual environment) reads each job's training data, averages
it to the patches' ground sampling distance exactly as :class:`~geoppp.landcover.patches.
RegionPatches` does, and writes ``.priors/<job>.npz`` (per imagery file: the coarse channels
``(C, h, w)`` as float16, the flat indices of the acceptable window origins as int32 and the
shape of the window lattice) and ``.priors/<job>.json`` (patch layout with class colours,
denoiser, training settings, schedule).

``train`` (on the GPU machine; imports only numpy, torch and :mod:`geoppp.diffusion`) runs
one process per job, all on the one GPU, each drawing windows and dihedral symmetries as
``RegionPatches.sample`` does and calling :func:`geoppp.diffusion.train`. Checkpoints and
resume states live in a scratch folder; after every checkpoint (and on SIGTERM/SIGINT, and at
the end) the ``.safetensors`` files and one combined log are copied to ``--out``, so a run cut
off by a time limit still hands back its last checkpoints. ``--budget`` stops each job at the
last checkpoint that fits in that many seconds (training runs in chunks of
``checkpoint_every`` steps, each resuming the previous one, which reaches the same weights as
one uninterrupted call).

Jobs:

- ``demo-joint-long``, ``demo-labels``: the demo source region (``regions/demo-source.yaml``)
  with the patches and denoiser of ``pipelines/train-prior-demo.yaml``, 20 000 steps.
- ``chesapeake-joint``, ``chesapeake-labels``: real Chesapeake Land Cover patches
  (``../shared/data/chesapeake/patches``, source patches 1, 2, 3, 5, 7; patches 0, 4, 6 are
  held out), classes ``chesapeake-4`` at 2 m, both NAIP acquisitions as separate imagery
  files, 12 000 steps.

Usage::

    .venv/bin/python tests/benchmarks/device_priors.py export
    .venv/bin/python tests/benchmarks/device_priors.py train --jobs demo-labels \\
        chesapeake-joint --steps 20 --device cpu --out /tmp/devsmoke
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import torch

    from geoppp.landcover.patches import PatchMode

REPO = Path(__file__).resolve().parents[2]
PRIORS = REPO / ".priors"
DEMO_PIPELINE = REPO / "pipelines" / "train-prior-demo.yaml"
CHESAPEAKE = REPO.parent / "shared" / "data" / "chesapeake" / "patches"
CHESAPEAKE_SOURCE = (1, 2, 3, 5, 7)
CHESAPEAKE_HELD_OUT = (0, 4, 6)
CHESAPEAKE_NAIP = {"naip2014": slice(0, 4), "naip-older": slice(4, 8)}
CHESAPEAKE_LABEL_CHANNEL = 8
CHESAPEAKE_GSD = 2.0  # metres: 2 × 2 blocks of the 1 m patches
MAX_INVALID = 0.05
SIZE = 64
TIMESTEPS = 1000
COMBINED_LOG = "train.log"
POLL_SECONDS = 10.0

JOBS: dict[str, dict[str, Any]] = {
    "demo-joint-long": {"data": "demo", "mode": "joint", "steps": 20000},
    "demo-labels": {"data": "demo", "mode": "labels", "steps": 20000},
    "chesapeake-joint": {"data": "chesapeake", "mode": "joint", "steps": 12000},
    "chesapeake-labels": {"data": "chesapeake", "mode": "labels", "steps": 12000},
}
TRAINING = {
    "batch_size": 32,
    "lr": 2e-4,
    "ema_decay": 0.999,
    "seed": 0,
    "checkpoint_every": 2000,
    "log_every": 100,
    "device": "cuda",
}


# ---------------------------------------------------------------- export (here)


@dataclass(frozen=True)
class CoarseFile:
    """One imagery file at the patches' gsd, as ``RegionPatches._files`` holds it."""

    channels: np.ndarray
    """(C, h, w) float32 in [-1, 1]."""
    starts: np.ndarray
    """Flat indices of the acceptable window origins into ``lattice``."""
    lattice: tuple[int, int]
    """Shape of the window-origin lattice (h - size + 1, w - size + 1) (``invalid.shape``)."""


@dataclass(frozen=True)
class ExportedJob:
    files: list[CoarseFile]
    layout: dict[str, Any]
    denoiser: dict[str, Any]
    source: str


def export(jobs: Sequence[str], out: Path) -> None:
    """Write ``<job>.npz`` and ``<job>.json`` into ``out`` for each job."""
    out.mkdir(parents=True, exist_ok=True)
    total = 0
    for name in jobs:
        spec = JOBS[name]
        exported = (
            _export_demo(spec["mode"])
            if spec["data"] == "demo"
            else _export_chesapeake(spec["mode"])
        )
        arrays: dict[str, np.ndarray] = {"n_files": np.array(len(exported.files))}
        for index, coarse in enumerate(exported.files):
            arrays[f"channels_{index}"] = coarse.channels.astype(np.float16)
            arrays[f"starts_{index}"] = coarse.starts.astype(np.int32)
            arrays[f"lattice_{index}"] = np.array(coarse.lattice, np.int64)
        np.savez_compressed(out / f"{name}.npz", **arrays)  # type: ignore[arg-type]
        training = _training_config(spec["steps"])
        description = {
            "name": name,
            "source": exported.source,
            "layout": exported.layout,
            "denoiser": exported.denoiser,
            "training": training,
            "schedule": {"kind": "linear", "timesteps": TIMESTEPS},
        }
        (out / f"{name}.json").write_text(json.dumps(description, indent=1) + "\n")
        size = (out / f"{name}.npz").stat().st_size + (out / f"{name}.json").stat().st_size
        total += size
        windows = sum(len(f.starts) for f in exported.files)
        shapes = ", ".join(str(f.channels.shape) for f in exported.files)
        print(
            f"{name}: {len(exported.files)} file(s) {shapes}, {windows} acceptable windows; "
            f"float16 channels {sum(f.channels.size * 2 for f in exported.files) / 1e6:.1f} MB, "
            f"starts {sum(f.starts.size * 4 for f in exported.files) / 1e6:.2f} MB; "
            f"written {size / 1e6:.2f} MB"
        )
    print(f"total {total / 1e6:.2f} MB in {out}")


def _training_config(steps: int) -> dict[str, Any]:
    from geoppp.diffusion import TrainingConfig

    return TrainingConfig.model_validate({**TRAINING, "steps": steps}).model_dump(mode="json")


def _demo_step() -> Any:
    from geoppp.config import TrainPriorStep, load_pipeline, load_region

    pipeline = load_pipeline(DEMO_PIPELINE)
    region = load_region(pipeline.region)
    step = next(s for s in pipeline.steps if isinstance(s, TrainPriorStep))
    return region, step


def _export_demo(mode: PatchMode) -> ExportedJob:
    """The demo prior's patches, built as ``geoppp.steps.training.prepare_training`` does."""
    from geoppp.diffusion import DenoiserConfig
    from geoppp.steps.training import region_patches

    region, step = _demo_step()
    if not all(path.exists() for path in region.imagery.paths):
        subprocess.run(
            [
                str(Path(sys.executable).with_name("geoppp")),
                "make-demo-region",
                "--domain",
                "source",
            ],
            check=True,
            cwd=REPO,
        )
        region, step = _demo_step()
    patches = region_patches(region, step.patches.model_copy(update={"mode": mode}))
    denoiser = DenoiserConfig.model_validate(
        {**step.denoiser, "in_channels": patches.channels, "sample_size": step.patches.size}
    )
    colours = [list(item.rgb) for item in region.classes.classes]
    files = [
        CoarseFile(f.channels, f.starts, (int(f.invalid.shape[0]), int(f.invalid.shape[1])))
        for f in patches._files
    ]
    return ExportedJob(
        files,
        {**patches.layout.to_dict(), "class_colours": colours},
        denoiser.model_dump(mode="json"),
        f"{region.name}: {[str(p.relative_to(REPO)) for p in region.imagery.paths]} ({mode}, "
        f"{DEMO_PIPELINE.relative_to(REPO)})",
    )


def chesapeake_paths() -> dict[int, Path]:
    """Patch id → file, from ``index.csv``."""
    with (CHESAPEAKE / "index.csv").open(newline="") as index:
        return {
            int(row["patch_id"]): CHESAPEAKE / Path(row["patch_fn"]).name
            for row in csv.DictReader(index)
        }


def _export_chesapeake(mode: PatchMode) -> ExportedJob:
    """The Chesapeake source patches at 2 m, with the conventions of ``RegionPatches._read``
    and ``coarsen`` (no georeference, so arrays rather than rasters)."""
    from geoppp.diffusion import DenoiserConfig
    from geoppp.landcover.coarsen import _block_sum
    from geoppp.landcover.normalisation import array_statistics
    from geoppp.landcover.patches import PatchLayout, _window_invalid
    from geoppp.landcover.schemes import load_scheme

    _, step = _demo_step()
    assert not set(CHESAPEAKE_SOURCE) & set(CHESAPEAKE_HELD_OUT)
    scheme = load_scheme("chesapeake-4")
    n_classes = len(scheme.classes)
    lookup = np.full(256, -1, np.int64)  # code 15 (no data) and any unknown code: unlabelled
    for index, item in enumerate(scheme.classes):
        lookup[item.chesapeake] = index
    paths = chesapeake_paths()
    images: list[np.ndarray] = []
    classes: list[np.ndarray] = []
    for patch_id in CHESAPEAKE_SOURCE:
        data = np.load(paths[patch_id])["arr_0"][0]
        codes = data[CHESAPEAKE_LABEL_CHANNEL]
        codes = np.where(np.isfinite(codes), codes, -1).astype(np.int64)
        inside = (codes >= 0) & (codes < len(lookup))
        labels = np.where(inside, lookup[np.where(inside, codes, 0)], -1)
        for bands in CHESAPEAKE_NAIP.values():
            images.append(data[bands].astype(np.float32))
            classes.append(labels)

    # As band_statistics: per band mean and std over the valid pixels of every image.
    normalisation = array_statistics(images, [np.isfinite(image).all(axis=0) for image in images])
    layout = PatchLayout(
        mode=mode,
        gsd=CHESAPEAKE_GSD,
        size=step.patches.size,
        n_classes=n_classes,
        bands=(1, 2, 3, 4),
        band_names=("red", "green", "blue", "nir"),
        class_names=tuple(scheme.names),
        normalisation=normalisation if mode == "joint" else None,
    )

    factor = round(CHESAPEAKE_GSD)  # the patches are 1 m
    files = []
    for image, labels in zip(images, classes, strict=True):
        # coarsen(): the mean of each cell's valid pixels, the class fractions of its labelled
        # pixels, and the fraction of its pixels that are valid (and labelled).
        pixel_valid = np.isfinite(image).all(axis=0)
        counts = _block_sum(pixel_valid, factor)
        image_sums = _block_sum(np.where(pixel_valid, image, 0), factor)
        with np.errstate(invalid="ignore", divide="ignore"):
            coarse_image = np.where(counts > 0, image_sums / counts, np.nan)
        per_class = np.stack([_block_sum(labels == k, factor) for k in range(n_classes)])
        total = per_class.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            fractions = np.where(total > 0, per_class / total, np.nan)
        labelled = total / factor**2
        valid_and_labelled = _block_sum(pixel_valid & (labels >= 0), factor) / factor**2
        # RegionPatches._read: neutral values where a cell has nothing, then the windows.
        parts = [2.0 * np.nan_to_num(fractions, nan=1.0 / n_classes) - 1.0]
        valid = labelled
        if mode == "joint":
            parts.insert(0, np.nan_to_num(normalisation.apply(coarse_image), nan=0.0))
            valid = valid_and_labelled
        channels = np.concatenate(parts).astype(np.float32)
        invalid = _window_invalid(valid, layout.size)
        starts = np.flatnonzero(invalid <= MAX_INVALID)
        files.append(CoarseFile(channels, starts, (int(invalid.shape[0]), int(invalid.shape[1]))))

    denoiser = DenoiserConfig.model_validate(
        {**step.denoiser, "in_channels": layout.channels, "sample_size": layout.size}
    )
    colours = [list(item.rgb) for item in scheme.classes]
    names = ", ".join(paths[i].name for i in CHESAPEAKE_SOURCE)
    return ExportedJob(
        files,
        {**layout.to_dict(), "class_colours": colours},
        denoiser.model_dump(mode="json"),
        f"Chesapeake Land Cover WV 2014 source patches {list(CHESAPEAKE_SOURCE)} ({names}); "
        f"held out {list(CHESAPEAKE_HELD_OUT)}; imagery files: each patch's "
        f"{' and '.join(CHESAPEAKE_NAIP)} ({mode})",
    )


# ---------------------------------------------------------------- train (device)


class WindowSource:
    """A ``PatchSource`` over exported coarse arrays: uniform acceptable windows across all
    files, each under one of the 8 symmetries of the square, drawn in the order
    ``RegionPatches.sample`` draws them (so the same generator gives the same batch)."""

    def __init__(
        self, channels: list[np.ndarray], starts: list[np.ndarray], widths: list[int], size: int
    ) -> None:
        self.channels = [np.ascontiguousarray(c, dtype=np.float32) for c in channels]
        self.starts = [np.asarray(s, np.int64) for s in starts]
        self.widths = widths
        self.size = size
        self.cumulative = np.cumsum([len(s) for s in self.starts])
        if not len(self.cumulative) or self.cumulative[-1] == 0:
            raise ValueError("no acceptable window in the exported arrays")

    @classmethod
    def load(cls, path: Path, size: int) -> WindowSource:
        with np.load(path) as data:
            n = int(data["n_files"])
            channels = [data[f"channels_{i}"] for i in range(n)]
            starts = [data[f"starts_{i}"] for i in range(n)]
            widths = [int(data[f"lattice_{i}"][1]) for i in range(n)]
        return cls(channels, starts, widths, size)

    def __len__(self) -> int:
        return int(self.cumulative[-1])

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        import torch

        picks = torch.randint(len(self), (batch_size,), generator=generator).numpy()
        files = np.searchsorted(self.cumulative, picks, side="right")
        symmetries = torch.randint(8, (batch_size,), generator=generator).tolist()
        batch = np.empty((batch_size, self.channels[0].shape[0], self.size, self.size), np.float32)
        for index, (pick, file, symmetry) in enumerate(zip(picks, files, symmetries, strict=True)):
            before = 0 if file == 0 else int(self.cumulative[file - 1])
            row, col = divmod(int(self.starts[file][pick - before]), self.widths[file])
            window = self.channels[file][:, row : row + self.size, col : col + self.size]
            turned = np.rot90(window, symmetry % 4, (1, 2))
            batch[index] = turned[..., ::-1] if symmetry >= 4 else turned
        return torch.from_numpy(batch)


def worker(
    name: str,
    priors: Path,
    scratch: Path,
    steps: int | None,
    device: Literal["cpu", "cuda"],
    deadline: float | None,
    threads: int,
    checkpoint_every: int | None = None,
) -> int:
    """Train one job (in its own process), in chunks of ``checkpoint_every`` steps."""
    import torch

    from geoppp.diffusion import DenoiserConfig, NoiseSchedule, TrainingConfig, train

    torch.set_num_threads(threads)
    if device == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
    spec = json.loads((priors / f"{name}.json").read_text())
    denoiser = DenoiserConfig.model_validate(spec["denoiser"])
    assert spec["schedule"]["kind"] == "linear"
    schedule = NoiseSchedule.linear(int(spec["schedule"]["timesteps"]))
    source = WindowSource.load(priors / f"{name}.npz", denoiser.sample_size)
    total = int(steps if steps is not None else spec["training"]["steps"])
    base = {**spec["training"], "steps": total, "device": device}
    if checkpoint_every is not None:
        base["checkpoint_every"] = checkpoint_every
    every = int(base["checkpoint_every"]) or total
    checkpoint = scratch / f"{name}.safetensors"
    gpu = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    log(
        f"{name}: torch {torch.__version__} on {gpu}, {threads} CPU threads; {len(source)} "
        f"windows, {denoiser.in_channels} channels; {total} steps of batch "
        f"{base['batch_size']}, chunks of {every}; checkpoint {checkpoint}"
    )
    seconds = 0.0
    ran_total = 0
    step = 0
    history: list[tuple[int, float]] = []
    per_step: float | None = None
    stopped_early = False
    while step < total:
        goal = min(total, (step // every + 1) * every)
        if deadline is not None and per_step is not None:
            needed = per_step * (goal - step) * 1.05 + 5.0
            if time.time() + needed > deadline:
                log(
                    f"{name}: stopping at step {step}: the chunk to {goal} needs about "
                    f"{needed:.0f} s, {deadline - time.time():.0f} s of the budget are left"
                )
                stopped_early = True
                break
        config = TrainingConfig.model_validate({**base, "steps": goal})
        result = train(
            denoiser,
            schedule,
            source,
            config,
            checkpoint_path=checkpoint,
            layout=spec["layout"],
            progress=False,
        )
        ran = result.step - result.resumed_from
        seconds += result.seconds
        ran_total += ran
        if ran > 0:
            per_step = result.seconds / ran
        step, history = result.step, result.loss_history
        recent = history[-1][1] if history else float("nan")
        log(
            f"{name}: step {step}/{total} loss {recent:.4f}; this chunk {ran} steps in "
            f"{result.seconds:.1f} s ({ran / max(result.seconds, 1e-9):.1f} steps/s)"
        )
    summary = {
        "job": name,
        "step": step,
        "target_steps": total,
        "stopped_early": stopped_early,
        "steps_this_call": ran_total,
        "seconds": round(seconds, 2),
        "steps_per_s": round(ran_total / seconds, 2) if seconds else None,
        "device": gpu,
        "loss_history": [[s, round(loss, 6)] for s, loss in history],
    }
    log("RESULT " + json.dumps(summary))
    return 0


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Interrupted(Exception):
    pass


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


def train_all(
    jobs: Sequence[str],
    out: Path,
    scratch: Path,
    priors: Path,
    steps: int | None,
    device: Literal["cpu", "cuda"],
    budget: float | None,
    fresh: bool,
    checkpoint_every: int | None = None,
) -> int:
    """Run every job as its own process and keep ``out`` up to date with their checkpoints."""
    started = time.time()
    deadline = started + budget if budget is not None else None
    out.mkdir(parents=True, exist_ok=True)
    scratch.mkdir(parents=True, exist_ok=True)
    for name in jobs:
        if not (priors / f"{name}.npz").is_file():
            raise SystemExit(f"{priors / name}.npz is missing: run `export` first")
        if fresh:
            for suffix in (".safetensors", ".state.pt", ".log"):
                (scratch / f"{name}{suffix}").unlink(missing_ok=True)
    threads = max(1, (os.cpu_count() or 1) // len(jobs))
    header = (
        f"device_priors train {' '.join(jobs)}: steps {steps or 'as exported'}, device "
        f"{device}, budget {budget} s, scratch {scratch}, started "
        f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started))}"
    )
    log(header)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    copied: dict[str, float] = {}
    shown: dict[str, str] = {}
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    code = 0
    try:
        for name in jobs:
            command = [
                sys.executable,
                str(Path(__file__).resolve()),
                "worker",
                name,
                "--priors",
                str(priors),
                "--scratch",
                str(scratch),
                "--device",
                device,
                "--threads",
                str(threads),
            ]
            if steps is not None:
                command += ["--steps", str(steps)]
            if checkpoint_every is not None:
                command += ["--checkpoint-every", str(checkpoint_every)]
            if deadline is not None:
                command += ["--deadline", repr(deadline)]
            with (scratch / f"{name}.log").open("ab") as job_log:
                processes[name] = subprocess.Popen(
                    command,
                    stdout=job_log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
        while True:
            running = [name for name, p in processes.items() if p.poll() is None]
            _collect(jobs, out, scratch, copied, header)
            for name in jobs:
                line = _last_line(scratch / f"{name}.log")
                if shown.get(name) != line:  # only news: the device returns the output's tail
                    print(f"  [{time.time() - started:5.0f} s] {line}", flush=True)
                    shown[name] = line
            if not running:
                break
            _sleep_until_exit(processes, POLL_SECONDS)
        for name, process in processes.items():
            if process.returncode:
                log(f"{name}: worker exited with {process.returncode}; see its log")
                code = 1
    except Interrupted as signal_name:
        log(f"interrupted by {signal_name}: stopping the workers, copying what exists")
        code = 128 + int(signal.Signals[str(signal_name)])
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _collect(jobs, out, scratch, copied, header)
    for name in jobs:
        result = _result(scratch / f"{name}.log")
        if result is None:
            log(f"{name}: no result")
        else:
            log(
                f"{name}: step {result['step']}/{result['target_steps']}, "
                f"{result['seconds']} s, {result['steps_per_s']} steps/s, final loss "
                f"{result['loss_history'][-1][1] if result['loss_history'] else None}"
            )
    log(f"done in {time.time() - started:.0f} s; files in {out}: {sorted(os.listdir(out))}")
    return code


def _sleep_until_exit(processes: dict[str, subprocess.Popen[bytes]], seconds: float) -> None:
    end = time.time() + seconds
    while time.time() < end:
        if all(p.poll() is not None for p in processes.values()):
            return
        time.sleep(0.5)


def _collect(
    jobs: Sequence[str], out: Path, scratch: Path, copied: dict[str, float], header: str
) -> None:
    """Copy each job's newest checkpoint (written atomically, so always whole) and the
    combined log into ``out``."""
    for name in jobs:
        checkpoint = scratch / f"{name}.safetensors"
        with contextlib.suppress(FileNotFoundError):
            mtime = checkpoint.stat().st_mtime
            if copied.get(name) != mtime:
                partial = out / f".{name}.safetensors.partial"
                shutil.copyfile(checkpoint, partial)
                os.replace(partial, out / checkpoint.name)
                copied[name] = mtime
    parts = [header, ""]
    for name in jobs:
        job_log = scratch / f"{name}.log"
        text = job_log.read_text(errors="replace") if job_log.is_file() else "(no log)\n"
        parts += [f"===== {name} =====", text]
    partial = out / f".{COMBINED_LOG}.partial"
    partial.write_text("\n".join(parts))
    os.replace(partial, out / COMBINED_LOG)


def _last_line(path: Path) -> str:
    if not path.is_file():
        return f"{path.stem}: (no log yet)"
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    if not lines:
        return f"{path.stem}: (empty log)"
    last = lines[-1]
    return last if len(last) < 300 else last[:300] + " …"


def _result(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    for line in reversed(path.read_text(errors="replace").splitlines()):
        if "RESULT " in line:
            result: dict[str, Any] = json.loads(line.split("RESULT ", 1)[1])
            return result
    return None


# ---------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    export_parser = commands.add_parser("export", help="write .priors/ (here, full venv)")
    export_parser.add_argument("--jobs", nargs="+", choices=list(JOBS), default=list(JOBS))
    export_parser.add_argument("--out", type=Path, default=PRIORS)

    train_parser = commands.add_parser("train", help="train the jobs in parallel (device)")
    train_parser.add_argument("--jobs", nargs="+", choices=list(JOBS), required=True)
    train_parser.add_argument("--out", type=Path, required=True, help="gets .safetensors + log")
    train_parser.add_argument("--priors", type=Path, default=PRIORS)
    train_parser.add_argument(
        "--scratch",
        type=Path,
        default=Path("/tmp/device-priors-scratch"),
        help="checkpoints, resume states and per-job logs (a rerun resumes from them)",
    )
    train_parser.add_argument("--steps", type=int, help="override every job's steps")
    train_parser.add_argument(
        "--checkpoint-every", type=int, help="override every job's checkpoint_every (chunk)"
    )
    train_parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda")
    train_parser.add_argument(
        "--budget",
        type=float,
        help="seconds from now: stop each job at the last checkpoint that fits",
    )
    train_parser.add_argument("--fresh", action="store_true", help="ignore earlier scratch")

    worker_parser = commands.add_parser("worker", help="(internal) one job of `train`")
    worker_parser.add_argument("job", choices=list(JOBS))
    worker_parser.add_argument("--priors", type=Path, required=True)
    worker_parser.add_argument("--scratch", type=Path, required=True)
    worker_parser.add_argument("--steps", type=int)
    worker_parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda")
    worker_parser.add_argument("--deadline", type=float, help="time.time() to stop by")
    worker_parser.add_argument("--threads", type=int, default=1)
    worker_parser.add_argument("--checkpoint-every", type=int)

    args = parser.parse_args(argv)
    if args.command == "export":
        export(args.jobs, args.out)
        return 0
    if args.command == "train":
        return train_all(
            args.jobs,
            args.out,
            args.scratch,
            args.priors,
            args.steps,
            args.device,
            args.budget,
            args.fresh,
            args.checkpoint_every,
        )
    return worker(
        args.job,
        args.priors,
        args.scratch,
        args.steps,
        args.device,
        args.deadline,
        args.threads,
        args.checkpoint_every,
    )


if __name__ == "__main__":
    sys.exit(main())
