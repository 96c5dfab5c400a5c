"""NLCD rasters as weak labels: raw codes or EnviroAtlas indices, through co-occurrences."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from geoppp.geo.raster import open_raster
from geoppp.landcover.cooccurrence import NLCD_CODES, load_table, mean_of_builtin_tables
from geoppp.landcover.schemes import ClassSchemeConfig
from geoppp.landcover.weak_labels import CodeTable

Encoding = Literal["raw", "index"]
# Values that only EnviroAtlas's 0-16 NLCD indices use (raw codes 11 and 12 are indices too).
INDEX_ONLY = frozenset(range(1, 17)) - {11, 12}


def detect_encoding(path: Path, band: int = 1, sample: int = 512) -> Encoding:
    """Whether an NLCD raster holds raw codes (11, 21, ...) or 0-16 indices.

    Reads a decimated ``sample`` × ``sample`` view (nearest), so the cost does not follow
    the raster's size. A raster whose values are all 0, 11 or 12 is read as raw codes.
    """
    with open_raster(path) as dataset:
        scale = min(1.0, sample / max(dataset.width, dataset.height))
        shape = (max(1, round(dataset.height * scale)), max(1, round(dataset.width * scale)))
        values = set(np.unique(dataset.read(band, out_shape=shape)).tolist())
    if any(value > 16 for value in values):
        return "raw"
    return "index" if values & INDEX_ONLY else "raw"


def nlcd_code_table(table: str | Path, scheme: ClassSchemeConfig, encoding: Encoding) -> CodeTable:
    """P(class | NLCD value) for ``scheme`` from a co-occurrence table, keyed by raw codes or
    by indices. NLCD classes the table's city lacks come from the mean of the shipped
    tables (a forest pixel in Phoenix still gets a forest prior)."""
    mapping = load_table(table).fold(scheme, fallback=mean_of_builtin_tables())
    if encoding == "index":
        mapping = {NLCD_CODES.index(code): row for code, row in mapping.items()}
    return CodeTable.from_mapping(mapping, len(scheme.classes))
