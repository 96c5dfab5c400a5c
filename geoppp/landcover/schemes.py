"""Class schemes as data: values, names and colours of the classes of a map.

Built-in schemes (``enviroatlas-5``, ``chesapeake-4``) are YAML files shipped in
``geoppp/landcover/data/schemes``; a region may also define its own inline.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
SCHEMES = resources.files("geoppp.landcover") / "data" / "schemes"


class ClassConfig(BaseModel):
    """One land-cover class."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: int = Field(ge=1, le=254, description="Pixel value of the class in output maps.")
    name: str = Field(min_length=1)
    colour: str = Field(description="Display colour, `#rrggbb`.")
    enviroatlas: list[int] = Field(
        default_factory=list,
        description="EnviroAtlas classes (0-10) folded into this class, for co-occurrence "
        "tables of P(EnviroAtlas class | NLCD).",
    )
    chesapeake: list[int] = Field(
        default_factory=list, description="Chesapeake Land Cover codes of this class."
    )

    @field_validator("colour")
    @classmethod
    def _hex(cls, colour: str) -> str:
        if not HEX_COLOUR.match(colour):
            raise ValueError(f"a colour is written #rrggbb, e.g. #1f78b4, not {colour!r}")
        return colour.lower()

    @property
    def rgb(self) -> tuple[int, int, int]:
        return int(self.colour[1:3], 16), int(self.colour[3:5], 16), int(self.colour[5:7], 16)


class ClassSchemeConfig(BaseModel):
    """The classes of the maps geoppp makes for a region."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, description="Name of the scheme.")
    nodata: int = Field(0, ge=0, le=255, description="Value of nodata pixels in class maps.")
    classes: list[ClassConfig] = Field(min_length=2)

    @model_validator(mode="after")
    def _unique(self) -> ClassSchemeConfig:
        values = [str(item.value) for item in self.classes]
        names = [item.name for item in self.classes]
        for label, items in (("value", values), ("name", names)):
            repeated = sorted({x for x in items if items.count(x) > 1})
            if repeated:
                raise ValueError(f"class {label}s must be unique; repeated: {repeated}")
        if str(self.nodata) in values:
            raise ValueError(f"nodata {self.nodata} is also the value of a class")
        return self

    @property
    def names(self) -> list[str]:
        return [item.name for item in self.classes]


def builtin_schemes() -> list[str]:
    """Names of the schemes shipped with geoppp."""
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in SCHEMES.iterdir()
        if entry.name.endswith(".yaml")
    )


def load_scheme(name: str) -> ClassSchemeConfig:
    """A built-in scheme by name; raises ``ValueError`` naming the known ones."""
    if name not in builtin_schemes():
        raise ValueError(f"unknown class scheme {name!r}; built-in schemes: {builtin_schemes()}")
    document: Any = yaml.safe_load((SCHEMES / f"{name}.yaml").read_text())
    return ClassSchemeConfig.model_validate(document)
