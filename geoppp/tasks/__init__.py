"""The paper's bundled reference tasks (digits, travelling salesman), each a package that uses
`geoppp.diffusion` and knows nothing about maps.

A task's pipelines are YAML files whose top-level `task:` names the task; each task package
offers a :class:`TaskPipeline` that validates and runs them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import BaseModel


@dataclass(frozen=True)
class TaskPipeline:
    """How the step runner checks and runs one task's pipeline YAML.

    Attributes:
        model: the pydantic model of the YAML (for the generated YAML reference).
        check: validates the YAML at a path and every file it names, without running;
            returns human-readable lines, raises :class:`geoppp.errors.ConfigError`.
        run: runs the YAML at a path; ``overwrite`` allows replacing existing outputs,
            ``progress`` shows progress bars, ``log`` receives one line per event.
    """

    model: type[BaseModel]
    check: Callable[[Path, bool], list[str]]
    run: Callable[[Path, bool, bool, Callable[[str], None]], None]
