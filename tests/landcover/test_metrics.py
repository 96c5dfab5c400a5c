"""Confusion matrix, accuracy and IoU, and scoring a class map against ground truth."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import reproject

from geoppp.landcover.evaluation import evaluate_map, value_lookup
from geoppp.landcover.metrics import Scores, confusion_matrix
from tests.rasters import CONUS_ALBERS, PITTSBURGH_UTM, write_raster

X0, Y0 = PITTSBURGH_UTM
NAN = float("nan")


# ---------------------------------------------------------------- hand-made arrays

# Four classes; class 3 is in neither array; -1 (nodata) pixels are left out.
TRUTH = np.array([[0, 0, 1, 1], [2, -1, 0, 3]])
PREDICTED = np.array([[0, 1, 1, 1], [0, 2, -1, 7]])
# Kept pairs (truth, predicted): (0,0) (0,1) (1,1) (1,1) (2,0); the others have a -1 or a 7.
EXPECTED = np.array([[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])


def test_the_confusion_matrix_counts_truth_by_row_and_prediction_by_column() -> None:
    confusion = confusion_matrix(PREDICTED, TRUTH, 4)

    assert confusion.dtype == np.int64
    np.testing.assert_array_equal(confusion, EXPECTED)


def test_a_confusion_matrix_accumulates_window_by_window() -> None:
    rng = np.random.default_rng(0)
    truth, predicted = rng.integers(-1, 5, (2, 30, 40))

    whole = confusion_matrix(predicted, truth, 5)

    parts = confusion_matrix(predicted[:, :17], truth[:, :17], 5) + confusion_matrix(
        predicted[:, 17:], truth[:, 17:], 5
    )
    np.testing.assert_array_equal(parts, whole)
    assert whole.sum() == np.count_nonzero((truth >= 0) & (predicted >= 0))


def test_accuracy_iou_and_miou_of_a_hand_made_example() -> None:
    scores = Scores.from_confusion(confusion_matrix(PREDICTED, TRUTH, 4))

    assert scores.pixels == 5
    assert scores.accuracy == pytest.approx(3 / 5)
    # IoU = hits / (row + column - hits): 1/(2+2-1), 2/(2+3-2), 0/(1+0-0); class 3 absent.
    assert scores.iou[:3] == pytest.approx((1 / 3, 2 / 3, 0.0))
    assert math.isnan(scores.iou[3])
    assert scores.miou == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)  # NaN left out, 0 kept


def test_a_perfect_map_scores_one_and_an_empty_one_nan() -> None:
    perfect = Scores.from_confusion(np.diag([4, 0, 9]))
    empty = Scores.from_confusion(np.zeros((3, 3), dtype=np.int64))

    assert (perfect.accuracy, perfect.miou, perfect.pixels) == (1.0, 1.0, 13)
    assert perfect.iou[0] == 1.0 and math.isnan(perfect.iou[1]) and perfect.iou[2] == 1.0
    assert math.isnan(empty.accuracy) and math.isnan(empty.miou)
    assert all(math.isnan(iou) for iou in empty.iou)
    assert empty.pixels == 0


def test_a_class_predicted_but_never_true_has_zero_iou() -> None:
    scores = Scores.from_confusion(confusion_matrix(np.array([1, 1]), np.array([0, 0]), 2))

    assert scores.iou == (0.0, 0.0)
    assert scores.miou == 0.0
    assert scores.accuracy == 0.0


def test_value_lookup_maps_values_to_indices_and_the_rest_to_minus_one() -> None:
    lookup = value_lookup({1: 0, 5: 1, 300: 2})

    assert lookup.shape == (65536,)
    np.testing.assert_array_equal(lookup[[0, 1, 2, 5, 300, 65535]], [-1, 0, -1, 1, 2, -1])


# ---------------------------------------------------------------- evaluate_map

MAP_VALUES = {1: 0, 2: 1, 3: 2}  # class map values → class indices
TRUTH_CODES = {10: 0, 20: 1, 30: 2}  # ground-truth codes → class indices
SIZE = 40


def write_class_map(path: Path) -> np.ndarray:
    """A 40 × 40 class map at 1 m in UTM 17N: values 1-3, nodata 0 in the top-left corner."""
    values = np.random.default_rng(1).integers(1, 4, (SIZE, SIZE)).astype(np.uint8)
    values[:6, :6] = 0
    write_raster(path, values, nodata=0)
    return values


def scores_by_hand(class_map: np.ndarray, truth_codes: np.ndarray) -> Scores:
    guess = value_lookup(MAP_VALUES)[class_map]
    guess[class_map == 0] = -1
    actual = value_lookup(TRUTH_CODES)[truth_codes]
    confusion = np.zeros((3, 3), dtype=np.int64)
    keep = (guess >= 0) & (actual >= 0)
    np.add.at(confusion, (actual[keep], guess[keep]), 1)
    return Scores.from_confusion(confusion)


def assert_same_scores(scores: Scores, expected: Scores, tolerance: float = 1e-12) -> None:
    assert scores.pixels == pytest.approx(expected.pixels, rel=tolerance)
    assert scores.accuracy == pytest.approx(expected.accuracy, abs=tolerance)
    assert scores.miou == pytest.approx(expected.miou, abs=tolerance)
    assert scores.iou == pytest.approx(expected.iou, abs=tolerance, nan_ok=True)


def test_a_map_is_scored_against_coarser_truth_on_the_same_crs(tmp_path: Path) -> None:
    class_map = write_class_map(tmp_path / "map.tif")
    # Ground truth at 2 m, aligned: each truth pixel covers 2 × 2 map pixels exactly. The map
    # agrees with it on about half the pixels; 255 is nodata, 99 a code of no class.
    rng = np.random.default_rng(2)
    coarse = rng.choice(np.array([10, 20, 30], dtype=np.uint8), (SIZE // 2, SIZE // 2))
    coarse[8:12, 8:12] = 255
    coarse[15, :] = 99
    truth = np.kron(coarse, np.ones((2, 2), dtype=np.uint8))
    agree = (rng.random((SIZE, SIZE)) < 0.5) & (truth < 99) & (class_map > 0)
    class_map[agree] = truth[agree] // 10
    write_raster(tmp_path / "map.tif", class_map, nodata=0)
    transform = Affine(2.0, 0.0, X0, 0.0, -2.0, Y0)
    write_raster(tmp_path / "truth.tif", coarse, transform=transform, nodata=255)

    scores = evaluate_map(
        tmp_path / "map.tif",
        tmp_path / "truth.tif",
        1,
        value_lookup(MAP_VALUES),
        value_lookup(TRUTH_CODES),
        3,
        block=16,  # blocks that do not divide the map
    )

    expected = scores_by_hand(class_map, truth)
    assert_same_scores(scores, expected)
    assert expected.pixels == SIZE * SIZE - 36 - 8 * 8 - 2 * SIZE  # nodata and code 99 left out
    assert 0.55 < expected.accuracy < 0.8  # neither trivial nor perfect


def test_a_map_is_scored_against_truth_on_another_crs_read_nearest(tmp_path: Path) -> None:
    class_map = write_class_map(tmp_path / "map.tif")
    # Ground truth at 2 m in CONUS Albers, beyond the map on every side.
    transform = Affine(2.0, 0.0, 1_338_375.0 - 20.0, 0.0, -2.0, 2_050_081.0 + 20.0)
    codes = np.random.default_rng(3).choice(np.array([10, 20, 30], dtype=np.uint8), (45, 45))
    write_raster(tmp_path / "truth.tif", codes, CONUS_ALBERS, transform, nodata=0)
    truth = np.zeros((SIZE, SIZE), dtype=np.uint8)
    with (
        rasterio.open(tmp_path / "truth.tif") as source,
        rasterio.open(tmp_path / "map.tif") as target,
    ):
        reproject(
            rasterio.band(source, 1),
            truth,
            dst_transform=target.transform,
            dst_crs=target.crs,
            resampling=Resampling.nearest,
        )
    # Make the map right on two thirds of its pixels, so the scores are far from chance.
    right = (np.arange(SIZE * SIZE).reshape(SIZE, SIZE) % 3 != 0) & (class_map > 0)
    class_map[right] = truth[right] // 10
    write_raster(tmp_path / "map.tif", class_map, nodata=0)

    scores = evaluate_map(
        tmp_path / "map.tif",
        tmp_path / "truth.tif",
        1,
        value_lookup(MAP_VALUES),
        value_lookup(TRUTH_CODES),
        3,
    )

    assert (truth > 0).all()  # the truth covers the map: every map pixel with data counts
    expected = scores_by_hand(class_map, truth)
    assert expected.pixels == SIZE * SIZE - 36
    assert scores.pixels == expected.pixels
    # The same GDAL nearest both ways: equal here; a pixel or two may move with GDAL versions.
    assert_same_scores(scores, expected, tolerance=2e-3)
    assert 0.7 < scores.accuracy < 0.85


def test_pooled_scores_sum_the_confusions_and_the_truth() -> None:
    first = Scores.from_confusion(np.array([[5, 1], [0, 4]]), truth_pixels=12)
    second = Scores.from_confusion(np.array([[0, 0], [2, 8]]), truth_pixels=10)
    pooled = Scores.pooled([first, second])
    assert pooled.confusion == ((5, 1), (2, 12))
    assert pooled.accuracy == pytest.approx(17 / 20)
    assert pooled.truth_pixels == 22
    assert pooled.coverage == pytest.approx(20 / 22)
    assert first.coverage == pytest.approx(10 / 12)
    assert np.isnan(Scores.from_confusion(np.eye(2, dtype=np.int64)).coverage)  # not counted
    with pytest.raises(ValueError, match="nothing"):
        Scores.pooled([])
