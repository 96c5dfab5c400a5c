"""The digits task's settings and shipped files: no torch behind them, so that the command
line is built (``geoppp --help``) without loading torch."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Method = Literal["geoppp", "unconditional", "constraint_only"]


METHODS: tuple[Method, ...] = ("geoppp", "unconditional", "constraint_only")


Known = Literal["top", "bottom", "left", "right"]


class DigitConstraintsConfig(BaseModel):
    """Which constraints steer generation, and their weights w_c. Frozen; refuses unknown keys.

    Any combination may be asked for; each weight multiplies that constraint's log c (the
    optimiser also multiplies all of them by λ_i = (N - i)/N).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    digit: int | None = Field(None, ge=0, le=9, description="Target class, or null for none.")
    symmetric: bool = Field(False, description="Ask for left-right (vertical-axis) symmetry.")
    inpaint: Known | None = Field(
        None, description="Which half of a given image is known and kept (null: none)."
    )
    class_weight: float = Field(0.01, ge=0, description="w of log p(digit | x) (reference 0.01).")
    symmetry_weight: float = Field(0.001, ge=0, description="w of -Σ (x - mirror(x))².")
    inpainting_weight: float = Field(0.01, ge=0, description="w of -Σ known (x - image)².")

    @model_validator(mode="after")
    def _something(self) -> DigitConstraintsConfig:
        if self.digit is None and not self.symmetric and self.inpaint is None:
            raise ValueError("no constraint asked for: set digit, symmetric or inpaint")
        return self

    def describe(self) -> str:
        parts = [f"digit {self.digit}"] if self.digit is not None else []
        parts += ["symmetric"] if self.symmetric else []
        parts += [f"inpaint {self.inpaint}"] if self.inpaint is not None else []
        return " + ".join(parts)


SHIPPED = Path(__file__).parent / "data"
"""The shipped prior (``prior.safetensors``) and classifiers (``constraint``, ``judge``)."""


class ConstraintsFile(BaseModel):
    """A YAML file for ``--constraints``: the constraints and their weights."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    constraints: DigitConstraintsConfig
