"""A region's configuration turned into what the library computes with, per imagery file."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from geoppp.config import (
    CodeRasterConfig,
    MaskRasterConfig,
    NlcdConfig,
    ProbabilityRasterConfig,
    RegionConfig,
    VectorConfig,
)
from geoppp.errors import ConfigError, GeopppError, OutputError
from geoppp.geo.grid import Grid
from geoppp.geo.output import ClassInfo
from geoppp.landcover.nlcd import detect_encoding, nlcd_code_table
from geoppp.landcover.schemes import ClassSchemeConfig
from geoppp.landcover.weak_labels import (
    Blur,
    CodeRaster,
    CodeTable,
    MaskBurn,
    ProbabilityRaster,
    RasterSource,
    VectorBurn,
    WeakLabelSources,
    hard_label,
)


def classes_of(scheme: ClassSchemeConfig) -> list[ClassInfo]:
    return [ClassInfo(item.value, item.name, item.rgb) for item in scheme.classes]


def truth_classes(region: RegionConfig) -> dict[int, int]:
    """Ground-truth code → class index: through the ground truth's table if it has one, else
    the class values themselves."""
    assert region.ground_truth is not None
    if region.ground_truth.table is None:
        return {item.value: i for i, item in enumerate(region.classes.classes)}
    index = {name: i for i, name in enumerate(region.classes.names)}
    return {code: index[name] for code, name in region.ground_truth.table.items()}


def truth_colours(region: RegionConfig) -> dict[int, tuple[int, int, int]]:
    """Ground-truth code → the colour of its class."""
    classes = region.classes.classes
    return {code: classes[index].rgb for code, index in truth_classes(region).items()}


def rgb_bands(region: RegionConfig) -> list[int]:
    """The imagery bands named red, green and blue, else the first three bands."""
    names = region.imagery.band_names or []
    bands = region.imagery.bands
    rgb = [bands[names.index(name)] for name in ("red", "green", "blue") if name in names]
    return rgb if len(rgb) == 3 else bands[:3]


def for_tile(path: Path, region: RegionConfig, imagery: Path) -> Path:
    """``path`` with `{tile}` replaced by the tile name of ``imagery``."""
    return Path(str(path).replace("{tile}", region.imagery.tile_of(imagery)))


def region_inputs(region: RegionConfig, region_file: Path | None = None) -> list[tuple[Path, str]]:
    """Every file the region reads, with its role: per imagery file, the imagery, its
    weak-label sources and its ground truth; and the region's YAML when given."""
    inputs = [] if region_file is None else [(region_file, "YAML file")]
    for imagery in region.imagery.paths:
        inputs.append((imagery, "imagery"))
        inputs.extend(
            (for_tile(source.path, region, imagery), f"weak labels ({source.kind})")
            for source in region.weak_labels
        )
        if region.ground_truth is not None:
            inputs.append((for_tile(region.ground_truth.path, region, imagery), "ground truth"))
    return inputs


def refuse_inputs_as_outputs(
    region: RegionConfig, outputs: Iterable[Path], region_file: Path | None = None
) -> None:
    """Refuse an output that is one of the region's inputs: writing it would destroy the
    input, so ``overwrite`` does not allow it either."""
    inputs = region_inputs(region, region_file)
    for output in outputs:
        for path, role in inputs:
            if _same_file(output, path):
                raise OutputError(
                    f"output {output} is the {role} of region {region.name!r}: writing it would "
                    "destroy an input, which --overwrite does not allow; write the output to "
                    "another file"
                )


def _same_file(first: Path, second: Path) -> bool:
    if first.resolve() == second.resolve():
        return True
    # Hard links and bind mounts: two names, one file.
    return first.exists() and second.exists() and os.path.samefile(first, second)


def weak_label_sources(region: RegionConfig, grid: Grid, imagery: Path) -> WeakLabelSources:
    """The weak-label sources of ``imagery``'s tile on ``grid`` (checks bands and overlap)."""
    index = {name: i for i, name in enumerate(region.classes.names)}
    resolution = abs(grid.transform.a)
    rasters: list[RasterSource] = []
    vectors: list[VectorBurn] = []
    masks: list[MaskBurn] = []
    for source in region.weak_labels:
        path = for_tile(source.path, region, imagery)
        if isinstance(source, CodeRasterConfig):
            mapping = {
                code: dict(enumerate(hard_label(index[entry], len(index), source.confidence)))
                if isinstance(entry, str)
                else {index[name]: p for name, p in entry.items()}
                for code, entry in source.table.items()
            }
            rasters.append(
                CodeRaster(path, source.band, CodeTable.from_mapping(mapping, len(index)))
            )
        elif isinstance(source, NlcdConfig):
            encoding = (
                detect_encoding(path, source.band) if source.encoding == "auto" else source.encoding
            )
            try:
                table = nlcd_code_table(source.table, region.classes, encoding)
            except ValueError as error:
                raise ConfigError(f"region {region.name}: {error}") from error
            blur = None
            if source.blur is not None:
                blur = Blur(source.blur.sigma / resolution, round(source.blur.radius / resolution))
            rasters.append(CodeRaster(path, source.band, table, blur))
        elif isinstance(source, ProbabilityRasterConfig):
            bands = tuple(source.bands or range(1, len(index) + 1))
            rasters.append(ProbabilityRaster(path, bands))
        elif isinstance(source, VectorConfig):
            # A layer shared by many imagery tiles may miss some of them; a layer of one
            # tile, or of a one-file region, that misses it is in the wrong place.
            required = len(region.imagery.paths) == 1 or "{tile}" in str(source.path)
            vectors.append(
                VectorBurn(
                    path, index[source.class_name], source.buffer, required, source.confidence
                )
            )
        elif isinstance(source, MaskRasterConfig):
            buffer = round(source.buffer / resolution)
            masks.append(
                MaskBurn(path, source.band, index[source.class_name], buffer, source.confidence)
            )
    try:
        return WeakLabelSources(grid, len(index), rasters, vectors, masks)
    except ValueError as error:
        if isinstance(error, GeopppError):
            raise
        raise ConfigError(f"region {region.name}: {error}") from error
