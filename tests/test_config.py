"""Region and pipeline YAML: loading, path resolution and the errors a user reads."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from geoppp.config import (
    CodeRasterConfig,
    PipelineConfig,
    RegionConfig,
    VectorConfig,
    kind_of,
    load_pipeline,
    load_region,
    read_yaml,
    validate_document,
)
from geoppp.errors import ConfigError, GeopppError
from tests.regions import (
    DEMO_PIPELINE_YAML,
    DEMO_REGION_YAML,
    pipeline_document,
    region_document,
    write_yaml,
)

Document = dict[str, Any]


def changed(document: Document, change: Callable[[Document], object]) -> Document:
    document = copy.deepcopy(document)
    change(document)
    return document


def config_error(path: Path, loader: Callable[[Path], object]) -> str:
    with pytest.raises(ConfigError) as raised:
        loader(path)
    return str(raised.value)


# ---------------------------------------------------------------- valid files


def test_a_valid_region_loads_with_its_values(tmp_path: Path) -> None:
    region = load_region(write_yaml(tmp_path / "region.yaml", region_document()))

    assert isinstance(region, RegionConfig)
    assert region.name == "demo"
    assert region.imagery.paths == [tmp_path / "demo" / "imagery.tif"]
    assert region.imagery.bands == [1, 2, 3, 4]
    assert region.classes.names == ["water", "impervious", "barren", "trees", "grass"]
    assert [c.value for c in region.classes.classes] == [1, 2, 3, 4, 5]
    assert region.classes.classes[0].rgb == (0, 0, 255)
    codes, roads, buildings = region.weak_labels
    assert isinstance(codes, CodeRasterConfig)
    assert codes.path == tmp_path / "demo" / "nlcd.tif"
    assert codes.table[11] == pytest.approx(
        {"water": 0.906, "impervious": 0.022, "barren": 0.008, "trees": 0.054, "grass": 0.011}
    )
    assert isinstance(roads, VectorConfig)
    assert (roads.class_name, roads.buffer) == ("impervious", 4.0)
    assert isinstance(buildings, VectorConfig)
    assert buildings.buffer == 0.0
    assert region.ground_truth is not None
    assert region.ground_truth.path == tmp_path / "demo" / "labels.tif"


def test_a_valid_pipeline_loads_with_defaults(tmp_path: Path) -> None:
    pipeline = load_pipeline(write_yaml(tmp_path / "pipeline.yaml", pipeline_document()))

    assert isinstance(pipeline, PipelineConfig)
    assert pipeline.region == tmp_path / "region.yaml"
    (step,) = pipeline.steps
    assert (step.name, step.kind, step.tile_size, step.halo) == (
        "weak-argmax",
        "weak_argmax",
        64,
        0,
    )
    assert step.outputs.class_map == tmp_path / "out" / "map.tif"
    assert step.outputs.probabilities is None
    assert step.outputs.overwrite is False
    assert pipeline.execution.workers == 2
    assert pipeline.execution.gdal_cache_mb == 64  # a default


def test_the_shipped_demo_region_and_pipeline_are_valid() -> None:
    region = load_region(DEMO_REGION_YAML)
    pipeline = load_pipeline(DEMO_PIPELINE_YAML)

    assert region.imagery.paths == [DEMO_REGION_YAML.parent.parent / "demo-data/target/imagery.tif"]
    assert pipeline.region == DEMO_REGION_YAML
    assert kind_of(DEMO_REGION_YAML) is RegionConfig
    assert kind_of(DEMO_PIPELINE_YAML) is PipelineConfig


@pytest.mark.parametrize(
    "path",
    # Reference tasks' pipelines (a top-level `task:`) are checked by their own tests.
    [p for p in sorted(DEMO_PIPELINE_YAML.parent.glob("*.yaml")) if "task" not in read_yaml(p)],
    ids=lambda path: path.name,
)
def test_every_shipped_pipeline_is_valid(path: Path) -> None:
    pipeline = load_pipeline(path)
    # The Chesapeake regions are written by `geoppp make-chesapeake-regions`, not shipped.
    generated = "chesapeake-data" in pipeline.region.parts
    assert pipeline.steps and (pipeline.region.is_file() or generated)


def test_a_comparison_of_an_unknown_step_is_refused(tmp_path: Path) -> None:
    document = pipeline_document()
    document["steps"].append(
        {
            "name": "compare",
            "kind": "compare",
            "steps": ["weak-argmax", "nope"],
            "outputs": {"report": "out/compare.json"},
        }
    )
    with pytest.raises(ConfigError, match=r"compares \['nope'\]"):
        load_pipeline(write_yaml(tmp_path / "pipeline.yaml", document))


def test_colours_are_stored_in_lower_case(tmp_path: Path) -> None:
    document = changed(
        region_document(), lambda d: d["classes"]["classes"][0].update(colour="#AbCdEf")
    )
    region = load_region(write_yaml(tmp_path / "region.yaml", document))

    assert region.classes.classes[0].colour == "#abcdef"
    assert region.classes.classes[0].rgb == (0xAB, 0xCD, 0xEF)


# ---------------------------------------------------------------- paths


def test_relative_paths_resolve_against_the_yaml_folder_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config" / "nested"
    document = region_document(data="../data")
    document["imagery"]["paths"].append(str(tmp_path / "absolute.tif"))
    region_yaml = write_yaml(config / "region.yaml", document)
    pipeline_yaml = write_yaml(
        config / "pipeline.yaml", pipeline_document(region="region.yaml", class_map="../out/m.tif")
    )
    elsewhere = tmp_path / "elsewhere" / "deeper"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)

    region = load_region(Path("../../config/nested/region.yaml"))
    pipeline = load_pipeline(pipeline_yaml)

    data = (tmp_path / "config" / "data").resolve()
    assert region.imagery.paths == [data / "imagery.tif", tmp_path / "absolute.tif"]
    assert region.weak_labels[0].path == data / "nlcd.tif"
    assert region.weak_labels[1].path == data / "roads.gpkg"
    assert all(path.is_absolute() for path in region.imagery.paths)
    assert pipeline.region == region_yaml.resolve()
    assert pipeline.steps[0].outputs.class_map == (tmp_path / "config" / "out" / "m.tif").resolve()
    assert load_region(pipeline.region) == region


# ---------------------------------------------------------------- unknown keys


@pytest.mark.parametrize(
    ("kind", "change", "field", "suggestion"),
    [
        (
            "pipeline",
            lambda d: d["steps"][0].update(tile_sise=256),
            "steps[0].tile_sise",
            "tile_size",
        ),
        ("pipeline", lambda d: d.update(exectuion={}), "exectuion", "execution"),
        ("pipeline", lambda d: d["execution"].update(wrokers=3), "execution.wrokers", "workers"),
        (
            "pipeline",
            lambda d: d["steps"][0]["outputs"].update(overwite=True),
            "steps[0].outputs.overwite",
            "overwrite",
        ),
        ("region", lambda d: d["imagery"].update(band=[1]), "imagery.band", "bands"),
        ("region", lambda d: d.update(weak_label=[]), "weak_label", "weak_labels"),
        (
            "region",
            lambda d: d["classes"]["classes"][2].update(color="#000000"),
            "classes.classes[2].color",
            "colour",
        ),
        ("region", lambda d: d["weak_labels"][1].update(bufer=2), "weak_labels[1].bufer", "buffer"),
        ("region", lambda d: d["weak_labels"][0].update(bnad=2), "weak_labels[0].bnad", "band"),
    ],
)
def test_unknown_keys_are_refused_with_path_and_suggestion(
    tmp_path: Path,
    kind: str,
    change: Callable[[Document], object],
    field: str,
    suggestion: str,
) -> None:
    document = pipeline_document() if kind == "pipeline" else region_document()
    path = write_yaml(tmp_path / f"{kind}.yaml", changed(document, change))

    message = config_error(path, load_pipeline if kind == "pipeline" else load_region)

    assert str(path) in message
    assert f"`{field}`: unknown key" in message
    assert f"did you mean `{suggestion}`?" in message
    assert "1 problem(s)" in message


def test_an_unknown_key_without_a_close_match_lists_the_allowed_keys(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "p.yaml", {**pipeline_document(), "zzz": 1})

    message = config_error(path, load_pipeline)

    assert "`zzz`: unknown key; expected one of ['execution', 'region', 'steps']" in message
    assert "did you mean" not in message


# ---------------------------------------------------------------- wrong types and values


@pytest.mark.parametrize(
    ("kind", "change", "field", "expected", "found"),
    [
        (
            "pipeline",
            lambda d: d["steps"][0].update(tile_size="big"),
            "steps[0].tile_size",
            "valid integer",
            "'big'",
        ),
        (
            "pipeline",
            lambda d: d["steps"][0].update(halo=-3),
            "steps[0].halo",
            "greater than or equal to 0",
            "-3",
        ),
        (
            "pipeline",
            lambda d: d["steps"][0]["outputs"].update(cog="maybe"),
            "steps[0].outputs.cog",
            "valid boolean",
            "'maybe'",
        ),
        (
            "pipeline",
            lambda d: d["steps"][0]["outputs"].update(overview_resampling="cubic"),
            "steps[0].outputs.overview_resampling",
            "'nearest' or 'mode'",
            "'cubic'",
        ),
        (
            "pipeline",
            lambda d: d["execution"].update(workers=0),
            "execution.workers",
            "greater than or equal to 1",
            "0",
        ),
        (
            "region",
            lambda d: d["imagery"].update(bands=["a"]),
            "imagery.bands[0]",
            "integer",
            "'a'",
        ),
        (
            "region",
            lambda d: d["classes"]["classes"][1].update(colour="blue"),
            "classes.classes[1].colour",
            "#rrggbb",
            "'blue'",
        ),
        (
            "region",
            lambda d: d["classes"]["classes"][0].update(value=300),
            "classes.classes[0].value",
            "less than or equal to 254",
            "300",
        ),
        (
            "region",
            lambda d: d["weak_labels"][1].update(buffer="wide"),
            "weak_labels[1].buffer",
            "valid number",
            "'wide'",
        ),
        (
            "region",
            lambda d: d["imagery"].update(band_names=["red"]),
            "imagery",
            "band_names has 1 names for 4 bands",
            "'band_names': ['red']",
        ),
    ],
)
def test_wrong_types_name_file_field_expectation_and_value(
    tmp_path: Path,
    kind: str,
    change: Callable[[Document], object],
    field: str,
    expected: str,
    found: str,
) -> None:
    document = pipeline_document() if kind == "pipeline" else region_document()
    path = write_yaml(tmp_path / f"{kind}.yaml", changed(document, change))

    message = config_error(path, load_pipeline if kind == "pipeline" else load_region)

    assert message.startswith(f"{path}: 1 problem(s)")
    (line,) = [line for line in message.splitlines() if line.strip().startswith(f"`{field}`")]
    assert expected in line
    assert found in line.split("; found ", 1)[1]


def test_every_problem_of_a_file_is_reported(tmp_path: Path) -> None:
    document = changed(
        pipeline_document(),
        lambda d: (d["steps"][0].update(tile_size="big", tile_sise=3), d.pop("region")),
    )
    path = write_yaml(tmp_path / "p.yaml", document)

    message = config_error(path, load_pipeline)

    assert "3 problem(s)" in message
    assert "`region`: required field is missing" in message
    assert "`steps[0].tile_size`" in message
    assert "`steps[0].tile_sise`: unknown key" in message


@pytest.mark.parametrize(
    ("kind", "change", "field"),
    [
        ("region", lambda d: d.pop("imagery"), "imagery"),
        ("region", lambda d: d["classes"]["classes"][0].pop("name"), "classes.classes[0].name"),
        ("region", lambda d: d["weak_labels"][0].pop("table"), "weak_labels[0].table"),
        ("pipeline", lambda d: d["steps"][0].pop("outputs"), "steps[0].outputs"),
        (
            "pipeline",
            lambda d: d["steps"][0]["outputs"].pop("class_map"),
            "steps[0].outputs.class_map",
        ),
    ],
)
def test_a_missing_required_field_is_named(
    tmp_path: Path, kind: str, change: Callable[[Document], object], field: str
) -> None:
    document = pipeline_document() if kind == "pipeline" else region_document()
    path = write_yaml(tmp_path / f"{kind}.yaml", changed(document, change))

    message = config_error(path, load_pipeline if kind == "pipeline" else load_region)

    assert str(path) in message
    assert f"`{field}`: required field is missing" in message


def test_an_unknown_step_kind_lists_the_known_ones(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "p.yaml", pipeline_document(kind="diffusion"))

    message = config_error(path, load_pipeline)

    assert "`steps[0]`" in message
    assert "'diffusion'" in message
    assert "'weak_argmax'" in message


# ---------------------------------------------------------------- files that are not configs


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "region.yaml"
    path.write_text("name: demo\nimagery: {paths: [a.tif]\nclasses: 1\n")

    message = config_error(path, load_region)

    assert message.startswith(f"{path}: line 3, column 1: not valid YAML")


def test_yaml_with_a_mapping_value_in_the_wrong_place_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text("region: region.yaml\nsteps: name: x\nexecution: {}\n")

    message = config_error(path, load_pipeline)

    assert f"{path}: line 2, column" in message
    assert "not valid YAML" in message


@pytest.mark.parametrize(
    ("text", "found"), [("- a\n- b\n", "list"), ("42\n", "int"), ("", "NoneType")]
)
def test_a_yaml_that_is_not_a_mapping_is_refused(tmp_path: Path, text: str, found: str) -> None:
    path = tmp_path / "region.yaml"
    path.write_text(text)

    message = config_error(path, load_region)

    assert message == f"{path}: expected a mapping of keys at the top, found {found}"


def test_a_missing_yaml_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "region.yaml"

    message = config_error(path, load_region)

    assert message == f"{path}: no such file"
    with pytest.raises(ConfigError, match="no such file"):
        kind_of(path)


# ---------------------------------------------------------------- consistency checks


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["classes"]["classes"][1].update(value=1),
            "class values must be unique; repeated: ['1']",
        ),
        (
            lambda d: d["classes"]["classes"][3].update(name="grass"),
            "class names must be unique; repeated: ['grass']",
        ),
        (lambda d: d["classes"].update(nodata=3), "nodata 3 is also the value of a class"),
        (lambda d: d["classes"].update(classes=d["classes"]["classes"][:1]), "at least 2 items"),
    ],
)
def test_the_class_scheme_is_checked(
    tmp_path: Path, change: Callable[[Document], object], expected: str
) -> None:
    path = write_yaml(tmp_path / "region.yaml", changed(region_document(), change))

    message = config_error(path, load_region)

    assert str(path) in message
    assert "`classes`" in message or "`classes.classes`" in message
    assert expected in message


@pytest.mark.parametrize(
    ("change", "source"),
    [
        (lambda d: d["weak_labels"][0]["table"].update({90: "wetland"}), "nlcd.tif"),
        (
            lambda d: d["weak_labels"][0]["table"].update({90: {"trees": 0.5, "wetland": 0.5}}),
            "nlcd.tif",
        ),
        (lambda d: d["weak_labels"][2].update({"class": "wetland"}), "buildings.gpkg"),
    ],
)
def test_a_weak_label_source_naming_an_unknown_class_is_refused(
    tmp_path: Path, change: Callable[[Document], object], source: str
) -> None:
    path = write_yaml(tmp_path / "region.yaml", changed(region_document(), change))

    message = config_error(path, load_region)

    assert str(path) in message
    assert f"weak label source {source} names class(es) ['wetland']" in message
    assert "not in the class scheme" in message


def test_step_names_must_be_unique(tmp_path: Path) -> None:
    document = pipeline_document()
    document["steps"].append({**document["steps"][0], "outputs": {"class_map": "other.tif"}})
    path = write_yaml(tmp_path / "p.yaml", document)

    message = config_error(path, load_pipeline)

    assert "step names must be unique; repeated: ['weak-argmax']" in message


def test_config_error_is_a_value_error_and_a_geoppp_error(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "p.yaml", pipeline_document(tile_size="big"))

    with pytest.raises(ValueError) as raised:
        load_pipeline(path)

    assert isinstance(raised.value, ConfigError)
    assert isinstance(raised.value, GeopppError)
    assert issubclass(ConfigError, ValueError)


def test_an_unknown_key_in_an_optional_section_lists_the_section_s_keys(tmp_path: Path) -> None:
    document = {
        "region": "region.yaml",
        "steps": [
            {
                "name": "weak",
                "kind": "weak_argmax",
                "colour_refinement": {"iteration": 3},
                "outputs": {"class_map": "out/map.tif"},
            }
        ],
    }
    with pytest.raises(ConfigError) as error:
        validate_document(document, PipelineConfig, tmp_path, "p.yaml")
    message = str(error.value)
    assert "`steps[0].colour_refinement.iteration`: unknown key" in message
    assert "'iterations'" in message and "did you mean `iterations`?" in message
