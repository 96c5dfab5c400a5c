"""Instance files: TSPLIB distance rules on known instances, CSV, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geoppp.errors import GeopppError
from geoppp.tasks.tsp.files import InstanceFileError, read_instance, tsplib_distances
from geoppp.tasks.tsp.instances import tour_lengths
from geoppp.tasks.tsp.reference import reference_tour

ULYSSES16 = [
    (38.24, 20.42), (39.57, 26.15), (40.56, 25.32), (36.26, 23.12), (33.48, 10.54),
    (37.56, 12.19), (38.42, 13.11), (37.52, 20.44), (41.23, 9.10), (41.17, 13.05),
    (36.08, -5.21), (38.47, 15.13), (38.15, 15.35), (37.51, 15.17), (35.49, 14.32),
    (39.36, 19.56),
]  # fmt: skip


def tsplib(path: Path, rule: str, coords: list[tuple[float, float]], dimension: int) -> Path:
    lines = [f"NAME: {path.stem}", "TYPE: TSP", f"DIMENSION: {dimension}"]
    lines += [f"EDGE_WEIGHT_TYPE: {rule}", "NODE_COORD_SECTION"]
    lines += [f"{i + 1} {x} {y}" for i, (x, y) in enumerate(coords)]
    path.write_text("\n".join([*lines, "EOF", ""]))
    return path


def test_geo_rule_gives_the_known_optimum_of_burma14(burma14: Path) -> None:
    instance = read_instance(burma14)
    assert instance.rule == "GEO" and instance.coords.shape == (14, 2)
    # fast-tsp solves up to 20 nodes exactly; TSPLIB's published optimum is 3323.
    tour = reference_tour(instance.distances, 0.1)
    assert float(tour_lengths(instance.distances, tour)) == 3323


def test_geo_rule_gives_the_known_optimum_of_ulysses16(tmp_path: Path) -> None:
    instance = read_instance(tsplib(tmp_path / "ulysses16.tsp", "GEO", ULYSSES16, 16))
    tour = reference_tour(instance.distances, 0.1)
    assert float(tour_lengths(instance.distances, tour)) == 6859


def test_att_euc_and_ceil_rules() -> None:
    # att48's first two cities: sqrt((4501² + 1443²) / 10) = 1494.7, rounded up to 1495.
    att = tsplib_distances(np.array([[6734.0, 1453.0], [2233.0, 10.0]]), "ATT")
    assert att[0, 1] == 1495
    # sqrt(10) = 3.16: 3 (nearest) for EUC_2D, 4 for CEIL_2D; 2.5 rounds to even no more.
    coords = np.array([[0.0, 0.0], [1.0, 3.0], [0.0, 2.6]])
    assert tsplib_distances(coords, "EUC_2D")[0, 1] == 3
    assert tsplib_distances(coords, "CEIL_2D")[0, 1] == 4
    assert tsplib_distances(coords, "EUC_2D")[0, 2] == 3
    assert tsplib_distances(coords, "CEIL_2D")[0, 2] == 3


def test_csv_with_header(tmp_path: Path) -> None:
    path = tmp_path / "points.csv"
    path.write_text("x,y\n0,0\n1,0\n1,1\n0,1\n")
    instance = read_instance(path)
    assert instance.rule == "EUCLIDEAN"
    assert np.isclose(instance.distances[0, 2], np.sqrt(2))


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("few.csv", "0,0\n1,1\n", "at least 3"),
        ("dup.csv", "0,0\n1,1\n2,0\n1,1\n", r"nodes 2, 4 share the point \(1, 1\)"),
        ("bad.csv", "0,0\n1,x\n2,0\n", "line 2"),
        ("three.csv", "0,0,1\n1,1,1\n2,0,1\n", "two finite numbers"),
        ("empty.csv", "\n", "no coordinates"),
        (
            "nocoords.tsp",
            "NAME: x\nTYPE: TSP\nDIMENSION: 3\nEDGE_WEIGHT_TYPE: EUC_2D\nEOF\n",
            "no NODE_COORD_SECTION",
        ),
        (
            "short.tsp",
            "NAME: x\nDIMENSION: 4\nEDGE_WEIGHT_TYPE: EUC_2D\nNODE_COORD_SECTION\n1 0 0\n2 1 1\n"
            "3 2 0\nEOF\n",
            "DIMENSION is 4 but NODE_COORD_SECTION holds 3",
        ),
        (
            "matrix.tsp",
            "NAME: x\nDIMENSION: 3\nEDGE_WEIGHT_TYPE: EXPLICIT\nNODE_COORD_SECTION\n1 0 0\n",
            "EXPLICIT is not supported",
        ),
        (
            "atsp.tsp",
            "NAME: x\nTYPE: ATSP\nDIMENSION: 3\nEDGE_WEIGHT_TYPE: EUC_2D\nNODE_COORD_SECTION\n",
            "ATSP is not supported",
        ),
        (
            "two.tsp",
            "NAME: x\nDIMENSION: 2\nEDGE_WEIGHT_TYPE: EUC_2D\nNODE_COORD_SECTION\n1 0 0\n2 1 1\n",
            "at least 3",
        ),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InstanceFileError, match=message) as raised:
        read_instance(path)
    assert str(path) in str(raised.value)
    assert isinstance(raised.value, GeopppError) and isinstance(raised.value, ValueError)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InstanceFileError, match="no such file"):
        read_instance(tmp_path / "absent.csv")
