"""What a safetensors file (a prior, a segmentation network, a classifier) says about itself,
read from its header without torch: a YAML check (``geoppp validate``) checks a prior's
classes and bands this way, and the model is built only when it runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from safetensors import SafetensorError, safe_open

from geoppp.errors import CheckpointError

FORMAT = "geoppp.diffusion.denoiser"
"""The ``format`` a prior's checkpoint records (see :mod:`geoppp.diffusion.checkpoint`)."""
FORMAT_VERSION = 1
"""The newest checkpoint format version this geoppp reads."""


@contextmanager
def opened(
    path: Path, what: str, remedy: str, framework: Literal["numpy", "pt"] = "numpy"
) -> Iterator[Any]:
    """A safetensors file opened for reading (tensors as ``framework``'s arrays).

    Raises:
        CheckpointError: the file is missing or unreadable; the message names it as ``what``
            (e.g. ``checkpoint``) and ends with ``remedy`` (what to do).
    """
    if not path.is_file():
        raise CheckpointError(f"{what} {path} does not exist; check the path or {remedy}")
    try:
        with safe_open(path, framework=framework, device="cpu") as handle:
            yield handle
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(
            f"{what} {path} is not a readable safetensors file ({error}); it may be "
            f"truncated or not a {what} at all: copy it again or {remedy}"
        ) from None


def read_metadata(path: Path, what: str, remedy: str) -> dict[str, str]:
    """The metadata of a safetensors file, its tensors left unread (see :func:`opened`)."""
    with opened(path, what, remedy) as handle:
        metadata: dict[str, str] = handle.metadata() or {}
        return metadata


def checked_checkpoint_metadata(path: Path, metadata: dict[str, str]) -> int:
    """The format version of a prior's checkpoint metadata, refused unless it is a geoppp
    denoiser checkpoint of a version this geoppp reads."""
    if metadata.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is a safetensors file but not a geoppp denoiser checkpoint (its metadata "
            f"has format {metadata.get('format')!r}, expected {FORMAT!r})"
        )
    try:
        version = int(metadata["format_version"])
    except (KeyError, ValueError):
        raise CheckpointError(
            f"checkpoint {path} has no valid 'format_version' in its metadata "
            f"(found {metadata.get('format_version')!r}); retrain or restore it"
        ) from None
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {version} but this geoppp reads versions "
            f"up to {FORMAT_VERSION}; upgrade geoppp"
        )
    return version


def checkpoint_layout(path: Path) -> dict[str, Any]:
    """The channel layout a prior was trained on (bands, classes, mode, ...), read from its
    checkpoint's metadata without loading the model."""
    metadata = read_metadata(path, "checkpoint", "train a prior to write it")
    checked_checkpoint_metadata(path, metadata)
    try:
        layout: dict[str, Any] = json.loads(metadata["layout"])
    except (KeyError, ValueError) as error:
        raise CheckpointError(
            f"checkpoint {path} has unreadable metadata ({error}); it was not written by "
            "save_checkpoint or was edited: retrain or restore it"
        ) from None
    return layout
