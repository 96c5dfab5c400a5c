"""A town: a street grid of blocks built up around a centre, with houses, yards and shops.

Blocks are the rectangles of a rotated grid, ``road_spacing`` across and 2.5 times as long.
The blocks nearest a town centre (with a ragged edge) are built up; the nearest of all are
commercial (large buildings in a parking lot), the others residential: two rows of lots back
to back, each with a yard and maybe a house set back from the street, with a driveway and
perhaps a pool behind it. Streets run along the edges of built-up blocks.

Geometry is in local metres: x east and y south from the map's upper-left corner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
import shapely
from shapely.geometry import MultiLineString, box
from shapely.geometry.base import BaseGeometry

from geoppp.landcover.synthetic.domains import BARREN, GRASS, Domain

STREET_WIDTH = 8.0
"""Width of a town street, metres (two lanes)."""
BLOCK_ASPECT = 2.5
COMMERCIAL_SHARE = 0.15
"""Share of the built-up blocks, those nearest the centre, that are commercial."""


@dataclass(frozen=True)
class Town:
    """The parts of a town, as arrays of shapely geometries in local metres.

    Attributes:
        blocks: (B,) polygons of the built-up blocks, between street centre lines.
        streets: (S,) street centre lines, ``STREET_WIDTH`` wide.
        yards: (Y,) lot polygons; ``yard_classes`` (Y,) uint8 says grass or barren.
        paving: (P,) driveways and parking lots.
        pools: (Q,) swimming pools.
        buildings: (N,) footprints; ``building_heights`` (N,) float, metres.
    """

    blocks: np.ndarray
    streets: np.ndarray
    yards: np.ndarray
    yard_classes: np.ndarray
    paving: np.ndarray
    pools: np.ndarray
    buildings: np.ndarray
    building_heights: np.ndarray


@dataclass
class _Rectangles:
    """Axis-aligned rectangles in a block's frame, (u0, v0, u1, v1) metres, and a value each."""

    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def add(self, u0: float, v0: float, u1: float, v1: float, value: float) -> None:
        self.boxes.append((min(u0, u1), min(v0, v1), max(u0, u1), max(v0, v1)))
        self.values.append(value)


@dataclass(frozen=True)
class _Grid:
    """A street grid rotated by ``angle`` radians about ``origin`` (a street crossing)."""

    origin: np.ndarray
    angle: float
    length: float  # of a block along u, metres
    width: float  # of a block along v, metres

    def to_local(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """(..., 2) local x, y of grid coordinates ``u``, ``v`` (metres)."""
        cos, sin = np.cos(self.angle), np.sin(self.angle)
        return np.stack(
            [self.origin[0] + u * cos - v * sin, self.origin[1] + u * sin + v * cos], axis=-1
        )

    def polygons(self, boxes: list[tuple[float, float, float, float]] | np.ndarray) -> np.ndarray:
        """(N,) polygons of rectangles (N, 4): u0, v0, u1, v1 in grid coordinates."""
        u0, v0, u1, v1 = np.asarray(boxes, dtype=float).reshape(-1, 4).T
        corners = self.to_local(np.stack([u0, u1, u1, u0], -1), np.stack([v0, v0, v1, v1], -1))
        return np.asarray(shapely.polygons(corners), dtype=object).reshape(-1)


def make_town(
    rng: np.random.Generator,
    size: int,
    domain: Domain,
    centre: np.ndarray,
    angle: float,
    water: BaseGeometry,
    keep_clear: BaseGeometry,
) -> Town:
    """Lay out a town on a ``size`` × ``size`` m map.

    Args:
        rng: the random generator to draw from.
        size: width and height of the map, metres.
        domain: street spacing, share of built-up blocks, house and pool rates, yard soil.
        centre: (2,) local x, y of the town centre, metres: a street crossing.
        angle: the grid's rotation, radians (clockwise on the map, as y points south).
        water: water and its banks: blocks that touch it are built up last.
        keep_clear: ground no building may touch (water, arterial roads, their verges).
    """
    grid = _Grid(
        origin=centre,
        angle=angle,
        length=BLOCK_ASPECT * domain.road_spacing,
        width=domain.road_spacing,
    )
    # Block indices whose rectangles may cover the map: the map's corners in grid coordinates.
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], dtype=float) - centre
    cos, sin = np.cos(grid.angle), np.sin(grid.angle)
    u = corners @ np.array([cos, sin])
    v = corners @ np.array([-sin, cos])
    i, j = (
        axis.ravel()
        for axis in np.meshgrid(
            np.arange(np.floor(u.min() / grid.length), np.ceil(u.max() / grid.length)),
            np.arange(np.floor(v.min() / grid.width), np.ceil(v.max() / grid.width)),
            indexing="ij",
        )
    )
    blocks = grid.polygons(
        np.column_stack(
            [i * grid.length, j * grid.width, (i + 1) * grid.length, (j + 1) * grid.width]
        )
    )
    centres = grid.to_local((i + 0.5) * grid.length, (j + 0.5) * grid.width)
    inside = ((centres >= 0) & (centres <= size)).all(axis=1)
    # Built up: nearest the centre, with a ragged edge drawn from a smooth random field.
    score = -np.hypot(*(centres - centre).T) / size + 0.12 * _wavy(rng, centres, 3 * grid.length)
    score[shapely.intersects(blocks, water)] -= 1.0  # a map too small to avoid water builds there
    score[~shapely.intersects(blocks, box(0, 0, size, size))] = -np.inf
    count = max(1, round(domain.town_fraction * inside.sum()))
    built = np.argsort(-score, kind="stable")[:count]
    commercial = set(built[: round(COMMERCIAL_SHARE * count)].tolist())

    # A driveway's or a pool's value is the index of its house; a parking lot's is -1.
    yards, paving, pools, buildings = _Rectangles(), _Rectangles(), _Rectangles(), _Rectangles()
    for block in built:
        u0, v0 = i[block] * grid.length, j[block] * grid.width
        if block in commercial:
            _commercial(rng, grid, u0, v0, paving, buildings)
        else:
            _residential(rng, grid, domain, u0, v0, yards, paving, pools, buildings)
    footprints = grid.polygons(buildings.boxes)
    standing = ~shapely.intersects(footprints, keep_clear)
    paving_kept = [owner < 0 or standing[int(owner)] for owner in paving.values]
    pools_kept = [standing[int(owner)] for owner in pools.values]
    return Town(
        blocks=blocks[built],
        streets=_streets(grid, i[built], j[built]),
        yards=grid.polygons(yards.boxes),
        yard_classes=np.asarray(yards.values, dtype=np.uint8),
        paving=grid.polygons(paving.boxes)[np.asarray(paving_kept, dtype=bool)],
        pools=grid.polygons(pools.boxes)[np.asarray(pools_kept, dtype=bool)],
        buildings=footprints[standing],
        building_heights=np.asarray(buildings.values, dtype=float)[standing],
    )


def _wavy(rng: np.random.Generator, points: np.ndarray, wavelength: float) -> np.ndarray:
    """A smooth random field of unit variance at ``points`` (N, 2): a sum of random waves."""
    waves = 8
    directions = rng.uniform(0, 2 * np.pi, waves)
    phases = rng.uniform(0, 2 * np.pi, waves)
    k = 2 * np.pi / wavelength * np.stack([np.cos(directions), np.sin(directions)], -1)
    return np.asarray(np.cos(points @ k.T + phases).sum(axis=1) * np.sqrt(2 / waves))


def _streets(grid: _Grid, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Centre lines along the edges of the built-up blocks (i, j), merged where they meet."""
    edges: set[tuple[tuple[int, int], tuple[int, int]]] = set()
    for row, column in zip(i.astype(int), j.astype(int), strict=True):
        a, b, c, d = (row, column), (row + 1, column), (row + 1, column + 1), (row, column + 1)
        edges.update({(a, b), (d, c), (a, d), (b, c)})
    if not edges:
        return np.array([], dtype=object)
    nodes = np.array(sorted(edges), dtype=float)  # (E, 2 ends, 2 indices)
    segments = grid.to_local(nodes[..., 0] * grid.length, nodes[..., 1] * grid.width)
    merged = shapely.line_merge(MultiLineString(list(segments)))
    return np.asarray(shapely.get_parts(merged))


def _commercial(
    rng: np.random.Generator,
    grid: _Grid,
    u0: float,
    v0: float,
    paving: _Rectangles,
    buildings: _Rectangles,
) -> None:
    """A parking lot over the whole block with one to three large buildings on it."""
    inset = STREET_WIDTH / 2 + 2
    left, top = u0 + inset, v0 + inset
    right, bottom = u0 + grid.length - inset, v0 + grid.width - inset
    paving.add(left, top, right, bottom, -1)
    count = int(rng.integers(1, 4))
    span = (right - left) / count
    for k in range(count):
        width, depth = span * rng.uniform(0.5, 0.8), (bottom - top) * rng.uniform(0.4, 0.7)
        start = left + k * span + rng.uniform(0, span - width)
        front = top + rng.uniform(0, bottom - top - depth)
        buildings.add(start, front, start + width, front + depth, rng.uniform(6, 18))


def _residential(
    rng: np.random.Generator,
    grid: _Grid,
    domain: Domain,
    u0: float,
    v0: float,
    yards: _Rectangles,
    paving: _Rectangles,
    pools: _Rectangles,
    buildings: _Rectangles,
) -> None:
    """Two rows of lots back to back, facing the two long streets of the block."""
    half = STREET_WIDTH / 2
    left, right = u0 + half, u0 + grid.length - half
    middle = v0 + grid.width / 2
    frontage = rng.uniform(0.2, 0.3, int(grid.length // (0.2 * grid.width)) + 2) * grid.width
    bounds = left + np.concatenate([[0], np.cumsum(frontage)])
    bounds = np.append(bounds[bounds < right - 0.15 * grid.width], right)
    for street, side in ((v0 + half, 1.0), (v0 + grid.width - half, -1.0)):
        room = abs(middle - street)  # street edge to the back of the lot
        for start, end in pairwise(bounds):
            yard = BARREN if rng.random() < domain.barren_fraction else GRASS
            yards.add(start, street, end, middle, yard)
            width = min((end - start) * rng.uniform(0.5, 0.7), end - start - 6)
            setback, depth = rng.uniform(4, 8), rng.uniform(9, 14)
            depth = min(depth, room - setback - 2)
            if rng.random() >= domain.building_density or width < 6 or depth < 6:
                continue
            # The driveway runs down one side of the lot, the house stands beside it.
            if rng.random() < 0.5:
                house, drive = start + 4.5, (start + 1, start + 4)
            else:
                house, drive = end - 4.5 - width, (end - 4, end - 1)
            front, back = street + side * setback, street + side * (setback + depth)
            owner = len(buildings.boxes)
            buildings.add(house, front, house + width, back, rng.uniform(4.5, 8))
            paving.add(drive[0], street, drive[1], front + side * 2, owner)
            if rng.random() < domain.pool_rate and room - setback - depth >= 8:
                centre = house + width / 2
                pools.add(centre - 3.5, back + side * 2, centre + 3.5, back + side * 6, owner)
