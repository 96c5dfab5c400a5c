"""Outputs: class maps with colours and names, COGs with honest overviews, atomic writes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import Compression

from geoppp.errors import OutputError
from geoppp.geo.engine import TileInputs, run_tiles
from geoppp.geo.grid import Grid, Tile, TileLayout
from geoppp.geo.output import ClassInfo, ClassMapOutput, OutputOptions, ValueOutput
from tests.geo.test_grid import make_grid

CLASSES = [
    ClassInfo(1, "water", (0, 0, 255)),
    ClassInfo(2, "tree canopy", (0, 128, 0)),
    ClassInfo(3, "field", (255, 255, 0)),
    ClassInfo(5, "roads & <other> impervious", (128, 128, 128)),
]
VALUES = np.array([info.value for info in CLASSES], dtype=np.uint8)
NODATA = 0


def class_indices(height: int, width: int, cell: int = 10, seed: int = 0) -> np.ndarray:
    """Blocky class indices (0..3) in ``cell``-pixel squares, -1 where nodata."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, len(CLASSES), (-(-height // cell), -(-width // cell)))
    indices = np.kron(coarse, np.ones((cell, cell), dtype=np.int64))[:height, :width]
    indices[: height // 5, : width // 7] = -1
    return indices


class IndexReader:
    """Gives each tile its class indices as a one-hot ``(C, H, W)`` input."""

    def __init__(self, indices: np.ndarray) -> None:
        self.indices = indices

    def __call__(self, tiles: Sequence[Tile]) -> list[TileInputs]:
        inputs = []
        for tile in tiles:
            read = tile.read
            part = np.full(tile.padded_shape, -1, dtype=np.int64)
            part[: read.height, : read.width] = self.indices[
                read.row : read.row_stop, read.col : read.col_stop
            ]
            one_hot = (part[None] == np.arange(len(CLASSES))[:, None, None]).astype(np.float32)
            inputs.append(TileInputs({"probabilities": one_hot}, part >= 0))
        return inputs


def probabilities_model(arrays: dict[str, np.ndarray], valid: np.ndarray) -> np.ndarray:
    return arrays["probabilities"]


def write_class_map(
    grid: Grid, indices: np.ndarray, options: OutputOptions, core: int = 64, halo: int = 8
) -> ClassMapOutput:
    layout = TileLayout(grid, core, halo)
    with ClassMapOutput(options, grid, CLASSES, nodata=NODATA, block_size=core) as output:
        run_tiles(layout, IndexReader(indices), probabilities_model, [output], progress=False)
    return output


def expected_map(indices: np.ndarray) -> np.ndarray:
    return np.where(indices >= 0, VALUES[np.clip(indices, 0, None)], NODATA).astype(np.uint8)


def test_class_map_geotiff(tmp_path: Path) -> None:
    grid = make_grid(150, 170)
    indices = class_indices(150, 170)
    path = tmp_path / "map.tif"
    output = write_class_map(grid, indices, OutputOptions(path))
    with rasterio.open(path) as dataset:
        assert dataset.driver == "GTiff"
        assert dataset.count == 1 and dataset.dtypes == ("uint8",)
        assert dataset.crs == grid.crs
        assert dataset.transform == grid.transform
        assert (dataset.height, dataset.width) == (150, 170)
        assert dataset.nodata == NODATA
        assert dataset.profile["tiled"]
        assert dataset.compression == Compression.deflate
        block_height, block_width = dataset.block_shapes[0]
        assert block_height == block_width and block_height % 16 == 0 and block_height < 150
        colormap = dataset.colormap(1)
        result = dataset.read(1)
        assert dataset.descriptions == ("land cover class",)
    np.testing.assert_array_equal(result, expected_map(indices))
    for info in CLASSES:
        assert colormap[info.value] == (*info.colour, 255)
    assert colormap[NODATA][3] == 0
    # Pixel counts per class, in the order of the classes.
    expected_counts = [(indices == i).sum() for i in range(len(CLASSES))]
    np.testing.assert_array_equal(output.counts, expected_counts)


def test_class_map_sidecar_names_every_class(tmp_path: Path) -> None:
    grid = make_grid(40, 40)
    path = tmp_path / "map.tif"
    write_class_map(grid, class_indices(40, 40), OutputOptions(path), core=16, halo=4)
    sidecar = tmp_path / "map.tif.aux.xml"
    assert sidecar.is_file()
    band = ET.parse(sidecar).getroot().find("PAMRasterBand")
    assert band is not None and band.get("band") == "1"
    assert band.findtext("NoDataValue") == str(NODATA)
    categories = [c.text or "" for c in band.find("CategoryNames").findall("Category")]
    assert len(categories) == max(VALUES) + 1
    for info in CLASSES:
        assert categories[info.value] == info.name
    assert categories[0] == "" and categories[4] == ""
    table = band.find("GDALRasterAttributeTable")
    assert table is not None and table.get("tableType") == "thematic"
    fields = [f.findtext("Name") for f in table.findall("FieldDefn")]
    assert fields == ["Value", "Class", "Red", "Green", "Blue"]
    rows = [[f.text for f in row.findall("F")] for row in table.findall("Row")]
    assert rows == [
        [str(info.value), info.name, *(str(c) for c in info.colour)] for info in CLASSES
    ]
    # GDAL still opens the map with its sidecar and agrees about nodata.
    with rasterio.open(path) as dataset:
        assert dataset.nodata == NODATA


@pytest.mark.parametrize("resampling", ["nearest", "mode"])
def test_cog_overviews_only_hold_real_classes(tmp_path: Path, resampling: str) -> None:
    size = 1100
    grid = make_grid(size, size)
    indices = class_indices(size, size, cell=3, seed=5)
    path = tmp_path / "map.tif"
    options = OutputOptions(path, cog=True, overview_resampling=resampling)  # type: ignore[arg-type]
    write_class_map(grid, indices, options, core=256, halo=16)
    allowed = {*VALUES.tolist(), NODATA}
    with rasterio.open(path) as dataset:
        assert dataset.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        factors = dataset.overviews(1)
        assert factors and factors[0] == 2
        assert dataset.crs == grid.crs and dataset.transform == grid.transform
        assert dataset.nodata == NODATA
        assert dataset.colormap(1)[5] == (128, 128, 128, 255)
        np.testing.assert_array_equal(dataset.read(1), expected_map(indices))
    for level, factor in enumerate(factors):
        # The overview as stored in the file, not resampled on reading.
        with rasterio.open(path, overview_level=level) as overview:
            assert overview.width == -(-size // factor)
            present = set(np.unique(overview.read(1)).tolist())
        assert present <= allowed
        assert present >= set(VALUES.tolist())
    assert (tmp_path / "map.tif.aux.xml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.qml", "map.tif", "map.tif.aux.xml"]


def test_value_output_cog(tmp_path: Path) -> None:
    grid = make_grid(600, 600)
    indices = class_indices(600, 600)
    path = tmp_path / "probabilities.tif"
    options = OutputOptions(path, cog=True)
    layout = TileLayout(grid, 128, 8)
    with ValueOutput(options, grid, len(CLASSES), band_names=["a", "b", "c", "d"]) as output:
        run_tiles(layout, IndexReader(indices), probabilities_model, [output], progress=False)
    with rasterio.open(path) as dataset:
        assert dataset.overviews(1)
        assert dataset.descriptions == ("a", "b", "c", "d")
        assert np.isnan(dataset.nodata)
        values = dataset.read(2)
    np.testing.assert_array_equal(values[indices == 1], 1.0)
    np.testing.assert_array_equal(values[(indices >= 0) & (indices != 1)], 0.0)
    assert np.isnan(values[indices < 0]).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["probabilities.tif"]


def test_existing_output_is_refused_unless_overwrite(tmp_path: Path) -> None:
    grid = make_grid(32, 32)
    indices = class_indices(32, 32)
    path = tmp_path / "map.tif"
    path.write_bytes(b"precious")
    with pytest.raises(OutputError, match="already exists") as caught:
        write_class_map(grid, indices, OutputOptions(path), core=16, halo=0)
    assert isinstance(caught.value, OSError)
    assert path.read_bytes() == b"precious"
    write_class_map(grid, indices, OutputOptions(path, overwrite=True), core=16, halo=0)
    with rasterio.open(path) as dataset:
        np.testing.assert_array_equal(dataset.read(1), expected_map(indices))
    # Overwriting again, now as a COG, also works.
    write_class_map(grid, indices, OutputOptions(path, overwrite=True, cog=True), core=16, halo=0)
    with rasterio.open(path) as dataset:
        np.testing.assert_array_equal(dataset.read(1), expected_map(indices))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.qml", "map.tif", "map.tif.aux.xml"]


def test_missing_output_folder_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "map.tif"
    with pytest.raises(OutputError, match="does not exist"):
        ClassMapOutput(OutputOptions(path), make_grid(16, 16), CLASSES)
    with pytest.raises(OutputError):
        ValueOutput(OutputOptions(path), make_grid(16, 16), 1)
    assert not (tmp_path / "missing").exists()


def test_nodata_that_is_a_class_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="nodata"):
        ClassMapOutput(OutputOptions(tmp_path / "map.tif"), make_grid(16, 16), CLASSES, nodata=3)
    assert list(tmp_path.iterdir()) == []


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("cog", [False, True])
@pytest.mark.parametrize("kind", ["class map", "values"])
def test_exception_inside_the_block_leaves_nothing(tmp_path: Path, cog: bool, kind: str) -> None:
    grid = make_grid(64, 64)
    indices = class_indices(64, 64)
    layout = TileLayout(grid, 16, 4)
    path = tmp_path / "map.tif"
    options = OutputOptions(path, cog=cog)

    def failing_model(arrays: dict[str, np.ndarray], valid: np.ndarray) -> np.ndarray:
        raise Boom("model failed")

    output: ClassMapOutput | ValueOutput
    if kind == "class map":
        output = ClassMapOutput(options, grid, CLASSES, block_size=16)
    else:
        output = ValueOutput(options, grid, len(CLASSES), block_size=16)
    # Some blocks are written before the failure.
    with pytest.raises(Boom), output:
        run_tiles(layout, IndexReader(indices), probabilities_model, [output], progress=False)
        assert any(p.name.startswith(".map.tif.partial") for p in tmp_path.iterdir())
        run_tiles(layout, IndexReader(indices), failing_model, [output], progress=False)
    assert list(tmp_path.iterdir()) == []
