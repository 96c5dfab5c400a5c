"""Diffusion-model machinery that knows nothing about maps: the noise schedule, the denoiser
network and its checkpoint format, the DDPM training loop and ancestral sampling."""

from geoppp.diffusion.checkpoint import LoadedCheckpoint, load_checkpoint, save_checkpoint
from geoppp.diffusion.denoiser import Denoiser, DenoiserConfig, build_denoiser
from geoppp.diffusion.ema import ExponentialMovingAverage
from geoppp.diffusion.normalisation import ChannelNormalisation
from geoppp.diffusion.patches import PatchSampler, PatchSource, TensorPatches
from geoppp.diffusion.sampling import EpsilonModel, sample
from geoppp.diffusion.schedule import NoiseSchedule
from geoppp.diffusion.training import TrainingConfig, TrainingResult, resume_state_path, train

__all__ = [
    "ChannelNormalisation",
    "Denoiser",
    "DenoiserConfig",
    "EpsilonModel",
    "ExponentialMovingAverage",
    "LoadedCheckpoint",
    "NoiseSchedule",
    "PatchSampler",
    "PatchSource",
    "TensorPatches",
    "TrainingConfig",
    "TrainingResult",
    "build_denoiser",
    "load_checkpoint",
    "resume_state_path",
    "sample",
    "save_checkpoint",
    "train",
]
