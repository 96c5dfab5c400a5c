"""Weak labels on the real Chesapeake patches: NLCD → co-occurrence prior → argmax."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geoppp.landcover.metrics import Scores, confusion_matrix
from geoppp.landcover.nlcd import nlcd_code_table
from geoppp.landcover.schemes import load_scheme
from geoppp.landcover.weak_labels import Blur, blur_probabilities

pytestmark = pytest.mark.realdata

LABELS, NLCD = 8, 9  # channels of the patches (see ../shared/data/README.md)


def weak_argmax_scores(patches: list[Path], blur: Blur | None) -> Scores:
    scheme = load_scheme("chesapeake-4")
    table = nlcd_code_table("pittsburgh_pa", scheme, "raw")
    class_of_code = np.full(256, -1, dtype=np.int64)
    for index, item in enumerate(scheme.classes):
        class_of_code[item.chesapeake] = index
    confusion = np.zeros((len(scheme.classes),) * 2, dtype=np.int64)
    for path in patches:
        patch = np.load(path)["arr_0"][0]
        probabilities = table(patch[NLCD].astype(np.uint8))
        labelled = ~np.isnan(probabilities[0])
        if blur is not None:
            probabilities = blur_probabilities(probabilities, labelled, blur)
        predicted = np.where(labelled, np.argmax(np.nan_to_num(probabilities), axis=0), -1)
        truth = class_of_code[patch[LABELS].astype(np.int64)]
        confusion += confusion_matrix(predicted, truth, len(scheme.classes))
    return Scores.from_confusion(confusion)


def test_nlcd_prior_argmax_on_real_chesapeake_patches(shared_data: Path) -> None:
    patches = sorted((shared_data / "chesapeake" / "patches").glob("*.npz"))
    assert len(patches) == 8
    plain = weak_argmax_scores(patches, None)
    blurred = weak_argmax_scores(patches, Blur(sigma=31.0, radius=50))
    for name, scores in (("no blur", plain), ("blur 101/31", blurred)):
        print(
            f"Chesapeake patches, NLCD → Pittsburgh co-occurrence → argmax ({name}): "
            f"accuracy {scores.accuracy:.3f}, mIoU {scores.miou:.3f}, "
            f"IoU {[round(v, 3) for v in scores.iou]}, {scores.pixels} px"
        )
    # Mostly forest and field: the weak argmax gets most pixels right, but not all.
    assert 0.6 < blurred.accuracy < 0.98
    assert blurred.pixels > 0.95 * 8 * 256 * 256
