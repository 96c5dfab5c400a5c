"""The prior's checkpoint: one safetensors file with the weights to sample with and, in its
metadata, everything needed to use them.

Format (version 1): the tensors are the :class:`~geoppp.diffusion.denoiser.Denoiser`'s
``state_dict`` (the EMA weights when written by training), float32 on CPU. The safetensors
metadata (string → string) holds:

========================  ==============================================================
``format``                ``"geoppp.diffusion.denoiser"``
``format_version``        ``"1"``
``denoiser_config``       JSON of :class:`~geoppp.diffusion.denoiser.DenoiserConfig`
``schedule``              JSON of :meth:`NoiseSchedule.to_config`
``layout``                JSON of the caller's channel layout (free-form, e.g. bands/classes)
``normalisation``         JSON ``{"mean": [...], "std": [...]}`` or ``null``
``step``                  the training step the weights are from
``torch_version``         the torch that wrote it (informational)
========================  ==============================================================

safetensors rather than a pickle: loading it runs no code, and other tools can read it.
Training's resume state (raw weights, optimiser, RNG) is a separate file beside it (see
:mod:`geoppp.diffusion.training`), so the file one ships is only the prior.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from safetensors.torch import save_file

from geoppp.atomic import written_atomically
from geoppp.diffusion.denoiser import Denoiser, DenoiserConfig, build_denoiser
from geoppp.diffusion.metadata import FORMAT, FORMAT_VERSION, checked_checkpoint_metadata, opened
from geoppp.diffusion.normalisation import ChannelNormalisation
from geoppp.diffusion.schedule import NoiseSchedule
from geoppp.errors import CheckpointError


@dataclass(frozen=True, eq=False)
class LoadedCheckpoint:
    """A checkpoint read back: the model ready to use and what it was trained on."""

    path: Path
    model: Denoiser
    """In eval mode with frozen parameters (gradients still flow to its input)."""
    config: DenoiserConfig
    schedule: NoiseSchedule
    layout: dict[str, Any]
    normalisation: ChannelNormalisation | None
    step: int
    format_version: int


def save_checkpoint(
    path: str | os.PathLike[str],
    model: Denoiser,
    schedule: NoiseSchedule,
    layout: Mapping[str, Any],
    normalisation: ChannelNormalisation | None,
    step: int,
) -> Path:
    """Write ``model``'s weights and the metadata to ``path`` atomically.

    Nothing appears under ``path`` until the file is complete (written under a temporary name
    in the same folder, then renamed), so an interrupted save leaves any earlier checkpoint
    intact. The parent folder is created if needed.

    Args:
        path: the ``.safetensors`` file to write (replaced if it exists).
        model: the denoiser whose weights to store (pass the EMA copy when training).
        schedule: the noise schedule it was trained with.
        layout: JSON-able description of the channels (e.g. ``{"bands": [...],
            "classes": [...]}``); :func:`load_checkpoint` can check it.
        normalisation: how the training data was normalised, or None.
        step: the training step of these weights.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    if normalisation is not None and normalisation.channels != model.config.in_channels:
        raise ValueError(
            f"normalisation has {normalisation.channels} channels but the model has "
            f"{model.config.in_channels}"
        )
    try:
        layout_json = json.dumps(dict(layout), sort_keys=True)
    except TypeError as error:
        raise ValueError(f"layout must be JSON-serialisable: {error}") from None
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "denoiser_config": model.config.model_dump_json(),
        "schedule": json.dumps(schedule.to_config(), sort_keys=True),
        "layout": layout_json,
        "normalisation": json.dumps(normalisation.to_dict() if normalisation is not None else None),
        "step": str(int(step)),
        "torch_version": torch.__version__,
    }
    tensors = {
        name: tensor.detach().to("cpu").contiguous() for name, tensor in model.state_dict().items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda temporary: save_file(tensors, temporary, metadata=metadata))
    return path


def load_checkpoint(
    path: str | os.PathLike[str],
    expected_layout: Mapping[str, Any] | None = None,
    device: torch.device | str = "cpu",
) -> LoadedCheckpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: the ``.safetensors`` file.
        expected_layout: when given, every key in it must hold the same value in the
            checkpoint's layout (compared as JSON); keys it does not name are not checked.
        device: where to put the model.

    Raises:
        CheckpointError: the file is missing, unreadable, not a geoppp checkpoint, from a
            newer format, inconsistent, or trained on another layout than expected.
    """
    path = Path(path)
    metadata, tensors = read_safetensors(path, "checkpoint", "train a prior to write it")
    version = checked_checkpoint_metadata(path, metadata)  # tensors on CPU, moved with the model
    try:
        config = DenoiserConfig.model_validate_json(metadata["denoiser_config"])
        schedule = NoiseSchedule.from_config(json.loads(metadata["schedule"]))
        raw_normalisation = json.loads(metadata["normalisation"])
        normalisation = (
            None if raw_normalisation is None else ChannelNormalisation.from_dict(raw_normalisation)
        )
        layout = json.loads(metadata["layout"])
    except (KeyError, ValueError, ValidationError) as error:
        raise CheckpointError(
            f"checkpoint {path} has unreadable metadata ({error}); it was not written by "
            "save_checkpoint or was edited: retrain or restore it"
        ) from None
    step = _metadata_field(path, metadata, "step", int)
    if expected_layout is not None:
        check_layout(path, layout, expected_layout)
    model = build_denoiser(config)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        raise CheckpointError(
            f"checkpoint {path} holds weights that do not fit its own denoiser_config: {error}"
        ) from None
    model.to(device).eval().requires_grad_(False)
    return LoadedCheckpoint(path, model, config, schedule, layout, normalisation, step, version)


def check_layout(path: Path, layout: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
    """Raise :class:`CheckpointError` naming each key of ``expected`` that ``layout`` differs in."""
    problems = []
    for key, want in expected.items():
        want_json = json.loads(json.dumps(want))  # tuples → lists, as stored
        if key not in layout:
            problems.append(
                f"checkpoint {path} records no {key!r} in its layout (it has "
                f"{sorted(layout)}) but {want_json!r} was expected"
            )
        elif layout[key] != want_json:
            problems.append(
                f"checkpoint {path} was trained on {key} {layout[key]!r} but {want_json!r} "
                "was expected"
            )
    if problems:
        raise CheckpointError(
            "; ".join(problems) + ": use a checkpoint trained for this data or train one"
        )


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temporary)`` on a temporary name beside ``path``, then rename it over
    ``path``; on failure the temporary file is removed and ``path`` is untouched."""
    with written_atomically(path) as temporary:
        write(temporary)
        # safetensors creates its files readable by their owner only; a prior is for sharing.
        os.chmod(temporary, 0o644)


def read_safetensors(
    path: Path, what: str, remedy: str
) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """The metadata and the tensors of a safetensors file, on CPU (for the metadata alone,
    without torch: :func:`geoppp.diffusion.metadata.read_metadata`).

    Raises:
        CheckpointError: the file is missing or unreadable; the message names it as ``what``
            (e.g. ``checkpoint``) and ends with ``remedy`` (what to do).
    """
    with opened(path, what, remedy, "pt") as handle:
        metadata = handle.metadata() or {}
        weights = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    return metadata, weights


def _metadata_field(
    path: Path, metadata: Mapping[str, str], key: str, kind: Callable[[str], int]
) -> int:
    try:
        return kind(metadata[key])
    except (KeyError, ValueError):
        raise CheckpointError(
            f"checkpoint {path} has no valid {key!r} in its metadata "
            f"(found {metadata.get(key)!r}); retrain or restore it"
        ) from None
