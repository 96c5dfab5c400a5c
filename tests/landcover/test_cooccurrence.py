"""The shipped EnviroAtlas co-occurrence tables, and their folding into a class scheme."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geoppp.landcover.cooccurrence import (
    NLCD_CODES,
    CooccurrenceTable,
    builtin_tables,
    load_table,
    mean_of_builtin_tables,
)
from geoppp.landcover.schemes import ClassSchemeConfig, load_scheme

# The table each CSV was converted from (Rolf et al. 2022), in ../shared/data.
SOURCES = {
    "pittsburgh_pa": "avg_nlcd_pa_whole_city_label_cooccurrences.npy",
    "durham_nc": "avg_nlcd_nc_whole_city_label_cooccurrences.npy",
    "austin_tx": "avg_nlcd_austin_tx_whole_city_no_ag_label_cooccurrences.npy",
    "phoenix_az": "avg_nlcd_az_whole_city_no_ag_label_cooccurrences.npy",
}
FORESTS = (41, 42, 43)
SCHEMES = ["enviroatlas-5", "chesapeake-4"]


def folded_by_hand(probabilities: np.ndarray, scheme: ClassSchemeConfig, code: int) -> np.ndarray:
    """P(class | ``code``) summed over each class's EnviroAtlas classes, renormalised."""
    column = probabilities[:, NLCD_CODES.index(code)]
    folded = np.array([column[item.enviroatlas].sum() for item in scheme.classes])
    return folded / folded.sum()


def as_vector(row: dict[int, float], n_classes: int) -> np.ndarray:
    vector = np.zeros(n_classes)
    for index, probability in row.items():
        vector[index] = probability
    return vector


def test_the_four_cities_ship() -> None:
    assert builtin_tables() == sorted(SOURCES)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_each_table_has_11_classes_by_the_17_nlcd_codes_and_columns_sum_to_one(name: str) -> None:
    table = load_table(name)

    assert table.name == name
    assert table.codes == NLCD_CODES
    assert table.probabilities.shape == (11, 17)
    assert (table.probabilities >= 0).all()
    np.testing.assert_allclose(table.probabilities.sum(axis=0), 1.0, atol=1e-12)


@pytest.mark.realdata
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_each_csv_equals_the_published_table(name: str, shared_data: Path) -> None:
    source = shared_data / "enviroatlas_cooccurrence" / SOURCES[name]
    if not source.is_file():
        pytest.skip(f"{source} is absent")
    published = np.load(source)

    table = load_table(name)

    assert table.probabilities.shape == published.shape
    np.testing.assert_allclose(table.probabilities, published, rtol=1e-15, atol=0)


@pytest.mark.parametrize("scheme_name", SCHEMES)
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_folded_rows_sum_to_one_and_match_a_fold_by_hand(name: str, scheme_name: str) -> None:
    scheme = load_scheme(scheme_name)
    table = load_table(name)

    mapping = table.fold(scheme)

    assert mapping, "nothing was folded"
    for code, row in mapping.items():
        assert sum(row.values()) == pytest.approx(1.0, abs=1e-12), code
        assert set(row) <= set(range(len(scheme.classes)))
        np.testing.assert_allclose(
            as_vector(row, len(scheme.classes)),
            folded_by_hand(table.probabilities, scheme, code),
            atol=1e-12,
        )


def test_the_unclassified_row_is_dropped_before_renormalising(tmp_path: Path) -> None:
    # NLCD 21: 20% unclassified, 40% water, 40% trees → water and trees 50% each.
    path = tmp_path / "city.csv"
    path.write_text("class,name,0,21\n0,unclassified,1,0.2\n1,water,0,0.4\n4,trees_forest,0,0.4\n")
    scheme = load_scheme("enviroatlas-5")

    mapping = load_table(path).fold(scheme)

    assert list(mapping) == [21]  # code 0 (no data) never carries a label
    water, trees = scheme.names.index("water"), scheme.names.index("trees")
    assert mapping[21] == pytest.approx({water: 0.5, trees: 0.5})


def test_codes_a_city_lacks_are_left_out_without_a_fallback() -> None:
    mapping = load_table("phoenix_az").fold(load_scheme("enviroatlas-5"))

    assert not set(FORESTS) & set(mapping)
    assert 12 not in mapping  # no city has perennial ice
    assert {11, 21, 22, 23, 24, 31, 52, 71, 81, 82, 90, 95} <= set(mapping)


def test_a_fallback_fills_the_codes_a_city_lacks_from_the_cities_that_have_them() -> None:
    scheme = load_scheme("enviroatlas-5")
    phoenix = load_table("phoenix_az")
    own = phoenix.fold(scheme)

    mapping = phoenix.fold(scheme, fallback=mean_of_builtin_tables())

    for code in FORESTS:
        having = [load_table(n) for n in ("austin_tx", "durham_nc", "pittsburgh_pa")]
        mean = np.mean([table.probabilities for table in having], axis=0)
        np.testing.assert_allclose(
            as_vector(mapping[code], 5), folded_by_hand(mean, scheme, code), atol=1e-12
        )
        assert sum(mapping[code].values()) == pytest.approx(1.0)
    trees = scheme.names.index("trees")
    assert max(mapping[41], key=mapping[41].__getitem__) == trees
    # The codes Phoenix has keep Phoenix's own values, not the mean's.
    for code, row in own.items():
        assert mapping[code] == row
    assert 12 not in mapping  # nobody has it: still no label


def test_the_mean_table_averages_only_the_cities_that_have_a_code() -> None:
    tables = {name: load_table(name) for name in builtin_tables()}

    mean = mean_of_builtin_tables()

    forest = NLCD_CODES.index(41)
    expected = np.mean(
        [tables[n].probabilities[:, forest] for n in ("austin_tx", "durham_nc", "pittsburgh_pa")],
        axis=0,
    )
    np.testing.assert_allclose(mean.probabilities[:, forest], expected, atol=1e-15)
    assert mean.probabilities[0, forest] == 0  # Phoenix's "all unclassified" is not averaged in
    water = NLCD_CODES.index(11)
    expected = np.mean([table.probabilities[:, water] for table in tables.values()], axis=0)
    np.testing.assert_allclose(mean.probabilities[:, water], expected, atol=1e-15)


def test_folding_into_a_class_without_enviroatlas_classes_is_refused() -> None:
    scheme = ClassSchemeConfig.model_validate(
        {
            "name": "mine",
            "classes": [
                {"value": 1, "name": "water", "colour": "#0000ff", "enviroatlas": [1]},
                {"value": 2, "name": "solar panels", "colour": "#111111"},
            ],
        }
    )

    with pytest.raises(ValueError, match=r"solar panels.*enviroatlas"):
        load_table("durham_nc").fold(scheme)


def test_a_custom_csv_loads_with_its_codes_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "my_city.csv"
    path.write_text(
        "# my own counts\n"
        "class,name,0,11,41\n"
        "0,unclassified,1,0,0\n"
        "1,water,0,0.75,0\n"
        "2,impervious,0,0.25,0.1\n"
        "4,trees_forest,0,0,0.9\n"
    )

    table = load_table(path)

    assert isinstance(table, CooccurrenceTable)
    assert table.name == "my_city"
    assert table.codes == (0, 11, 41)
    assert table.probabilities.shape == (11, 3)  # a row per EnviroAtlas class, 0 if not given
    np.testing.assert_array_equal(table.probabilities[:, 2], [0, 0, 0.1, 0, 0.9, 0, 0, 0, 0, 0, 0])
    mapping = table.fold(load_scheme("chesapeake-4"))
    assert mapping == {11: pytest.approx({0: 0.75, 3: 0.25}), 41: pytest.approx({1: 0.9, 3: 0.1})}


@pytest.mark.parametrize(
    "text",
    [
        "code,label,0,11\n1,water,0,1\n",  # wrong header
        "class,name,0,11\n",  # no rows
        "",  # empty
        "# only a comment\n",
        "class,name,0,11\n1,water,0,lots\n",  # not a number
        "class,name,0,11\n1,water,0\n",  # a value short
        "class,name,0,11\n11,mangroves,0,1\n",  # not an EnviroAtlas class
    ],
    ids=["header", "no-rows", "empty", "comment-only", "not-a-number", "short-row", "class-11"],
)
def test_a_malformed_csv_is_a_value_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)

    with pytest.raises(ValueError):
        load_table(path)


def test_a_name_that_is_neither_built_in_nor_a_file_lists_the_built_in_tables() -> None:
    with pytest.raises(ValueError, match=r"pittsburgh_pa.*nor a CSV file"):
        load_table("pittsburg")
