"""Synthetic demo regions: a green source and an arid target landscape, written as real files.

A 1 m land-cover map in UTM with the five EnviroAtlas classes, laid out with structure
(roads, blocks of houses, streams and ponds, tree clusters and street trees, fields), 4-band
imagery rendered from it, 30 m NLCD derived from it, and its roads, buildings and water as
vector layers. Deterministic under a seed.
"""

from geoppp.landcover.synthetic.domains import (
    BARREN,
    CLASS_NAMES,
    DOMAINS,
    GRASS,
    IMPERVIOUS,
    SOURCE,
    TARGET,
    TREES,
    WATER,
    Appearance,
    Domain,
)
from geoppp.landcover.synthetic.region import MIN_SIZE, DemoRegion, make_demo_region

__all__ = [
    "BARREN",
    "CLASS_NAMES",
    "DOMAINS",
    "GRASS",
    "IMPERVIOUS",
    "MIN_SIZE",
    "SOURCE",
    "TARGET",
    "TREES",
    "WATER",
    "Appearance",
    "DemoRegion",
    "Domain",
    "make_demo_region",
]
