"""The two landscapes a synthetic region can look like: a green *source* and an arid *target*.

A domain is a value: where it lies (a UTM CRS and an upper-left corner), how each class looks
(mean reflectance and texture), how its ground is laid out (street spacing, tree cover, bare
soil, water) and how good its NLCD is. The source is modelled on Pittsburgh (forested hills,
lawns, winding creeks); the target on Phoenix (desert soil and gravel yards that look like
concrete, dry grass that looks like soil, canals, swimming pools, little canopy).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

WATER, IMPERVIOUS, BARREN, TREES, GRASS = 1, 2, 3, 4, 5
"""Class values of the labels, as in the ``enviroatlas-5`` scheme; 0 is nodata."""
CLASS_NAMES: Mapping[int, str] = MappingProxyType(
    {WATER: "water", IMPERVIOUS: "impervious", BARREN: "barren", TREES: "trees", GRASS: "grass"}
)


@dataclass(frozen=True)
class Appearance:
    """How a class looks in the imagery.

    Attributes:
        colour: mean red, green, blue and near-infrared values, 0-255.
        texture: standard deviation of brightness within and between objects (fields, roofs,
            tree crowns), as a fraction of the mean.
    """

    colour: tuple[float, float, float, float]
    texture: float


@dataclass(frozen=True)
class Domain:
    """Where a synthetic region lies, what its ground holds and how it looks.

    Attributes:
        name: ``source`` or ``target``.
        crs: the UTM CRS of the imagery and labels.
        origin: map coordinates (x, y) of the upper-left corner, metres.
        size: default width and height, pixels of 1 m.
        cooccurrence: the real EnviroAtlas P(class | NLCD) table of the city it resembles,
            which its region YAML turns NLCD into weak labels with.
        appearance: class value → how the class looks.
        road_spacing: distance between parallel town streets across a block, metres (blocks
            are 2.5 times as long).
        town_fraction: share of the blocks of the street grid that are built up, 0-1.
        building_density: chance that a residential lot holds a house, 0-1.
        tree_cover: share of the open (rural) land under tree canopy, 0-1; town yards get
            half of it.
        tree_patch_scale: size of tree clusters, metres: forest stands or desert shrubs.
        tree_height: typical canopy height, metres; it sets the length of tree shadows.
        street_tree_density: chance of a street tree every 12 m on each side of a street.
        barren_fraction: share of fields and yards that are bare soil or gravel, not grass.
        curviness: spread of a stream's heading about its general direction, radians (over
            about 100 m); the arterial roads wind a third as much. Hilly land winds, a canal
            grid does not.
        stream_width: width of the stream or canal, metres.
        ponds_per_km2: mean number of ponds and lakes per square kilometre.
        pool_rate: chance that a house has a swimming pool in its back yard.
        nlcd_error_rate: share of NLCD cells that carry a plausible wrong code, 0-1.
    """

    name: str
    crs: str
    origin: tuple[float, float]
    size: int
    cooccurrence: str
    appearance: Mapping[int, Appearance]
    road_spacing: float
    town_fraction: float
    building_density: float
    tree_cover: float
    tree_patch_scale: float
    tree_height: float
    street_tree_density: float
    barren_fraction: float
    curviness: float
    stream_width: float
    ponds_per_km2: float
    pool_rate: float
    nlcd_error_rate: float


SOURCE = Domain(
    name="source",
    crs="EPSG:32617",  # UTM 17N
    origin=(584_000.0, 4_478_000.0),  # Pittsburgh, PA
    size=2048,
    cooccurrence="pittsburgh_pa",
    appearance=MappingProxyType(
        {
            WATER: Appearance((44, 62, 62, 20), 0.06),
            IMPERVIOUS: Appearance((122, 122, 120, 106), 0.13),
            BARREN: Appearance((152, 126, 96, 118), 0.09),
            TREES: Appearance((50, 80, 46, 166), 0.22),
            GRASS: Appearance((98, 136, 72, 150), 0.08),
        }
    ),
    road_spacing=85.0,
    town_fraction=0.35,
    building_density=0.85,
    tree_cover=0.55,
    tree_patch_scale=30.0,
    tree_height=16.0,
    street_tree_density=0.55,
    barren_fraction=0.08,
    curviness=0.5,
    stream_width=14.0,
    ponds_per_km2=2.0,
    pool_rate=0.03,
    nlcd_error_rate=0.10,
)

# In the desert, bare soil and gravel yards are as bright and as grey-brown as concrete and
# dusty asphalt, and dry grass is the colour of soil: classes overlap once texture and noise
# are added, as they do in real imagery of Phoenix.
TARGET = Domain(
    name="target",
    crs="EPSG:32612",  # UTM 12N
    origin=(400_000.0, 3_705_000.0),  # Phoenix, AZ
    size=1024,
    cooccurrence="phoenix_az",
    appearance=MappingProxyType(
        {
            WATER: Appearance((62, 92, 100, 24), 0.10),
            IMPERVIOUS: Appearance((164, 154, 142, 148), 0.12),
            BARREN: Appearance((174, 152, 128, 158), 0.09),
            TREES: Appearance((86, 98, 70, 134), 0.18),
            GRASS: Appearance((158, 150, 112, 170), 0.08),
        }
    ),
    road_spacing=110.0,
    town_fraction=0.5,
    building_density=0.9,
    tree_cover=0.07,
    tree_patch_scale=3.0,
    tree_height=6.0,
    street_tree_density=0.15,
    barren_fraction=0.75,
    curviness=0.02,
    stream_width=10.0,
    ponds_per_km2=0.5,
    pool_rate=0.35,
    nlcd_error_rate=0.15,
)

DOMAINS: Mapping[str, Domain] = MappingProxyType({SOURCE.name: SOURCE, TARGET.name: TARGET})
