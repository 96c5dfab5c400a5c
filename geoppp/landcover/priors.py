"""Priors and label statistics shipped inside the package (``geoppp/landcover/data``), found
by name.

Each was made by a pipeline in ``pipelines/`` (its recipe) and is small enough to ship.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from geoppp.errors import CheckpointError, ConfigError

PRIORS = resources.files("geoppp.landcover") / "data" / "priors"
STATISTICS = resources.files("geoppp.landcover") / "data" / "statistics"


def shipped_priors() -> list[str]:
    """Names of the priors shipped with geoppp."""
    return _names(PRIORS, ".safetensors")


def prior_path(name_or_path: str | Path) -> Path:
    """A checkpoint file: ``name_or_path`` itself if it exists, else a shipped prior's file.

    Raises:
        CheckpointError: neither a file nor a shipped prior (the message lists them).
    """
    found = _find(name_or_path, PRIORS, ".safetensors")
    if found is None:
        raise CheckpointError(
            f"{name_or_path} is neither a checkpoint file nor a shipped prior "
            f"({', '.join(shipped_priors()) or 'none shipped'})"
        )
    return found


def shipped_statistics() -> list[str]:
    """Names of the label statistics shipped with geoppp."""
    return _names(STATISTICS, ".json")


def statistics_path(name_or_path: str | Path) -> Path:
    """A label-statistics file: ``name_or_path`` itself if it exists, else a shipped one's.

    Raises:
        ConfigError: neither a file nor shipped statistics (the message lists them).
    """
    found = _find(name_or_path, STATISTICS, ".json")
    if found is None:
        raise ConfigError(
            f"{name_or_path} is neither a label-statistics file nor shipped statistics "
            f"({', '.join(shipped_statistics()) or 'none shipped'})"
        )
    return found


def _names(folder: Traversable, suffix: str) -> list[str]:
    return sorted(e.name.removesuffix(suffix) for e in folder.iterdir() if e.name.endswith(suffix))


def _find(name_or_path: str | Path, folder: Traversable, suffix: str) -> Path | None:
    path = Path(name_or_path)
    if path.is_file():
        return path
    if str(name_or_path) in _names(folder, suffix):
        return Path(str(folder / f"{name_or_path}{suffix}"))
    return None
