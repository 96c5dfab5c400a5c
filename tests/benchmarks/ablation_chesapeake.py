"""Ablation of plug-and-play land-cover inference on the real Chesapeake patches.

    python tests/benchmarks/ablation_chesapeake.py [--steps 200] [--unet-steps 200]
        [--out ablation.md]

Data: ``../shared/data/chesapeake/patches`` (see ``../shared/data/README.md``), eight 256 × 256
patches of 1 m NAIP with Chesapeake land cover and NLCD 2011. The shipped priors
``chesapeake-joint`` and ``chesapeake-labels`` were trained at 2 m on patches 1, 2, 3, 5 and 7
(the SOURCE); patches 0, 4 and 6 are held out (the TARGET). On the target only the imagery
(channels 0–3) and NLCD (channel 9) are inputs; its high-resolution labels (channel 8) are
read by :func:`load_truth` alone, which only :func:`score` calls, after inference.

- Classes: the ``chesapeake-4`` scheme (Chesapeake codes 4, 5, 6 → impervious, 15 →
  unlabelled).
- Weak labels: NLCD → P(class | NLCD) from the shipped Pittsburgh PA EnviroAtlas
  co-occurrence table (``geoppp/landcover/data/cooccurrence/pittsburgh_pa.csv``, Rolf et al.
  2022) folded into chesapeake-4 with the mean of the four shipped tables as fallback
  (``nlcd_code_table("pittsburgh_pa", scheme, "raw")``), then the Rolf et al. Gaussian blur
  (σ 31 px, radius 50 px) over each whole patch: exactly what
  ``tests/landcover/test_realdata_patches.py`` does.
- Label statistics (Malkin et al. 2019): class fractions of 32 × 32 m blocks per NLCD code,
  measured on the source patches only (NLCD code 0 dropped).
- Inference: :class:`geoppp.landcover.inference.PlugAndPlayModel` (the model the geo engine
  runs) on one batch of twelve 128 × 128 tiles (each patch cut in four; 64 × 64 cells at the
  prior's 2 m, its patch size), seed 0 for every row, its other options (``weak_detail``)
  at their defaults.
- U-Nets (issue 6's baselines beside geoppp): an smp U-Net (:class:`NetworkConfig`'s default,
  resnet18 encoder, no pretrained weights) trained by
  :func:`~geoppp.landcover.segmentation.train_network`, the loop of the ``train_segmentation``
  step, on random 128 × 128 windows of the patches in memory (:class:`ArraySampler`), as the
  demo's U-Nets (batch 8, 200 steps, lr 2e-3; ``--unet-steps``), seed 0, then applied to the
  whole target patches at 1 m by :class:`SegmentationModel`. Band normalisation: the
  statistics of the imagery it is trained on. Three training sets:

  - ``U-Net source-only``: the source patches' imagery and high-resolution labels;
  - ``U-Net weak labels``: the target's imagery and weak-label argmax;
  - ``geoppp distilled``: the target's imagery and the class maps of a geoppp row of this
    run, the teacher: ``--teacher``, by default :data:`TEACHER`, the configuration the demo
    ships (named in advance, not picked by the target's labels).
- Class colour models (``colour_model`` constraint and ``colour_refinement`` readout, as in
  the demo); ``weak labels + colour readout`` is that readout on the weak labels alone.
- Scores: accuracy, mIoU and per-class IoU over the three target patches pooled, unlabelled
  pixels skipped.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from geoppp.diffusion import load_checkpoint
from geoppp.diffusion.checkpoint import LoadedCheckpoint
from geoppp.diffusion.ppp import PlugAndPlayConfig, RefineConfig, TimeScheduleConfig
from geoppp.landcover.colour_model import ColourRefinementConfig
from geoppp.landcover.colour_vote import colour_cluster_vote
from geoppp.landcover.inference import ConstraintsConfig, PlugAndPlayModel
from geoppp.landcover.label_statistics import LabelStatistics, block_fractions
from geoppp.landcover.mapping import weak_colour_model
from geoppp.landcover.metrics import Scores, confusion_matrix
from geoppp.landcover.nlcd import nlcd_code_table
from geoppp.landcover.normalisation import array_statistics
from geoppp.landcover.priors import prior_path
from geoppp.landcover.schemes import ClassSchemeConfig, load_scheme
from geoppp.landcover.segmentation import (
    IGNORE,
    LoadedNetwork,
    NetworkConfig,
    SegmentationMetadata,
    SegmentationModel,
    SegmentationTrainingConfig,
    build_network,
    train_network,
)
from geoppp.landcover.segmentation_windows import ArraySampler
from geoppp.landcover.weak_labels import Blur, CodeTable, blur_probabilities

PATCHES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "chesapeake" / "patches"
SOURCE = (1, 2, 3, 5, 7)
"""Patches the shipped Chesapeake priors were trained on."""
TARGET = (0, 4, 6)
"""Held-out patches: inputs are their imagery and NLCD; their labels only score."""
IMAGE, LABELS, NLCD = slice(0, 4), 8, 9  # channels of a patch (../shared/data/README.md)
SCHEME = "chesapeake-4"
TABLE = "pittsburgh_pa"
BLUR = Blur(sigma=31.0, radius=50)
STATISTICS_CELL = 32
"""Side of a label-statistics block, in 1 m pixels (= metres)."""
TILE = 128
"""Side of a tile in 1 m pixels: 64 cells of 2 m, the priors' patch size."""
SEED = 0
FULL = ConstraintsConfig(
    image=1.0, weak_kl=1.0, statistics=1.0, clusters=1.0, pool=8, cluster_radius=8
)
"""The full joint-prior constraint set; the ablation rows switch terms off from it."""
UNET = NetworkConfig()
UNET_TRAINING = SegmentationTrainingConfig(patch_size=128, batch_size=8, steps=200, lr=2e-3)
"""As the demo's U-Nets (``pipelines/demo-transfer.yaml``)."""
UNETS = ("unet-source", "unet-weak", "unet-distilled")
COLOUR_READOUT = ColourRefinementConfig(iterations=5, pseudo_count=1000)
"""The demo's colour readout (pipelines/demo-transfer.yaml)."""
TEACHER = "joint, colour model + readout"
"""The row ``geoppp distilled`` learns from by default: the configuration the demo ships."""
"""Variant kinds of the U-Nets: trained on source labels, weak labels, a geoppp row's maps."""


@dataclass(frozen=True)
class Inputs:
    """What inference may see of one patch: imagery and NLCD-derived weak labels."""

    patch: int
    origin: tuple[int, int]
    """Row and column of the patch's top left in its NAIP tile (index.csv), for tile seeds."""
    image: np.ndarray
    """(4, H, W) float32 NAIP R, G, B, NIR, 0–255."""
    codes: np.ndarray
    """(H, W) int32 NLCD 2011 codes."""
    weak: np.ndarray
    """(K, H, W) float32 P(class | NLCD), blurred; NaN where unlabelled."""
    labelled: np.ndarray
    """(H, W) bool: pixels with a weak label."""
    valid: np.ndarray
    """(H, W) bool: pixels with imagery (not all bands 0)."""


@dataclass(frozen=True)
class Variant:
    """One row of the ablation: a baseline or a plug-and-play run."""

    name: str
    kind: str
    """``weak-argmax``, ``weak-colour``, ``colour-vote``, one of :data:`UNETS`, or the
    prior's name."""
    optimiser: PlugAndPlayConfig | None = None
    constraints: ConstraintsConfig | None = None
    colour_refinement: ColourRefinementConfig | None = None
    training: SegmentationTrainingConfig | None = None
    """How a U-Net row's network is trained."""

    @property
    def geoppp(self) -> bool:
        return self.optimiser is not None


@dataclass(frozen=True)
class UnetRun:
    """How a U-Net row's network was made and used."""

    labels: str
    """What it was trained on."""
    train_seconds: float
    predict_seconds: float


@dataclass(frozen=True)
class Row:
    """A variant's scores over the target patches pooled, and its run time."""

    variant: Variant
    scores: Scores
    seconds: float
    maps: list[np.ndarray] = field(repr=False)
    """One (H, W) int64 class map per target patch (-1: no prediction)."""
    unet: UnetRun | None = None
    """A U-Net row's training labels and times (``seconds`` adds reading its labels)."""


@dataclass(frozen=True)
class Ablation:
    rows: list[Row]
    statistics: LabelStatistics
    class_names: list[str]
    steps: int
    target_pixels: int
    """Labelled high-resolution pixels of the target patches (what the scores count)."""


def scheme() -> ClassSchemeConfig:
    return load_scheme(SCHEME)


def class_of_code(classes: ClassSchemeConfig) -> np.ndarray:
    """Chesapeake code → class index (-1: unlabelled, e.g. 15 no data)."""
    lookup = np.full(256, -1, dtype=np.int64)
    for index, item in enumerate(classes.classes):
        lookup[item.chesapeake] = index
    return lookup


def weak_table(classes: ClassSchemeConfig) -> CodeTable:
    """P(class | raw NLCD code): the Pittsburgh PA table folded into the scheme."""
    return nlcd_code_table(TABLE, classes, "raw")


def patch_file(patch_dir: Path, patch: int) -> Path:
    matches = sorted(patch_dir.glob(f"*-{patch}.npz"))
    if len(matches) != 1:
        raise FileNotFoundError(f"expected one patch {patch} in {patch_dir}, found {matches}")
    return matches[0]


def patch_origins(patch_dir: Path) -> dict[int, tuple[int, int]]:
    """Each patch's (row, col) in its NAIP tile, from index.csv."""
    with (patch_dir / "index.csv").open() as stream:
        return {
            int(row["patch_id"]): (int(row["y_coord"]), int(row["x_coord"]))
            for row in csv.DictReader(stream)
        }


def load_inputs(patch_dir: Path, patch: int, table: CodeTable, blur: Blur | None) -> Inputs:
    """Imagery and weak labels of a patch; its high-resolution labels are not read."""
    data = np.load(patch_file(patch_dir, patch))["arr_0"][0]
    image = np.ascontiguousarray(data[IMAGE], dtype=np.float32)
    codes = data[NLCD].astype(np.int32)
    weak = table(codes.astype(np.uint8))
    labelled = np.isfinite(weak).all(axis=0)
    if blur is not None:
        weak = blur_probabilities(weak, labelled, blur)
    weak = np.where(labelled, weak, np.nan).astype(np.float32)
    valid = (image != 0).any(axis=0)
    origin = patch_origins(patch_dir).get(patch, (0, 0))
    return Inputs(patch, origin, image, codes, weak, labelled, valid)


def load_truth(patch_dir: Path, patch: int, lookup: np.ndarray) -> np.ndarray:
    """(H, W) int64 high-resolution class index of a patch (-1: unlabelled). Scoring only."""
    data = np.load(patch_file(patch_dir, patch))["arr_0"][0]
    return lookup[data[LABELS].astype(np.int64)]


def source_statistics(
    patch_dir: Path, classes: ClassSchemeConfig, patches: Sequence[int] = SOURCE
) -> LabelStatistics:
    """Label statistics of NLCD codes over ``patches`` (the source), NLCD code 0 dropped."""
    lookup = class_of_code(classes)
    codes, fractions = [], []
    for patch in patches:
        data = np.load(patch_file(patch_dir, patch))["arr_0"][0]
        labels = lookup[data[LABELS].astype(np.int64)]
        block_codes, block_mix = block_fractions(
            data[NLCD].astype(np.int64), labels, len(classes.classes), STATISTICS_CELL
        )
        codes.append(block_codes)
        fractions.append(block_mix)
    all_codes, all_fractions = np.concatenate(codes), np.concatenate(fractions)
    keep = all_codes != 0
    return LabelStatistics.from_blocks(all_codes[keep], all_fractions[keep], STATISTICS_CELL)


def tiles_of(inputs: Sequence[Inputs]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """One batch of all patches' ``TILE`` × ``TILE`` tiles, patch by patch, row-major."""
    image, weak, labelled, origin, codes, valid = [], [], [], [], [], []
    for item in inputs:
        height, width = item.valid.shape
        for row in range(0, height, TILE):
            for col in range(0, width, TILE):
                window = (slice(row, row + TILE), slice(col, col + TILE))
                image.append(item.image[(slice(None), *window)])
                weak.append(item.weak[(slice(None), *window)])
                labelled.append(item.labelled[window])
                codes.append(item.codes[window])
                valid.append(item.valid[window])
                origin.append((item.origin[0] + row, item.origin[1] + col))
    arrays = {
        "image": np.stack(image).astype(np.float32),
        "weak_labels": np.stack(weak).astype(np.float32),
        "labelled": np.stack(labelled),
        "origin": np.array(origin, dtype=np.int64),
        "codes": np.stack(codes).astype(np.int32),
    }
    return arrays, np.stack(valid)


def untile(tiles: np.ndarray, inputs: Sequence[Inputs]) -> list[np.ndarray]:
    """Inverse of :func:`tiles_of` for (B, K, TILE, TILE) outputs: one (K, H, W) per patch."""
    out, index = [], 0
    for item in inputs:
        height, width = item.valid.shape
        patch = np.full((tiles.shape[1], height, width), np.nan, dtype=np.float32)
        for row in range(0, height, TILE):
            for col in range(0, width, TILE):
                patch[:, row : row + TILE, col : col + TILE] = tiles[index]
                index += 1
        out.append(patch)
    return out


def class_map(probabilities: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(K, H, W) probabilities (NaN: none) → (H, W) int64 argmax, -1 where none."""
    known = valid & np.isfinite(probabilities).all(axis=0)
    return np.where(known, np.argmax(np.nan_to_num(probabilities, nan=-1.0), axis=0), -1)


def weak_argmax(inputs: Sequence[Inputs]) -> list[np.ndarray]:
    return [class_map(item.weak, item.valid) for item in inputs]


def colour_vote(inputs: Sequence[Inputs]) -> list[np.ndarray]:
    return [
        class_map(
            colour_cluster_vote(item.image, item.weak, item.valid, n_clusters=8, seed=SEED),
            item.valid,
        )
        for item in inputs
    ]


def weak_colour(inputs: Sequence[Inputs]) -> list[np.ndarray]:
    """The weak labels read out through per-tile class colour models, on the same tiles as
    the plug-and-play rows."""
    arrays, valid = tiles_of(inputs)
    probabilities = untile(weak_colour_model(COLOUR_READOUT)(arrays, valid), inputs)
    return [class_map(p, item.valid) for p, item in zip(probabilities, inputs, strict=True)]


def plug_and_play(
    prior: LoadedCheckpoint,
    inputs: Sequence[Inputs],
    statistics: LabelStatistics,
    variant: Variant,
) -> list[np.ndarray]:
    """Class maps of the patches from one batched run of the geo engine's model."""
    assert variant.optimiser is not None and variant.constraints is not None
    model = PlugAndPlayModel(
        prior,
        pixel_size=1.0,
        optimiser=variant.optimiser,
        constraints=variant.constraints,
        seed=SEED,
        device="cpu",
        statistics=(statistics, float(STATISTICS_CELL)),
        colour_refinement=variant.colour_refinement,
    )
    arrays, valid = tiles_of(inputs)
    probabilities = untile(model(arrays, valid), inputs)
    return [class_map(p, item.valid) for p, item in zip(probabilities, inputs, strict=True)]


def source_training(
    patch_dir: Path, classes: ClassSchemeConfig
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Imagery and high-resolution labels of the source patches (``IGNORE``: unlabelled or
    nodata), for the source-only U-Net."""
    lookup = class_of_code(classes)
    images, labels = [], []
    for patch in SOURCE:
        data = np.load(patch_file(patch_dir, patch))["arr_0"][0]
        image = np.ascontiguousarray(data[IMAGE], dtype=np.float32)
        truth = lookup[data[LABELS].astype(np.int64)]
        images.append(image)
        labels.append(np.where((image != 0).any(axis=0), truth, IGNORE))
    return images, labels


def train_unet(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    training: SegmentationTrainingConfig,
    classes: ClassSchemeConfig,
    described: str,
) -> tuple[SegmentationModel, float]:
    """A U-Net trained on ``images`` (4, H, W) and ``labels`` (H, W; ``IGNORE``: none) with
    the ``train_segmentation`` step's loop, ready to map; and its training seconds."""
    normalisation = array_statistics(images, [(image != 0).any(axis=0) for image in images])
    sampler = ArraySampler(images, labels, training.patch_size, training.batch_size, normalisation)
    n_classes = len(classes.classes)
    network = build_network(UNET, len(images[0]), n_classes)
    result = train_network(network, sampler, training, n_classes)
    bands = tuple(range(1, len(images[0]) + 1))
    metadata = SegmentationMetadata(
        UNET, tuple(classes.names), bands, normalisation, 1.0, described, training.steps
    )
    # Held in memory: the path only names it.
    loaded = LoadedNetwork(Path(described), result.network, metadata)
    return SegmentationModel(loaded), result.seconds


def segment(model: SegmentationModel, inputs: Sequence[Inputs]) -> list[np.ndarray]:
    """Class maps of the whole patches, in one batch."""
    arrays = {"image": np.stack([item.image for item in inputs])}
    probabilities = model(arrays, np.stack([item.valid for item in inputs]))
    return [class_map(p, item.valid) for p, item in zip(probabilities, inputs, strict=True)]


def teacher_row(rows: Sequence[Row], name: str) -> Row:
    """The geoppp row whose maps are distilled."""
    [row] = [row for row in rows if row.variant.geoppp and row.variant.name == name]
    return row


def score(
    maps: Sequence[np.ndarray], patch_dir: Path, patches: Sequence[int], n_classes: int
) -> Scores:
    """Pooled scores against the high-resolution labels (read here, after inference)."""
    lookup = class_of_code(scheme())
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    for predicted, patch in zip(maps, patches, strict=True):
        truth = load_truth(patch_dir, patch, lookup)
        # A pixel with no prediction counts as wrong, not as skipped: the class after the last.
        missed = np.where(predicted >= 0, predicted, n_classes)
        full = confusion_matrix(missed, truth, n_classes + 1)
        if full[:, n_classes].any():
            print(f"patch {patch}: {int(full[:, n_classes].sum())} labelled px unpredicted")
        confusion += confusion_matrix(predicted, truth, n_classes)
    return Scores.from_confusion(confusion)


def variants(steps: int, unet: SegmentationTrainingConfig = UNET_TRAINING) -> list[Variant]:
    """The ablation's rows, in order."""
    base = PlugAndPlayConfig(steps=steps, lr=5e-3)
    off = base.model_copy(update={"prior_weight": 0.0})
    labels = ConstraintsConfig(
        image=0.0, weak_kl=1.0, statistics=1.0, clusters=1.0, pool=8, cluster_radius=8
    )
    tenth = FULL.model_copy(
        update={name: 0.1 for name in ("image", "weak_kl", "statistics", "clusters")}
    )
    power = base.model_copy(
        update={"time_schedule": TimeScheduleConfig(kind="power", t_max=300, power=2)}
    )
    refined = base.model_copy(update={"refine": RefineConfig(t=150, steps=30)})
    coloured = FULL.model_copy(update={"colour_model": 3.0})
    labels_coloured = labels.model_copy(update={"colour_model": 3.0})
    joint, label_only = "chesapeake-joint", "chesapeake-labels"

    def without(term: str) -> ConstraintsConfig:
        return FULL.model_copy(update={term: 0.0})

    return [
        Variant("weak-label argmax", "weak-argmax"),
        Variant("colour-cluster vote (k=8)", "colour-vote"),
        Variant("U-Net source-only", "unet-source", training=unet),
        Variant("U-Net weak labels", "unet-weak", training=unet),
        Variant("joint, full", joint, base, FULL),
        Variant("joint, prior off", joint, off, FULL),
        Variant("joint, no image", joint, base, without("image")),
        Variant("joint, no weak_kl", joint, base, without("weak_kl")),
        Variant("joint, no statistics", joint, base, without("statistics")),
        Variant("joint, no clusters", joint, base, without("clusters")),
        Variant(
            "joint, nmi instead of clusters",
            joint,
            base,
            FULL.model_copy(update={"clusters": 0.0, "nmi": 1.0}),
        ),
        Variant("labels, full", label_only, base, labels),
        Variant("labels, prior off", label_only, off, labels),
        Variant("joint, weights ×0.1", joint, base, tenth),
        Variant("joint, power t schedule (300, ^2)", joint, power, FULL),
        Variant("joint, refine (t 150, 30 steps)", joint, refined, FULL),
        Variant("weak labels + colour readout", "weak-colour"),
        Variant(TEACHER, joint, base, coloured, COLOUR_READOUT),
        Variant("joint, colour model + readout, prior off", joint, off, coloured, COLOUR_READOUT),
        Variant(
            "labels, colour model + readout", label_only, base, labels_coloured, COLOUR_READOUT
        ),
        Variant("geoppp distilled", "unet-distilled", training=unet),
    ]


def run_variant(
    variant: Variant,
    inputs: Sequence[Inputs],
    statistics: LabelStatistics,
    priors: dict[str, LoadedCheckpoint],
) -> list[np.ndarray]:
    if variant.kind == "weak-argmax":
        return weak_argmax(inputs)
    if variant.kind == "colour-vote":
        return colour_vote(inputs)
    if variant.kind == "weak-colour":
        return weak_colour(inputs)
    if variant.kind not in priors:
        priors[variant.kind] = load_checkpoint(prior_path(variant.kind))
    return plug_and_play(priors[variant.kind], inputs, statistics, variant)


def run_unet(
    variant: Variant,
    inputs: Sequence[Inputs],
    patch_dir: Path,
    rows: Sequence[Row],
    teacher: str,
) -> tuple[list[np.ndarray], UnetRun]:
    """Train a U-Net row's network on its labels and map the target patches with it."""
    assert variant.training is not None
    classes = scheme()
    if variant.kind == "unet-source":
        images, labels = source_training(patch_dir, classes)
        described = f"high-resolution labels of source patches {list(SOURCE)}"
    else:
        images = [item.image for item in inputs]
        if variant.kind == "unet-weak":
            labels, described = weak_argmax(inputs), "weak-label argmax of the target"
        else:
            taught = teacher_row(rows, teacher)
            labels, described = taught.maps, f"maps of {taught.variant.name!r} on the target"
    model, train_seconds = train_unet(images, labels, variant.training, classes, described)
    started = time.perf_counter()
    maps = segment(model, inputs)
    return maps, UnetRun(described, train_seconds, time.perf_counter() - started)


def run_ablation(
    patch_dir: Path = PATCHES,
    steps: int = 200,
    names: Sequence[str] | None = None,
    report: Callable[[Row], None] | None = None,
    unet: SegmentationTrainingConfig = UNET_TRAINING,
    teacher: str = TEACHER,
) -> Ablation:
    """Run the ablation's rows (all, or those named) on the target patches.

    The statistics and every input are built before any target label is read; the labels
    are read by :func:`score` after each row's maps are made. ``unet``: how the U-Net rows
    are trained; ``teacher``: the geoppp row ``geoppp distilled`` learns from.
    """
    classes = scheme()
    table = weak_table(classes)
    statistics = source_statistics(patch_dir, classes)
    inputs = [load_inputs(patch_dir, patch, table, BLUR) for patch in TARGET]
    chosen = variants(steps, unet)
    if names is not None:
        unknown = set(names) - {variant.name for variant in chosen}
        if unknown:
            raise ValueError(f"unknown ablation rows {sorted(unknown)}")
        chosen = [variant for variant in chosen if variant.name in names]
    teachers = [v for v in chosen if v.geoppp and v.name == teacher]
    if any(variant.kind == "unet-distilled" for variant in chosen) and not teachers:
        raise ValueError(f"geoppp distilled needs its teacher row ({teacher})")
    priors: dict[str, LoadedCheckpoint] = {}
    rows: list[Row] = []
    for variant in chosen:
        started = time.perf_counter()
        unet_run = None
        if variant.kind in UNETS:
            maps, unet_run = run_unet(variant, inputs, patch_dir, rows, teacher)
        else:
            maps = run_variant(variant, inputs, statistics, priors)
        seconds = time.perf_counter() - started
        scores = score(maps, patch_dir, TARGET, len(classes.classes))
        row = Row(variant, scores, seconds, maps, unet_run)
        rows.append(row)
        if report is not None:
            report(row)
    target_pixels = sum(
        int((load_truth(patch_dir, patch, class_of_code(classes)) >= 0).sum()) for patch in TARGET
    )
    return Ablation(rows, statistics, classes.names, steps, target_pixels)


def _number(value: float) -> str:
    return "–" if not np.isfinite(value) else f"{value:.3f}"


def markdown(ablation: Ablation) -> str:
    """The ablation as a Markdown table, then what each U-Net row was trained on."""
    header = ["variant", "accuracy", "mIoU", *(f"IoU {name}" for name in ablation.class_names)]
    header.append("seconds")
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    for row in ablation.rows:
        cells = [row.variant.name, _number(row.scores.accuracy), _number(row.scores.miou)]
        cells += [_number(value) for value in row.scores.iou]
        cells.append(
            f"{row.seconds:.1f}"
            if row.unet is None
            else f"{row.seconds:.1f} (train {row.unet.train_seconds:.1f}, "
            f"predict {row.unet.predict_seconds:.1f})"
        )
        lines.append("| " + " | ".join(cells) + " |")
    notes = [
        f"- {row.variant.name}: trained on {row.unet.labels}" for row in ablation.rows if row.unet
    ]
    return "\n".join(lines + (["", *notes] if notes else []))


def to_json(ablation: Ablation) -> dict[str, Any]:
    """JSON-able results: settings, statistics and each row's scores and confusion."""

    def finite(value: float) -> float | None:
        return float(value) if np.isfinite(value) else None

    return {
        "target_patches": list(TARGET),
        "source_patches": list(SOURCE),
        "steps": ablation.steps,
        "scheme": SCHEME,
        "weak_labels": {"table": TABLE, "blur_sigma": BLUR.sigma, "blur_radius": BLUR.radius},
        "tile": TILE,
        "seed": SEED,
        "target_pixels": ablation.target_pixels,
        "statistics": ablation.statistics.to_dict(),
        "classes": ablation.class_names,
        "rows": [
            {
                "name": row.variant.name,
                "kind": row.variant.kind,
                "optimiser": None
                if row.variant.optimiser is None
                else row.variant.optimiser.model_dump(),
                "constraints": None
                if row.variant.constraints is None
                else row.variant.constraints.model_dump(),
                "accuracy": finite(row.scores.accuracy),
                "miou": finite(row.scores.miou),
                "iou": [finite(value) for value in row.scores.iou],
                "pixels": row.scores.pixels,
                "confusion": [list(counts) for counts in row.scores.confusion],
                "seconds": round(row.seconds, 2),
                "unet": None
                if row.unet is None
                else {
                    "labels": row.unet.labels,
                    "training": None
                    if row.variant.training is None
                    else row.variant.training.model_dump(),
                    "network": UNET.model_dump(),
                    "train_seconds": round(row.unet.train_seconds, 2),
                    "predict_seconds": round(row.unet.predict_seconds, 2),
                },
            }
            for row in ablation.rows
        ],
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="Adam steps per run")
    parser.add_argument(
        "--unet-steps", type=int, default=UNET_TRAINING.steps, help="U-Net training steps"
    )
    parser.add_argument(
        "--teacher", default=TEACHER, help=f"geoppp row to distil (default: {TEACHER!r})"
    )
    parser.add_argument("--out", type=Path, default=Path("ablation.md"), help="Markdown table")
    parser.add_argument("--json", type=Path, default=None, help="default: --out with .json")
    parser.add_argument("--patches", type=Path, default=PATCHES, help="Chesapeake patches")
    parser.add_argument("--rows", nargs="*", default=None, help="only these rows, by name")
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="torch CPU threads (on a loaded 2-core machine 1 can be several times faster)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    def progress(row: Row) -> None:
        print(
            f"{row.variant.name}: accuracy {row.scores.accuracy:.4f}, "
            f"mIoU {row.scores.miou:.4f}, {row.seconds:.1f} s",
            flush=True,
        )

    unet = UNET_TRAINING.model_copy(update={"steps": args.unet_steps})
    ablation = run_ablation(args.patches, args.steps, args.rows, progress, unet, args.teacher)
    table = markdown(ablation)
    print(table)
    document = to_json(ablation)
    json_path = args.json if args.json is not None else args.out.with_suffix(".json")
    args.out.write_text(
        f"Plug-and-play ablation, Chesapeake patches {list(TARGET)} held out, "
        f"{ablation.steps} steps, U-Nets {args.unet_steps} steps, "
        f"{ablation.target_pixels} labelled px\n\n{table}\n"
    )
    json_path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {args.out} and {json_path}")


if __name__ == "__main__":
    main()
