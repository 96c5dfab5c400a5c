"""The ground of a synthetic region: a 1 m class map and the vector layers drawn into it.

Everything but tree canopy is built as vector geometry in local metres (x east and y south
from the upper-left corner, one unit per 1 m pixel), moved to map coordinates and rasterised
with the region's real transform, so the vector layers and the class map agree pixel for
pixel. Later layers cover earlier ones: fields and yards, canopy and street trees (on open
ground only), driveways and parking, pools, buildings, water, roads (bridges cross water).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine
from rasterio.features import rasterize
from shapely.geometry import LineString, Polygon, box
from shapely.geometry.base import BaseGeometry

from geoppp.landcover.synthetic.domains import BARREN, GRASS, IMPERVIOUS, TREES, WATER, Domain
from geoppp.landcover.synthetic.noise import smooth_noise
from geoppp.landcover.synthetic.town import STREET_WIDTH, make_town

ARTERIAL_WIDTH = 12.0
"""Width of the two roads that cross the whole map, metres (four lanes)."""
RIPARIAN_WIDTH = 25.0
"""Trees favour the banks of water out to this distance, metres."""
_MARGIN = 50.0  # lines start and end this far outside the map, metres


@dataclass(frozen=True)
class Layout:
    """What is on the ground of a synthetic region.

    Attributes:
        labels: (H, W) uint8 class values (1 water ... 5 grass).
        heights: (H, W) float32 height above ground of trees and buildings, metres.
        objects: (H, W) int32 id of the field, yard, lot, roof or pool a pixel belongs to
            (0: none), so that each object can get its own shade.
        roads: centre lines with ``kind`` (street or arterial) and ``width`` (metres).
        buildings: footprints with ``height`` (metres).
        water: stream and pond polygons with ``kind`` (stream or pond).
    """

    labels: np.ndarray
    heights: np.ndarray
    objects: np.ndarray
    roads: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    water: gpd.GeoDataFrame


_STREET_TREE, _WATER, _ROAD = 1, 2, 3  # codes of the line-and-disc overlay, bottom to top


def make_layout(domain: Domain, size: int, transform: Affine, rng: np.random.Generator) -> Layout:
    """Lay out a ``size`` × ``size`` m region of ``domain`` on a 1 m grid.

    Args:
        domain: what the ground holds (street spacing, tree cover, water, soil).
        size: width and height, pixels of 1 m.
        transform: the grid's affine transform (1 m pixels, north up) in ``domain.crs``.
        rng: the random generator to draw from.
    """
    shape = (size, size)
    centre = rng.uniform(0.3, 0.7, 2) * size
    angle = rng.uniform(-0.2, 0.2)  # of the town's street grid
    stream = _winding_line(
        rng,
        size,
        domain.curviness,
        heading=rng.choice([0.0, np.pi / 2]) + rng.uniform(-0.35, 0.35),
        through=rng.uniform(0.15, 0.85, 2) * size,
    ).buffer(domain.stream_width / 2)
    # The arterials are the town's two main streets: they set out along the grid through
    # its centre, and wind away from it as much as the land makes roads wind.
    arterials = [
        _winding_line(rng, size, domain.curviness / 3, heading=angle + turn, through=centre)
        for turn in (0.0, np.pi / 2)
    ]
    corridor = shapely.union_all([line.buffer(ARTERIAL_WIDTH / 2 + 2) for line in arterials])
    stream_banks = stream.buffer(10)
    town = make_town(rng, size, domain, centre, angle, stream_banks, stream_banks | corridor)
    ponds = _ponds(rng, size, domain, shapely.union_all([*town.blocks, stream, corridor]))
    fields, field_classes = _fields(rng, size, domain)
    street_trees = _street_trees(rng, town.streets, domain)
    water = [stream, *ponds]
    roads = [*town.streets, *arterials]
    road_widths = [STREET_WIDTH] * len(town.streets) + [ARTERIAL_WIDTH] * len(arterials)

    def burn(shapes: list[tuple[BaseGeometry, float]], fill: float, dtype: str) -> np.ndarray:
        if not shapes:
            return np.full(shape, fill, dtype=dtype)
        geometries, values = zip(*shapes, strict=True)
        moved = _to_map(np.asarray(geometries, dtype=object), transform)
        return rasterize(
            zip(moved, values, strict=True),
            out_shape=shape,
            transform=transform,
            fill=fill,
            dtype=dtype,
        )

    # One raster of objects (fields and yards, then driveways and parking, pools, buildings)
    # gives the open ground's class, what is built on it and the buildings' heights.
    open_ground = [*fields, *town.yards]
    built = [*town.paving, *town.pools, *town.buildings]
    object_class = np.array(
        [GRASS, *field_classes, *town.yard_classes]
        + [IMPERVIOUS] * len(town.paving)
        + [WATER] * len(town.pools)
        + [IMPERVIOUS] * len(town.buildings),
        dtype=np.uint8,
    )
    object_height = np.zeros(len(object_class), dtype=np.float32)
    object_height[len(object_class) - len(town.buildings) :] = town.building_heights
    objects = burn([(patch, k + 1) for k, patch in enumerate([*open_ground, *built])], 0, "int32")
    is_open = objects <= len(open_ground)

    built_up = burn([(block, 1) for block in town.blocks], 0, "uint8").astype(bool)
    banks = burn([(area.buffer(RIPARIAN_WIDTH), 1) for area in water], 0, "uint8").astype(bool)
    canopy, trees = _canopy(rng, shape, domain, built_up, banks)
    overlay = burn(
        [
            *((tree, _STREET_TREE) for tree in street_trees),
            *((area, _WATER) for area in water),
            *(
                (road.buffer(width / 2), _ROAD)
                for road, width in zip(roads, road_widths, strict=True)
            ),
        ],
        0,
        "uint8",
    )
    # Canopy and street trees grow on open ground only; water and roads (bridges) lie on top.
    labels = object_class[objects]
    labels[is_open & (trees | (overlay == _STREET_TREE))] = TREES
    labels[overlay == _WATER] = WATER
    labels[overlay == _ROAD] = IMPERVIOUS

    # Trees taller where the canopy field is strongest (inside stands, not at their edges).
    tree_heights = domain.tree_height * np.clip(1.0 + 0.25 * canopy, 0.5, 1.3)
    heights = np.where(labels == TREES, tree_heights, object_height[objects] * (overlay == 0))
    objects[(labels == TREES) | (overlay > 0)] = 0

    frame = box(0, 0, size, size)
    return Layout(
        labels=labels,
        heights=heights.astype(np.float32),
        objects=objects,
        roads=_frame(
            roads,
            transform,
            domain,
            frame,
            kind=["street"] * len(town.streets) + ["arterial"] * len(arterials),
            width=road_widths,
        ),
        buildings=_frame(
            list(town.buildings), transform, domain, frame, height=town.building_heights
        ),
        water=_frame(water, transform, domain, frame, kind=["stream"] + ["pond"] * len(ponds)),
    )


def _to_map(geometries: np.ndarray, transform: Affine) -> np.ndarray:
    """``geometries`` (N,) moved from local metres (pixel column, row) to map coordinates."""
    a, b, c, d, e, f = transform[:6]
    matrix = np.array([[a, d], [b, e]])
    return np.asarray(shapely.transform(geometries, lambda xy: xy @ matrix + (c, f)))


def _frame(
    geometries: list[BaseGeometry],
    transform: Affine,
    domain: Domain,
    frame: Polygon,
    **columns: list[str] | list[float] | np.ndarray,
) -> gpd.GeoDataFrame:
    """The geometries that touch the map, in map coordinates, with their attributes."""
    shapes = np.asarray(geometries, dtype=object)
    touching = shapely.intersects(shapes, frame)
    data = {name: np.asarray(values)[touching] for name, values in columns.items()}
    moved = _to_map(shapes[touching], transform)
    return gpd.GeoDataFrame(data, geometry=list(moved), crs=domain.crs)


def _winding_line(
    rng: np.random.Generator,
    size: int,
    curviness: float,
    heading: float,
    through: np.ndarray,
) -> LineString:
    """A line across the map, winding about a general direction.

    It enters the map where a straight line along ``heading`` through ``through`` would,
    then its heading wanders with a spread of ``curviness`` radians and a memory of about
    100 m, until it leaves the map.

    Args:
        rng: the random generator to draw from.
        size: width and height of the map, metres.
        curviness: spread of the heading about ``heading``, radians.
        heading: general direction, radians from east towards south (y points south).
        through: (2,) local x, y of a point the line heads through at first, metres.
    """
    step, memory = 5.0, 100.0
    pull = step / memory
    direction = np.array([np.cos(heading), np.sin(heading)])
    # Back from ``through`` to where the straight line crosses the margin around the map.
    back = [
        (through[k] - (-_MARGIN if direction[k] > 0 else size + _MARGIN)) / direction[k]
        for k in range(2)
        if abs(direction[k]) > 1e-9
    ]
    point = through - min(back) * direction
    points, current = [point], heading
    kicks = (
        curviness * np.sqrt(2 * pull) * rng.standard_normal(int(4 * (size + 2 * _MARGIN) / step))
    )
    for kick in kicks:
        current = float(
            np.clip(current + pull * (heading - current) + kick, heading - 1.2, heading + 1.2)
        )
        point = point + step * np.array([np.cos(current), np.sin(current)])
        points.append(point)
        if not (-_MARGIN <= point[0] <= size + _MARGIN and -_MARGIN <= point[1] <= size + _MARGIN):
            break
    return LineString(points)


def _ponds(
    rng: np.random.Generator, size: int, domain: Domain, avoid: BaseGeometry
) -> list[Polygon]:
    """Ponds and small lakes with wavy shores, away from ``avoid``."""
    ponds: list[Polygon] = []
    wanted = int(rng.poisson(domain.ponds_per_km2 * (size / 1000) ** 2))
    angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    for _ in range(20 * wanted):
        if len(ponds) == wanted:
            break
        centre, radius = rng.uniform(0, size, 2), rng.uniform(12, 40)
        harmonics = np.arange(2, 5)
        wobble = (
            rng.normal(0, 0.12, (3, 1))
            * np.cos(harmonics[:, None] * angles + rng.uniform(0, 6.3, (3, 1)))
        ).sum(axis=0)
        shore = radius * (1 + wobble)
        pond = Polygon(
            np.column_stack(
                [centre[0] + shore * np.cos(angles), centre[1] + shore * np.sin(angles)]
            )
        )
        if not pond.intersects(avoid) and not any(pond.buffer(10).intersects(p) for p in ponds):
            ponds.append(pond)
    return ponds


def _fields(rng: np.random.Generator, size: int, domain: Domain) -> tuple[list[Polygon], list[int]]:
    """Fields of a rotated, irregular grid covering the map, each grass or bare soil."""
    angle = rng.uniform(-0.5, 0.5)
    reach = size * 0.75  # the map's corners lie within this distance of its centre
    u, v = (
        -reach + np.concatenate([[0], np.cumsum(rng.uniform(60, 200, int(2 * reach / 60) + 1))])
        for _ in range(2)
    )
    u0, v0 = (a.ravel() for a in np.meshgrid(u[:-1], v[:-1], indexing="ij"))
    u1, v1 = (a.ravel() for a in np.meshgrid(u[1:], v[1:], indexing="ij"))
    cu, cv = np.stack([u0, u1, u1, u0], -1), np.stack([v0, v0, v1, v1], -1)
    cos, sin = np.cos(angle), np.sin(angle)
    corners = np.stack([size / 2 + cu * cos - cv * sin, size / 2 + cu * sin + cv * cos], -1)
    parcels = np.asarray(shapely.polygons(corners))
    fields = list(parcels[shapely.intersects(parcels, box(0, 0, size, size))])
    classes = np.where(rng.random(len(fields)) < domain.barren_fraction, BARREN, GRASS)
    return fields, classes.tolist()


def _street_trees(
    rng: np.random.Generator, streets: np.ndarray, domain: Domain
) -> list[BaseGeometry]:
    """Crowns (discs of 2.5-4.5 m radius) every 12 m along both sides of each street."""
    crowns: list[BaseGeometry] = []
    for street in streets:
        along = np.arange(6.0, street.length, 12.0)
        here = shapely.get_coordinates(shapely.line_interpolate_point(street, along))
        ahead = shapely.get_coordinates(shapely.line_interpolate_point(street, along + 0.5))
        tangent = ahead - here
        normal = np.column_stack([-tangent[:, 1], tangent[:, 0]])
        normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
        for side in (-1.0, 1.0):
            centres = here + side * (STREET_WIDTH / 2 + 3.0) * normal
            planted = rng.random(len(centres)) < domain.street_tree_density
            radii = rng.uniform(2.5, 4.5, len(centres))
            crowns.extend(shapely.buffer(shapely.points(centres[planted]), radii[planted]))
    return crowns


def _canopy(
    rng: np.random.Generator,
    shape: tuple[int, int],
    domain: Domain,
    built_up: np.ndarray,
    banks: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Tree canopy from smoothed noise: clusters of ``tree_patch_scale`` with ragged edges.

    Open land gets ``tree_cover`` of canopy, more of it on the banks of water; built-up
    blocks get half as much.

    Returns:
        The canopy field (H, W) float32, zero mean and about unit spread, which also sets
        the trees' heights, and the canopy mask.
    """
    scale = domain.tree_patch_scale
    field = 0.8 * smooth_noise(shape, scale, rng) + 0.45 * smooth_noise(
        shape, max(1.0, scale / 3), rng
    )
    # The bonus on the banks and the lower cover in town move the threshold, not the field:
    # a step in tree height would cast a straight shadow along the edge of a bank or block.
    favoured = field + np.where(banks & ~built_up, 0.8, 0.0).astype(np.float32)
    sample = (slice(None, None, 3), slice(None, None, 3))  # quantiles from a ninth of the pixels
    threshold = np.zeros(shape, dtype=np.float32)
    for where, cover in ((~built_up, domain.tree_cover), (built_up, domain.tree_cover / 2)):
        values = favoured[sample][where[sample]]
        if values.size:
            threshold[where] = np.quantile(values, 1 - cover)
    return field, favoured > threshold
