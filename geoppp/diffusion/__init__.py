"""Diffusion-model machinery that knows nothing about maps: the noise schedule, the denoiser
network and its checkpoint format, the DDPM training loop and ancestral sampling.

The names below are imported on first use (as in :data:`geoppp.LAZY`), so that importing a
torch-free module of this package (:mod:`geoppp.diffusion.settings`) does not load torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from geoppp.diffusion.checkpoint import LoadedCheckpoint as LoadedCheckpoint
    from geoppp.diffusion.checkpoint import load_checkpoint as load_checkpoint
    from geoppp.diffusion.checkpoint import save_checkpoint as save_checkpoint
    from geoppp.diffusion.denoiser import Denoiser as Denoiser
    from geoppp.diffusion.denoiser import DenoiserConfig as DenoiserConfig
    from geoppp.diffusion.denoiser import build_denoiser as build_denoiser
    from geoppp.diffusion.ema import ExponentialMovingAverage as ExponentialMovingAverage
    from geoppp.diffusion.normalisation import ChannelNormalisation as ChannelNormalisation
    from geoppp.diffusion.patches import PatchSampler as PatchSampler
    from geoppp.diffusion.patches import PatchSource as PatchSource
    from geoppp.diffusion.patches import TensorPatches as TensorPatches
    from geoppp.diffusion.sampling import EpsilonModel as EpsilonModel
    from geoppp.diffusion.sampling import sample as sample
    from geoppp.diffusion.schedule import NoiseSchedule as NoiseSchedule
    from geoppp.diffusion.settings import TrainingConfig as TrainingConfig
    from geoppp.diffusion.training import TrainingResult as TrainingResult
    from geoppp.diffusion.training import resume_state_path as resume_state_path
    from geoppp.diffusion.training import train as train

LAZY = {
    "ChannelNormalisation": "geoppp.diffusion.normalisation",
    "Denoiser": "geoppp.diffusion.denoiser",
    "DenoiserConfig": "geoppp.diffusion.denoiser",
    "EpsilonModel": "geoppp.diffusion.sampling",
    "ExponentialMovingAverage": "geoppp.diffusion.ema",
    "LoadedCheckpoint": "geoppp.diffusion.checkpoint",
    "NoiseSchedule": "geoppp.diffusion.schedule",
    "PatchSampler": "geoppp.diffusion.patches",
    "PatchSource": "geoppp.diffusion.patches",
    "TensorPatches": "geoppp.diffusion.patches",
    "TrainingConfig": "geoppp.diffusion.settings",
    "TrainingResult": "geoppp.diffusion.training",
    "build_denoiser": "geoppp.diffusion.denoiser",
    "load_checkpoint": "geoppp.diffusion.checkpoint",
    "resume_state_path": "geoppp.diffusion.training",
    "sample": "geoppp.diffusion.sampling",
    "save_checkpoint": "geoppp.diffusion.checkpoint",
    "train": "geoppp.diffusion.training",
}
"""Each public name → the module that defines it, imported when the name is first used."""

__all__ = sorted(LAZY)


def __getattr__(name: str) -> Any:
    if name in LAZY:
        return getattr(import_module(LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(LAZY))
