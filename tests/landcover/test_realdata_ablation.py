"""A reduced plug-and-play ablation on the real Chesapeake patches (held out: 0, 4, 6).

The full ablation is ``tests/benchmarks/ablation_chesapeake.py``; this runs four of its rows
with 20 steps and its three U-Net rows with 40 small training steps, and checks the scores
are well formed, the label statistics come from the source patches alone, the prior changes
the answer, and the U-Nets learn from their labels.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.typing import ArrayLike

from geoppp.landcover.label_statistics import LabelStatistics
from geoppp.landcover.metrics import Scores, confusion_matrix
from geoppp.landcover.segmentation import SegmentationTrainingConfig
from tests.benchmarks.ablation_chesapeake import (
    SOURCE,
    STATISTICS_CELL,
    TARGET,
    TEACHER,
    class_of_code,
    markdown,
    patch_file,
    run_ablation,
    scheme,
    source_statistics,
)

pytestmark = pytest.mark.realdata

ROWS = (
    "weak-label argmax",
    "colour-cluster vote (k=8)",
    "U-Net source-only",
    "U-Net weak labels",
    "joint, full",
    "joint, prior off",
    TEACHER,
    "geoppp distilled",
)
STEPS = 20
UNET = SegmentationTrainingConfig(patch_size=64, batch_size=4, steps=40, lr=2e-3)
"""A few seconds of training each on one thread."""


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread: on a shared 2-core machine two threads wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def measured_alone(patch_dir: Path, patches: tuple[int, ...]) -> LabelStatistics:
    """Statistics of ``patches`` through ``measure`` on one mosaic of them."""
    lookup = class_of_code(scheme())
    codes, labels = [], []
    for patch in patches:
        data = np.load(patch_file(patch_dir, patch))["arr_0"][0]
        codes.append(data[9].astype(np.int64))
        labels.append(lookup[data[8].astype(np.int64)])
    # Side by side: 256 is a multiple of the cell, so no block straddles two patches.
    stacked_codes, stacked_labels = np.concatenate(codes, axis=1), np.concatenate(labels, axis=1)
    assert (stacked_codes != 0).all()  # no NLCD code 0 to drop here
    return LabelStatistics.measure(stacked_codes, stacked_labels, 4, STATISTICS_CELL)


def kappa(confusion: ArrayLike) -> float:
    """Cohen's kappa: agreement beyond what the two maps' class frequencies give by chance."""
    counts = np.asarray(confusion, np.float64)
    total = counts.sum()
    chance = float((counts.sum(axis=0) * counts.sum(axis=1)).sum()) / total**2
    return (float(np.trace(counts)) / total - chance) / (1 - chance)


def agreement(a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
    """Confusion of two lists of class maps, pixel by pixel."""
    return np.sum([confusion_matrix(x, y, 4) for x, y in zip(a, b, strict=True)], axis=0)


def same(a: LabelStatistics, b: LabelStatistics) -> bool:
    return (
        a.codes == b.codes
        and a.cell == b.cell
        and np.allclose(a.mean, b.mean, rtol=0, atol=1e-12)
        and np.allclose(a.var, b.var, rtol=0, atol=1e-12)
    )


@pytest.mark.usefixtures("one_thread")
def test_reduced_ablation_on_held_out_chesapeake_patches(shared_data: Path) -> None:
    patch_dir = shared_data / "chesapeake" / "patches"
    ablation = run_ablation(patch_dir, steps=STEPS, names=ROWS, unet=UNET)
    print(f"\nReduced ablation, {STEPS} steps, patches {list(TARGET)} held out:")
    print(markdown(ablation))

    # Statistics from the source patches alone: those of patches 1, 2, 3, 5, 7 measured
    # independently, and not those of all eight patches (the held-out ones would change them).
    assert set(SOURCE).isdisjoint(TARGET)
    assert same(ablation.statistics, measured_alone(patch_dir, SOURCE))
    assert same(ablation.statistics, source_statistics(patch_dir, scheme(), SOURCE))
    assert not same(ablation.statistics, measured_alone(patch_dir, tuple(range(8))))

    lookup = class_of_code(scheme())
    labelled = sum(
        int((lookup[np.load(patch_file(patch_dir, p))["arr_0"][0, 8].astype(np.int64)] >= 0).sum())
        for p in TARGET
    )
    assert ablation.target_pixels == labelled > 0.95 * len(TARGET) * 256 * 256
    rows = {row.variant.name: row for row in ablation.rows}
    assert list(rows) == list(ROWS)
    for row in ablation.rows:
        assert 0 < row.scores.accuracy <= 1, row.variant.name
        assert row.scores.pixels == labelled, row.variant.name
        assert int(np.sum(row.scores.confusion)) == labelled
        assert np.isfinite(row.scores.miou) and 0 <= row.scores.miou <= 1
        assert all(m.shape == (256, 256) and (m >= 0).all() and (m < 4).all() for m in row.maps)
    # Mostly forest: every row gets most pixels right.
    assert rows["weak-label argmax"].scores.accuracy > 0.8
    assert rows["joint, full"].scores.accuracy > 0.8

    # The prior changes the answer: the maps with and without it differ.
    on, off = rows["joint, full"].maps, rows["joint, prior off"].maps
    changed = sum(int((a != b).sum()) for a, b in zip(on, off, strict=True))
    print(f"prior on vs off: {changed} of {len(TARGET) * 256 * 256} px differ")
    assert changed > 0

    # The U-Nets: trained on what their rows say, timed, and learning from it.
    unets = [row for row in ablation.rows if row.unet is not None]
    assert [row.variant.name for row in unets] == [
        "U-Net source-only",
        "U-Net weak labels",
        "geoppp distilled",
    ]
    for row in unets:
        assert row.unet is not None and row.unet.train_seconds > row.unet.predict_seconds > 0
        assert row.seconds >= row.unet.train_seconds + row.unet.predict_seconds
    # The teacher by default: the configuration the demo ships, named in advance.

    distilled = rows["geoppp distilled"]
    assert distilled.unet is not None
    assert distilled.unet.labels == f"maps of {TEACHER!r} on the target"
    # Trained on the source's real labels, it maps the target beyond its class frequencies
    # (an all-forest map, the majority, has kappa 0) and beyond that map's mIoU.
    source = rows["U-Net source-only"].scores
    forest = [np.ones((256, 256), np.int64)] * len(TARGET)
    truth = [
        lookup[np.load(patch_file(patch_dir, p))["arr_0"][0, 8].astype(np.int64)] for p in TARGET
    ]
    all_forest = agreement(forest, truth)
    print(f"source-only U-Net: kappa {kappa(source.confusion):.3f}")
    assert kappa(source.confusion) > 0.3
    assert source.miou > Scores.from_confusion(all_forest).miou
    # The weak-label and distilled U-Nets reproduce their (mostly forest) labels.
    weak_agreement = agreement(rows["U-Net weak labels"].maps, rows["weak-label argmax"].maps)
    teacher = agreement(distilled.maps, rows[TEACHER].maps)
    print(
        f"agreement: weak U-Net {np.trace(weak_agreement) / weak_agreement.sum():.3f}, "
        f"distilled {np.trace(teacher) / teacher.sum():.3f}"
    )
    assert np.trace(weak_agreement) / weak_agreement.sum() > 0.85
    assert np.trace(teacher) / teacher.sum() > 0.9
