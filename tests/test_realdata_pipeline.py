"""The weak-argmax pipeline on the real Chesapeake tile of ``../shared/data``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from geoppp.config import load_region
from geoppp.pipeline import check_file, run_pipeline

pytestmark = pytest.mark.realdata

REGION = Path(__file__).resolve().parents[1] / "regions" / "chesapeake-tile.yaml"


def test_chesapeake_tile_gives_an_nlcd_argmax_map(shared_data: Path, tmp_path: Path) -> None:
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        f"region: {REGION}\n"
        "execution: {workers: 2, batch_size: 2, progress: false}\n"
        "steps:\n"
        "  - {name: weak-argmax, kind: weak_argmax, tile_size: 128, halo: 16,\n"
        "     outputs: {class_map: map.tif, quicklook: map.png}}\n"
    )
    assert "OK" in check_file(pipeline)[0]
    reports = run_pipeline(pipeline, log=lambda line: None)
    region = load_region(REGION)
    tile = shared_data / "chesapeake" / "tile"
    with (
        rasterio.open(tmp_path / "map.tif") as result,
        rasterio.open(tile / "m_3907833_nw_17_1_lc.tif") as truth,
        rasterio.open(tile / "m_3907833_nw_17_1_nlcd.tif") as nlcd,
    ):
        assert result.crs == truth.crs and result.transform == truth.transform
        classes = result.read(1)
        labels = truth.read(1)
        codes = nlcd.read(1)
        assert result.colormap(1)[2][:3] == (0x33, 0xA0, 0x2C)
    assert set(np.unique(classes)) <= {1, 2, 3, 4}  # every pixel has NLCD, none is nodata
    # Where NLCD says open water or deciduous forest, the argmax mostly says water or forest
    # (the blur moves the borders of small patches).
    assert (classes[codes == 11] == 1).mean() > 0.8 and (classes[codes == 41] == 2).mean() > 0.9
    # The map is a map of this place: it agrees with the 1 m labels on most pixels.
    table = region.ground_truth.table if region.ground_truth else {}
    value = {item.name: item.value for item in region.classes.classes}
    truth_classes = np.vectorize(lambda code: value.get(table.get(int(code), ""), 0))(labels)
    agreement = (classes == truth_classes)[truth_classes > 0].mean()
    assert agreement > 0.6, agreement
    assert reports[0].results[0].stats.tiles == 9
    assert (tmp_path / "map.png").stat().st_size > 0
