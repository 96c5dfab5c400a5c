"""Class schemes as data: the built-in schemes, their EnviroAtlas folding, and region YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from geoppp.config import load_region
from geoppp.errors import ConfigError
from geoppp.landcover.schemes import ClassSchemeConfig, builtin_schemes, load_scheme
from tests.rasters import random_image, write_raster

ENVIROATLAS_CLASSES = range(1, 11)  # 0 is "unclassified" and belongs to no class
CHESAPEAKE_CODES = range(1, 7)  # 15 is "no data"


def region_with_classes(folder: Path, classes: Any) -> Path:
    write_raster(folder / "imagery.tif", random_image(8, 8))
    document = {
        "name": "schemes",
        "imagery": {"paths": ["imagery.tif"], "bands": [1, 2, 3, 4]},
        "classes": classes,
        "weak_labels": [],
    }
    path = folder / "region.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_both_built_in_schemes_are_listed() -> None:
    assert builtin_schemes() == ["chesapeake-4", "enviroatlas-5"]


def test_enviroatlas_5_has_the_five_classes_with_values_1_to_5() -> None:
    scheme = load_scheme("enviroatlas-5")

    assert scheme.name == "enviroatlas-5"
    assert scheme.nodata == 0
    assert scheme.names == ["water", "impervious", "barren", "trees", "grass"]
    assert [item.value for item in scheme.classes] == [1, 2, 3, 4, 5]
    assert scheme.classes[0].rgb == (0x00, 0xC5, 0xFF)


def test_chesapeake_4_has_four_classes_and_folds_every_chesapeake_code_once() -> None:
    scheme = load_scheme("chesapeake-4")

    assert scheme.names == ["water", "forest", "field", "impervious"]
    assert [item.value for item in scheme.classes] == [1, 2, 3, 4]
    codes = sorted(code for item in scheme.classes for code in item.chesapeake)
    assert codes == list(CHESAPEAKE_CODES)


@pytest.mark.parametrize("name", ["enviroatlas-5", "chesapeake-4"])
def test_every_enviroatlas_class_is_folded_into_exactly_one_class(name: str) -> None:
    scheme = load_scheme(name)

    for enviroatlas in ENVIROATLAS_CLASSES:
        holders = [item.name for item in scheme.classes if enviroatlas in item.enviroatlas]
        assert len(holders) == 1, f"EnviroAtlas class {enviroatlas} is in {holders} of {name}"
    folded = [code for item in scheme.classes for code in item.enviroatlas]
    assert sorted(folded) == list(ENVIROATLAS_CLASSES)  # no unclassified (0), nothing else


def test_an_unknown_scheme_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="enviroatlas-7") as error:
        load_scheme("enviroatlas-7")

    assert "chesapeake-4" in str(error.value)
    assert "enviroatlas-5" in str(error.value)


def test_a_scheme_refuses_bad_colours_repeated_values_and_nodata_as_a_class() -> None:
    water = {"value": 1, "name": "water", "colour": "#0000FF"}
    land = {"value": 2, "name": "land", "colour": "#00ff00"}

    scheme = ClassSchemeConfig.model_validate({"classes": [water, land]})
    assert scheme.classes[0].colour == "#0000ff"
    assert scheme.classes[0].rgb == (0, 0, 255)

    with pytest.raises(ValidationError, match="#rrggbb"):
        ClassSchemeConfig.model_validate({"classes": [{**water, "colour": "blue"}, land]})
    with pytest.raises(ValidationError, match=r"repeated: \['1'\]"):
        ClassSchemeConfig.model_validate({"classes": [water, {**land, "value": 1}]})
    with pytest.raises(ValidationError, match="nodata 2"):
        ClassSchemeConfig.model_validate({"nodata": 2, "classes": [water, land]})


def test_a_region_may_name_a_built_in_scheme(tmp_path: Path) -> None:
    region = load_region(region_with_classes(tmp_path, "enviroatlas-5"))

    assert region.classes == load_scheme("enviroatlas-5")
    assert region.classes.names == ["water", "impervious", "barren", "trees", "grass"]


def test_a_region_naming_an_unknown_scheme_is_a_config_error_on_classes(tmp_path: Path) -> None:
    path = region_with_classes(tmp_path, "enviroatlas-7")

    with pytest.raises(ConfigError) as error:
        load_region(path)

    message = str(error.value)
    assert str(path) in message
    assert "`classes`" in message
    assert "enviroatlas-7" in message
    assert "enviroatlas-5" in message  # the known schemes, as the fix
