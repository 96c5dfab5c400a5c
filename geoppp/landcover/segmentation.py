"""Segmentation networks (segmentation-models-pytorch): the U-Net baselines and distillation.

A network maps normalised image bands ``(B, bands, H, W)`` to class logits ``(B, C, H, W)``
at the imagery's own resolution. It is trained on windows of a region's imagery with labels
aligned onto them (ground truth, the weak labels' argmax, or another map, e.g. geoppp's), and
stored as one safetensors file whose metadata says the architecture, the classes, the bands,
the pixel size and the band normalisation, so that it is used only on data like its own.

Encoders are always built with ``encoder_weights=None``: nothing is downloaded.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn
from tqdm.auto import tqdm

from geoppp.diffusion.checkpoint import read_safetensors, write_atomically
from geoppp.errors import CheckpointError
from geoppp.landcover.segmentation_metadata import REMEDY, SegmentationMetadata
from geoppp.landcover.settings import IGNORE, MULTIPLE, NetworkConfig, SegmentationTrainingConfig


def build_network(config: NetworkConfig, bands: int, classes: int) -> nn.Module:
    """An untrained network for ``bands`` input channels and ``classes`` outputs."""
    # Imported here: smp pulls in timm, seconds of import that `geoppp --help` and every
    # YAML check (which import this module for its configs) should not pay.
    import segmentation_models_pytorch as smp

    extra: dict[str, Any] = {}
    if config.architecture in ("Unet", "UnetPlusPlus"):
        extra["decoder_channels"] = list(config.decoder_channels)
    network: nn.Module = smp.create_model(
        config.architecture,
        encoder_name=config.encoder,
        encoder_depth=config.encoder_depth,
        encoder_weights=None,
        in_channels=bands,
        classes=classes,
        **extra,
    )
    return network


@dataclass
class LoadedNetwork:
    path: Path
    network: nn.Module
    metadata: SegmentationMetadata


def save_network(path: Path, network: nn.Module, metadata: SegmentationMetadata) -> Path:
    """Write the weights and metadata to ``path`` atomically (a safetensors file)."""
    tensors = {
        name: tensor.detach().to("cpu").contiguous()
        for name, tensor in network.state_dict().items()
    }
    strings = metadata.to_strings()
    write_atomically(path, lambda temporary: save_file(tensors, temporary, metadata=strings))
    return path


def load_network(path: Path) -> LoadedNetwork:
    """The network at ``path``, on CPU, in eval mode."""
    metadata_strings, tensors = read_safetensors(path, "segmentation network", REMEDY)
    metadata = SegmentationMetadata.from_strings(path, metadata_strings)
    network = build_network(metadata.network, len(metadata.bands), len(metadata.class_names))
    try:
        network.load_state_dict(tensors)
    except RuntimeError as error:
        raise CheckpointError(
            f"segmentation network {path} does not match its own architecture ({error}); retrain it"
        ) from None
    return LoadedNetwork(path, network.eval(), metadata)


# ---------------------------------------------------------------- training

BatchSampler = Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]
"""Draws one training batch: normalised images ``(B, bands, P, P)`` float32 and labels
``(B, P, P)`` int64 (class index, or :data:`IGNORE`)."""


@dataclass
class NetworkTraining:
    """The outcome of training: the network, its loss by step, and the time it took."""

    network: nn.Module
    loss_history: list[tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0


def train_network(
    network: nn.Module,
    sample_batch: BatchSampler,
    config: SegmentationTrainingConfig,
    classes: int,
    device: torch.device | str = "cpu",
    report_every: int = 50,
    progress: bool = False,
) -> NetworkTraining:
    """Train ``network`` with AdamW on cross-entropy plus smp's multiclass Dice loss.

    Pixels labelled :data:`IGNORE` count in neither loss. A batch without any labelled pixel
    is drawn again (at most 10 times in a row) rather than stepping on nothing. ``progress``
    shows a tqdm bar with the latest mean loss.
    """
    import segmentation_models_pytorch as smp  # see build_network

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = torch.device(device)
    network = network.to(device).train()
    optimiser = torch.optim.AdamW(network.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, config.steps)
    dice = smp.losses.DiceLoss("multiclass", classes=list(range(classes)), ignore_index=IGNORE)
    started = time.perf_counter()
    result = NetworkTraining(network)
    running: list[float] = []
    bar = tqdm(
        total=config.steps,
        disable=not progress,
        desc="training network",
        unit="step",
        dynamic_ncols=True,
    )
    for step in range(1, config.steps + 1):
        for _ in range(10):
            images, labels = sample_batch(rng)
            if (labels != IGNORE).any():
                break
        x = torch.from_numpy(images).to(device)
        y = torch.from_numpy(labels).to(device)
        logits = network(x)
        loss = F.cross_entropy(logits, y, ignore_index=IGNORE)
        if config.dice > 0:
            loss = loss + config.dice * dice(logits, y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        running.append(float(loss.detach()))
        bar.update(1)
        if step % report_every == 0 or step == config.steps:
            result.loss_history.append((step, float(np.mean(running))))
            running = []
            bar.set_postfix(loss=f"{result.loss_history[-1][1]:.3f}")
    bar.close()
    result.seconds = time.perf_counter() - started
    network.eval()
    return result


# ---------------------------------------------------------------- mapping


class SegmentationModel:
    """A :class:`~geoppp.geo.engine.BatchModel`: softmax class probabilities of a trained
    network, NaN where the imagery is nodata.

    Args:
        loaded: the network and what it was trained on.
        device: where to run it.
    """

    def __init__(self, loaded: LoadedNetwork, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.network = loaded.network.to(self.device).eval()
        self.normalisation = loaded.metadata.normalisation

    def __call__(self, arrays: dict[str, np.ndarray], valid: np.ndarray) -> np.ndarray:
        image = self.normalisation.apply(arrays["image"].astype(np.float32))
        height, width = image.shape[-2:]
        padded_h = math.ceil(height / MULTIPLE) * MULTIPLE
        padded_w = math.ceil(width / MULTIPLE) * MULTIPLE
        x = torch.from_numpy(image).to(self.device)
        if (padded_h, padded_w) != (height, width):
            # Repeating the edge keeps the padding image-like; zeros would be a fake dark edge.
            x = F.pad(x, (0, padded_w - width, 0, padded_h - height), mode="replicate")
        with torch.no_grad():
            probabilities = torch.softmax(self.network(x), dim=1)[..., :height, :width]
        out = probabilities.cpu().numpy().astype(np.float32)
        out[~np.broadcast_to(valid[:, np.newaxis], out.shape)] = np.nan
        return out
