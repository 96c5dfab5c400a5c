"""TSP instances from files: a CSV of coordinates, or a TSPLIB ``.tsp`` file with
EUC_2D, CEIL_2D, GEO or ATT distances (TSPLIB 95, Reinelt 1991, § 2).

Hand-written: the TSPLIB parser on PyPI (``tsplib95``) is unmaintained since 2020 and the
node-coordinate subset needed here is a page of code.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geoppp.errors import GeopppError
from geoppp.tasks.tsp.instances import euclidean_distances

DISTANCE_RULES = ("EUC_2D", "CEIL_2D", "GEO", "ATT")
EARTH_RADIUS_KM = 6378.388  # the TSPLIB sphere
TSPLIB_PI = 3.141592  # TSPLIB's GEO rule fixes π to this precision


class InstanceFileError(GeopppError, ValueError):
    """A CSV or TSPLIB file does not describe a usable TSP instance."""


@dataclass(frozen=True)
class Instance:
    """One TSP instance: its coordinates and the distances its file prescribes."""

    name: str
    coords: np.ndarray
    """(N, 2) float64, as in the file (GEO: latitude, longitude in DDD.MM)."""
    distances: np.ndarray
    """(N, N) float64, by ``rule``."""
    rule: str
    """``EUC_2D``, ``CEIL_2D``, ``GEO``, ``ATT``, or ``EUCLIDEAN`` (exact, for CSV files)."""


def tsplib_distances(coords: np.ndarray, rule: str) -> np.ndarray:
    """(N, N) float64 distances of (N, 2) coordinates by a TSPLIB rule (integers, as floats)."""
    if rule == "EUC_2D":
        return np.rint(euclidean_distances(coords))
    if rule == "CEIL_2D":
        return np.ceil(euclidean_distances(coords))
    if rule == "ATT":
        pseudo = np.sqrt((euclidean_distances(coords) ** 2) / 10.0)
        rounded = np.rint(pseudo)
        return np.where(rounded < pseudo, rounded + 1, rounded)
    if rule == "GEO":
        degrees = np.trunc(coords)  # DDD.MM: whole degrees, then minutes as hundredths
        radians = TSPLIB_PI * (degrees + 5.0 * (coords - degrees) / 3.0) / 180.0
        latitude, longitude = radians[:, 0], radians[:, 1]
        q1 = np.cos(longitude[:, None] - longitude[None, :])
        q2 = np.cos(latitude[:, None] - latitude[None, :])
        q3 = np.cos(latitude[:, None] + latitude[None, :])
        inner = np.clip(0.5 * ((1.0 + q1) * q2 - (1.0 - q1) * q3), -1.0, 1.0)
        distances = np.trunc(EARTH_RADIUS_KM * np.arccos(inner) + 1.0)
        np.fill_diagonal(distances, 0.0)
        return distances
    raise ValueError(f"unknown TSPLIB distance rule {rule!r}; known: {DISTANCE_RULES}")


def read_instance(path: Path) -> Instance:
    """An instance from a TSPLIB file (by its ``.tsp`` suffix or a ``NODE_COORD_SECTION``)
    or a CSV file of ``x,y`` rows (a header row is allowed).

    Raises:
        InstanceFileError: the file is missing, has no or malformed coordinates, fewer than
            3 nodes, duplicate points, or an unsupported TSPLIB distance rule.
    """
    path = Path(path)
    if not path.is_file():
        raise InstanceFileError(f"{path}: no such file; give a CSV of x,y rows or a TSPLIB .tsp")
    text = path.read_text(errors="replace")
    if path.suffix.lower() == ".tsp" or "NODE_COORD_SECTION" in text:
        instance = _parse_tsplib(path, text)
    else:
        coords = _parse_csv(path, text)
        instance = Instance(path.stem, coords, euclidean_distances(coords), "EUCLIDEAN")
    _check_points(path, instance.coords)
    return instance


def _parse_csv(path: Path, text: str) -> np.ndarray:
    rows = [row for row in csv.reader(text.splitlines()) if any(cell.strip() for cell in row)]
    points = []
    for number, row in enumerate(rows, start=1):
        try:
            values = [float(cell) for cell in row]
        except ValueError:
            if number == 1:  # a header
                continue
            raise InstanceFileError(
                f"{path}: line {number}: expected two numbers x,y, found {','.join(row)!r}"
            ) from None
        if len(values) != 2 or not all(math.isfinite(v) for v in values):
            raise InstanceFileError(
                f"{path}: line {number}: expected two finite numbers x,y, found {','.join(row)!r}"
            )
        points.append(values)
    if not points:
        raise InstanceFileError(f"{path}: no coordinates found; write one x,y row per node")
    return np.asarray(points, dtype=np.float64)


def _parse_tsplib(path: Path, text: str) -> Instance:
    header: dict[str, str] = {}
    lines = text.splitlines()
    start = None
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("NODE_COORD_SECTION"):
            start = index + 1
            break
        if ":" in stripped:
            key, value = stripped.split(":", 1)
            header[key.strip().upper()] = value.strip()
    name = header.get("NAME", path.stem)
    kind = header.get("TYPE", "TSP").split()[0].upper() if header.get("TYPE") else "TSP"
    if kind != "TSP":
        raise InstanceFileError(
            f"{path}: TYPE {kind} is not supported; only symmetric TSP files (TYPE: TSP)"
        )
    rule = header.get("EDGE_WEIGHT_TYPE", "").upper()
    if rule not in DISTANCE_RULES:
        raise InstanceFileError(
            f"{path}: EDGE_WEIGHT_TYPE {rule or '(missing)'} is not supported; expected one "
            f"of {', '.join(DISTANCE_RULES)}"
        )
    if start is None:
        raise InstanceFileError(
            f"{path}: no NODE_COORD_SECTION, so no coordinates; geoppp reads TSPLIB files "
            "with node coordinates (not explicit edge-weight matrices)"
        )
    try:
        dimension = int(header["DIMENSION"])
    except (KeyError, ValueError):
        raise InstanceFileError(
            f"{path}: DIMENSION is missing or not an integer ({header.get('DIMENSION')!r})"
        ) from None
    coords = []
    for number, line in enumerate(lines[start:], start=start + 1):
        fields = line.split()
        if not fields or fields[0] == "EOF":
            break
        if len(fields) != 3:
            raise InstanceFileError(
                f"{path}: line {number}: expected 'index x y' in NODE_COORD_SECTION, found "
                f"{line.strip()!r}"
            )
        try:
            coords.append([float(fields[1]), float(fields[2])])
        except ValueError:
            raise InstanceFileError(
                f"{path}: line {number}: coordinates must be numbers, found {line.strip()!r}"
            ) from None
        if len(coords) == dimension:
            break
    if len(coords) != dimension:
        raise InstanceFileError(
            f"{path}: DIMENSION is {dimension} but NODE_COORD_SECTION holds {len(coords)} "
            "coordinates; the file is truncated or DIMENSION is wrong"
        )
    points = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    return Instance(name, points, tsplib_distances(points, rule), rule)


def _check_points(path: Path, coords: np.ndarray) -> None:
    if len(coords) < 3:
        raise InstanceFileError(
            f"{path}: {len(coords)} node(s); a tour needs at least 3 distinct points"
        )
    unique, counts = np.unique(coords, axis=0, return_counts=True)
    if len(unique) < len(coords):
        repeated = unique[counts > 1][0]
        rows = np.flatnonzero((coords == repeated).all(1)) + 1
        raise InstanceFileError(
            f"{path}: nodes {', '.join(map(str, rows))} share the point "
            f"({repeated[0]:g}, {repeated[1]:g}); remove duplicates (a tour visits each "
            "point once)"
        )
