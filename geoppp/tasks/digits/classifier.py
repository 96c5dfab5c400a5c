"""Small CNN digit classifiers: one steers generation (inside a constraint), another judges it.

The judge must be trained independently of the constraint's classifier (its own seed and
width), else success rates would reward fooling one network rather than drawing the digit.
Its penultimate features are what the Fréchet distance compares. The networks are a few
plain conv layers: no well-kept package ships a 32 × 32 MNIST classifier to build from
config, and this one is ten lines of ``nn.Sequential``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from safetensors.torch import save_file
from torch import Tensor, nn
from tqdm.auto import tqdm

from geoppp.diffusion.checkpoint import read_safetensors, write_atomically
from geoppp.errors import CheckpointError
from geoppp.tasks.digits.data import CLASSES, SIZE, Digits

FORMAT = "geoppp.tasks.digits.classifier"


class ClassifierConfig(BaseModel):
    """Size of the CNN. Frozen; refuses unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: tuple[int, int, int] = Field(
        (16, 32, 64), description="Channels of the three conv + max-pool stages."
    )
    features: int = Field(128, ge=2, description="Width of the penultimate (feature) layer.")


class ClassifierTrainingConfig(BaseModel):
    """How to train a classifier. Frozen; refuses unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(8, ge=1, description="Passes over the training digits.")
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0, description="Adam learning rate.")
    shift: int = Field(2, ge=0, description="Random translations up to this many pixels.")
    seed: int = Field(0, ge=0, description="Seeds initialisation, order and shifts.")


class DigitClassifier(nn.Module):
    """``forward(x) -> logits``; ``features(x)`` gives the penultimate activations.

    Args:
        config: the network's size.
    """

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        a, b, c = config.channels
        self.body = nn.Sequential(
            nn.Conv2d(1, a, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(a, b, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(b, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(c * (SIZE // 8) ** 2, config.features), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Linear(config.features, CLASSES)

    def features(self, x: Tensor) -> Tensor:
        """(B, 1, 32, 32) in [-1, 1] → (B, features) float32."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, SIZE, SIZE):
            raise ValueError(f"classifier expects (B, 1, {SIZE}, {SIZE}), got {tuple(x.shape)}")
        result: Tensor = self.body(x)
        return result

    def forward(self, x: Tensor) -> Tensor:
        """(B, 1, 32, 32) in [-1, 1] → (B, 10) logits."""
        logits: Tensor = self.head(self.features(x))
        return logits


@dataclass(frozen=True)
class ClassifierReport:
    """What training a classifier achieved."""

    train_accuracy: float
    held_out_accuracy: float


def random_shifts(images: Tensor, shift: int, generator: torch.Generator) -> Tensor:
    """Translate each image by up to ``shift`` pixels each way, filling with background."""
    if shift == 0:
        return images
    padded = F.pad(images, (shift,) * 4, value=-1.0)
    offsets = torch.randint(0, 2 * shift + 1, (len(images), 2), generator=generator)
    return torch.stack(
        [padded[i, :, dy : dy + SIZE, dx : dx + SIZE] for i, (dy, dx) in enumerate(offsets)]
    )


def accuracy(model: DigitClassifier, digits: Digits, batch_size: int = 500) -> float:
    """Fraction of ``digits`` classified correctly."""
    model.eval()
    with torch.no_grad():
        correct = sum(
            int(
                (
                    model(digits.images[i : i + batch_size]).argmax(1)
                    == digits.labels[i : i + batch_size]
                ).sum()
            )
            for i in range(0, len(digits.labels), batch_size)
        )
    return correct / len(digits.labels)


def train_classifier(
    train: Digits,
    held_out: Digits,
    config: ClassifierConfig,
    training: ClassifierTrainingConfig,
    progress: bool = False,
) -> tuple[DigitClassifier, ClassifierReport]:
    """Train a classifier on ``train`` and measure it on ``held_out``.

    Runs inside ``torch.random.fork_rng``: the caller's global RNG is left as it was.
    """
    with torch.random.fork_rng():
        torch.manual_seed(training.seed)
        generator = torch.Generator().manual_seed(training.seed)
        model = DigitClassifier(config)
        optimiser = torch.optim.Adam(model.parameters(), lr=training.lr)
        for _ in tqdm(range(training.epochs), disable=not progress, desc="classifier"):
            model.train()
            order = torch.randperm(len(train.labels), generator=generator)
            for start in range(0, len(order), training.batch_size):
                index = order[start : start + training.batch_size]
                images = random_shifts(train.images[index], training.shift, generator)
                loss = F.cross_entropy(model(images), train.labels[index])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
    model.eval().requires_grad_(False)
    return model, ClassifierReport(accuracy(model, train), accuracy(model, held_out))


def save_classifier(
    path: str | os.PathLike[str],
    model: DigitClassifier,
    training: ClassifierTrainingConfig,
    report: ClassifierReport,
) -> Path:
    """Write the weights and, as metadata, the config, recipe and accuracies (safetensors)."""
    path = Path(path)
    metadata = {
        "format": FORMAT,
        "config": model.config.model_dump_json(),
        "training": training.model_dump_json(),
        "train_accuracy": f"{report.train_accuracy:.4f}",
        "held_out_accuracy": f"{report.held_out_accuracy:.4f}",
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    return path


def load_classifier(path: str | os.PathLike[str]) -> DigitClassifier:
    """Read a classifier written by :func:`save_classifier`, frozen and in eval mode.

    Raises:
        CheckpointError: missing, unreadable, or not a digit classifier.
    """
    path = Path(path)
    metadata, tensors = read_safetensors(
        path, "digit classifier", "train it with pipelines/digits-classifiers.yaml"
    )
    try:
        if metadata.get("format") != FORMAT:
            raise ValueError(f"its metadata has format {metadata.get('format')!r}, not {FORMAT!r}")
        model = DigitClassifier(ClassifierConfig.model_validate(json.loads(metadata["config"])))
        model.load_state_dict(tensors, strict=True)
    except (ValueError, KeyError, RuntimeError) as error:
        raise CheckpointError(
            f"{path} is not a readable geoppp digit classifier ({error}); retrain it with "
            "pipelines/digits-classifiers.yaml"
        ) from None
    return model.eval().requires_grad_(False)
