"""Write a synthetic demo region: GeoTIFFs and GeoPackages, the same bytes for the same seed."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from geoppp.landcover.synthetic.domains import DOMAINS
from geoppp.landcover.synthetic.layout import make_layout
from geoppp.landcover.synthetic.nlcd import NLCD_CRS, derive_nlcd
from geoppp.landcover.synthetic.render import render_imagery

MIN_SIZE = 64
VECTOR_CRS = "EPSG:4326"
"""Roads, buildings and water are written in longitude and latitude, as OpenStreetMap and
building-footprint datasets ship them, so that a region's layers come in several CRSs."""
_GEOTIFF = {"driver": "GTiff", "tiled": True, "compress": "deflate"}


@dataclass(frozen=True)
class DemoRegion:
    """Paths of the files a demo region is made of."""

    imagery: Path
    labels: Path
    nlcd: Path
    roads: Path
    buildings: Path
    water: Path
    region_yaml: Path


def make_demo_region(
    folder: Path, domain: str = "target", size: int | None = None, seed: int = 0
) -> DemoRegion:
    """Write a synthetic region of ``domain`` into ``folder`` (created if needed).

    Files: ``imagery.tif`` (R, G, B, NIR uint8, nodata 0), ``labels.tif`` (class values
    1-5 of the ``enviroatlas-5`` scheme, nodata 0 where the imagery is), ``nlcd.tif`` (30 m,
    EPSG:5070), ``roads.gpkg`` (centre lines with ``width`` in metres), ``buildings.gpkg``
    and ``water.gpkg`` (polygons), and ``region.yaml`` naming them. The same (domain, size,
    seed) gives the same files.

    Args:
        folder: where to write.
        domain: ``source`` (green, forested, like Pittsburgh) or ``target`` (arid, like
            Phoenix).
        size: width and height, pixels of 1 m; the domain's default (source 2048, target
            1024) if not given.
        seed: the random seed.

    Raises:
        ValueError: an unknown domain, or a size under 64.
    """
    if domain not in DOMAINS:
        raise ValueError(f"unknown demo domain {domain!r}; choose one of {sorted(DOMAINS)}")
    settings = DOMAINS[domain]
    size = settings.size if size is None else size
    if size < MIN_SIZE:
        raise ValueError(f"a demo region needs at least {MIN_SIZE} pixels a side, got {size}")
    # Separate streams per stage: a change in how one stage draws leaves the others alone.
    layout_rng, render_rng, nlcd_rng = (
        np.random.default_rng(stream)
        for stream in np.random.SeedSequence([seed, zlib.crc32(domain.encode())]).spawn(3)
    )
    transform = Affine(1.0, 0.0, settings.origin[0], 0.0, -1.0, settings.origin[1])
    layout = make_layout(settings, size, transform, layout_rng)
    image = render_imagery(layout, settings, render_rng)
    nlcd, nlcd_transform = derive_nlcd(
        layout.labels, transform, settings.crs, settings.nlcd_error_rate, nlcd_rng
    )

    folder.mkdir(parents=True, exist_ok=True)
    region = DemoRegion(
        *(
            folder / name
            for name in (
                "imagery.tif",
                "labels.tif",
                "nlcd.tif",
                "roads.gpkg",
                "buildings.gpkg",
                "water.gpkg",
                "region.yaml",
            )
        )
    )
    grid = {"width": size, "height": size, "crs": settings.crs, "transform": transform}
    # photometric RGB with an unspecified extra sample: band 4 is NIR, not alpha.
    with rasterio.open(
        region.imagery,
        "w",
        count=4,
        dtype="uint8",
        nodata=0,
        photometric="RGB",
        alpha="UNSPECIFIED",
        **grid,
        **_GEOTIFF,
    ) as dataset:
        dataset.write(image)
        dataset.descriptions = ("red", "green", "blue", "nir")
    with rasterio.open(
        region.labels, "w", count=1, dtype="uint8", nodata=0, **grid, **_GEOTIFF
    ) as dataset:
        dataset.write(np.where(image[0] > 0, layout.labels, 0)[np.newaxis])
    with rasterio.open(
        region.nlcd,
        "w",
        width=nlcd.shape[1],
        height=nlcd.shape[0],
        count=1,
        dtype="uint8",
        crs=NLCD_CRS,
        transform=nlcd_transform,
        nodata=0,
        driver="GTiff",
    ) as dataset:
        dataset.write(nlcd[np.newaxis])
    for frame, path, geometry_type in (
        (layout.roads, region.roads, "LineString"),
        (layout.buildings, region.buildings, "Polygon"),
        (layout.water, region.water, "Polygon"),
    ):
        frame.to_crs(VECTOR_CRS).to_file(path, driver="GPKG", geometry_type=geometry_type)
    region.region_yaml.write_text(region_yaml(domain))
    return region


def region_yaml(domain: str) -> str:
    """The region YAML of a demo region of ``domain``, with paths relative to its folder
    (the same settings as the checkout's ``regions/demo-*.yaml``)."""
    table = DOMAINS[domain].cooccurrence
    return f"""# The synthetic {domain} demo region, written by geoppp with its files.
name: demo-{domain}
imagery: {{paths: [imagery.tif], bands: [1, 2, 3, 4], band_names: [red, green, blue, nir]}}
classes: enviroatlas-5
weak_labels:
  # NLCD through P(class | NLCD) of the real EnviroAtlas land cover of {table}.
  - {{kind: nlcd, path: nlcd.tif, table: {table}, blur: {{sigma: 31, radius: 50}}}}
  - {{kind: vector, path: roads.gpkg, class: impervious, buffer: 4}}
  - {{kind: vector, path: buildings.gpkg, class: impervious}}
  - {{kind: vector, path: water.gpkg, class: water}}
ground_truth: {{path: labels.tif}}
"""
