"""The paper's use in one call: from a labelled source region to a mapped target region.

What the source gives is derived once and cached: its label statistics (per NLCD code, the
class fractions of 32 m blocks; when the source has a code raster), a segmentation network
trained on its imagery and labels (the learned likelihood), and, when no shipped prior fits
the classes, a label-only prior trained on its labels. The target is then mapped by
plug-and-play inference with :data:`PLUG_AND_PLAY`, the settings measured best (README,
"What it achieves"). Both halves are ordinary pipelines, built in memory and run by
:func:`geoppp.pipeline.run_pipeline_config`, so a user can write either one as YAML.

The cache is a folder per source and recipe, named by a hash of the source region, its
files' identities (path, size, modification time) and the recipe: a second run with the same
source finds it and trains nothing.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geoppp.atomic import write_text_atomically
from geoppp.config import PipelineConfig, RegionConfig, load_region, validate_document
from geoppp.diffusion.metadata import checkpoint_layout
from geoppp.errors import ConfigError
from geoppp.geo.tilestore import file_identity
from geoppp.landcover.priors import prior_path, shipped_priors
from geoppp.pipeline import Overrides, run_pipeline_config
from geoppp.region import for_tile

if TYPE_CHECKING:
    from geoppp.landcover.mapping import MapResult

Log = Callable[[str], None]

PLUG_AND_PLAY: dict[str, Any] = {
    "optimiser": {"steps": 100, "lr": 5.0e-3, "time_schedule": {"kind": "reference"}},
    "constraints": {
        "image": 0.0,
        "weak_kl": 0.1,
        "pool": 8,
        "statistics": 0.1,
        "colour_model": 3.0,
        # The source network counts in the readout (network_readout 1), not at the cells:
        # there it cost 0.8 points on a Chesapeake patch, and more where the network is wrong.
        "network": 0.0,
    },
    "colour_refinement": {"iterations": 5, "pseudo_count": 1000},
}
"""The plug-and-play settings that transfer and ``segment_region`` use by default: the best
measured on the demo and the Chesapeake patches (README); the statistics and network terms
count only where there are statistics and a network."""
NETWORK_TRAINING: dict[str, Any] = {"patch_size": 96, "batch_size": 8, "steps": 200, "lr": 2.0e-3}
"""The source network's training: the demo's U-Net budget, about a minute on 2 cores."""
PRIOR_TRAINING: dict[str, Any] = {
    "patches": {"mode": "labels", "gsd": 2.0, "size": 64},
    "denoiser": {
        "base_channels": 32,
        "channel_multipliers": [1, 2, 2],
        "layers_per_block": 1,
        "attention_resolutions": [16],
        "norm_groups": 8,
    },
    "training": {"steps": 3000, "batch_size": 16, "lr": 2.0e-4, "checkpoint_every": 250},
}
"""A label-only prior trained on the source when no shipped prior has its classes: the
shipped priors' recipe (hours on 2 CPU cores, minutes on a GPU; it resumes)."""
CELL_METRES = 32.0
"""Side of the label statistics' blocks: about one 30 m NLCD cell."""


@dataclass(frozen=True)
class SourceKnowledge:
    """What a source region gives to a transfer, with where it is cached."""

    folder: Path
    statistics: Path | None
    network: Path
    prior: str
    reused: bool


@dataclass
class TransferResult:
    """The maps a transfer made, what it used, and the seconds of each stage."""

    source: SourceKnowledge
    results: list[MapResult]
    seconds: dict[str, float] = field(default_factory=dict)


def transfer(
    source: Path,
    target: Path,
    class_map: Path,
    *,
    prior: str | None = None,
    probabilities: Path | None = None,
    cache: Path | None = None,
    settings: Mapping[str, Any] | None = None,
    network_training: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    batch_size: int = 25,
    progress: bool = True,
    log: Log = print,
) -> TransferResult:
    """Map ``target`` with what ``source`` teaches; see the module docstring.

    Args:
        source: region YAML with ``ground_truth`` (and, for label statistics, an ``nlcd``
            or ``class_codes`` weak-label source).
        target: region YAML with weak labels; same classes and bands as the source.
        class_map: the class map to write; ``{imagery}`` in it for several imagery files.
        prior: a shipped prior's name or a checkpoint; default a shipped prior with the
            target's classes (label-only first), else one trained on the source.
        probabilities: optional probabilities GeoTIFF, ``{imagery}`` as in ``class_map``.
        cache: where the source's statistics, network and prior are kept; default
            ``transfer-cache/`` beside the class map.
        settings: fields of the plug-and-play step that replace :data:`PLUG_AND_PLAY`'s.
        network_training: fields of the source network's training that replace
            :data:`NETWORK_TRAINING`'s (part of the cache's key).
        overwrite: replace existing maps.
        batch_size: tiles per model call (all on one worker thread, as torch uses every
            core).
    """
    started = time.perf_counter()
    source_region, target_region = load_region(source), load_region(target)
    check_compatible(source_region, target_region)
    if prior is not None:
        check_prior(prior, target_region)
    training = {**NETWORK_TRAINING, **(network_training or {})}
    folder = cache_folder(
        cache or class_map.parent / "transfer-cache", source_region, prior, training
    )
    knowledge, seconds = learn_source(
        source, source_region, target_region, folder, prior, training, progress, log
    )
    step = plug_and_play_step(
        knowledge.prior, target_region, settings, knowledge.statistics, knowledge.network
    )
    outputs = {"class_map": str(class_map)}
    if probabilities is not None:
        outputs["probabilities"] = str(probabilities)
    step.update(name="transfer", outputs=outputs)
    pipeline = validate_document(
        {
            "region": str(target),
            "execution": {"workers": 1, "batch_size": batch_size, "progress": progress},
            "steps": [step],
        },
        PipelineConfig,
        Path.cwd(),
        "transfer",
    )
    mapping_started = time.perf_counter()
    [report] = run_pipeline_config(pipeline, Overrides(overwrite=overwrite), log)
    seconds["mapping"] = time.perf_counter() - mapping_started
    seconds["total"] = time.perf_counter() - started
    return TransferResult(knowledge, report.results, seconds)


def check_compatible(source: RegionConfig, target: RegionConfig) -> None:
    """Refuse a source that cannot teach the target: other classes or band count, or no
    ground truth."""
    if source.ground_truth is None:
        raise ConfigError(
            f"source region {source.name} has no ground_truth: a transfer learns from a "
            "source with high-resolution labels; add `ground_truth` to it"
        )
    if list(source.classes.names) != list(target.classes.names):
        raise ConfigError(
            f"source region {source.name} has classes {list(source.classes.names)} but target "
            f"{target.name} has {list(target.classes.names)}; use one class scheme for both"
        )
    if len(source.imagery.bands) != len(target.imagery.bands):
        raise ConfigError(
            f"source region {source.name} gives {len(source.imagery.bands)} imagery band(s) "
            f"but target {target.name} gives {len(target.imagery.bands)}; give both the same "
            "bands in the same order"
        )


def check_prior(prior: str, target: RegionConfig) -> None:
    """Refuse a prior trained on other classes than the target's."""
    layout = checkpoint_layout(prior_path(prior))
    if list(layout.get("class_names") or []) != list(target.classes.names):
        raise ConfigError(
            f"prior {prior} was trained on classes {layout.get('class_names')} but region "
            f"{target.name} has {list(target.classes.names)}"
        )


def matching_prior(region: RegionConfig) -> str | None:
    """A shipped prior trained on ``region``'s classes: label-only first (a joint prior's
    image link was learned on another place's colours), then joint with its band count."""
    fitting = []
    for name in shipped_priors():
        layout = checkpoint_layout(prior_path(name))
        if list(layout.get("class_names") or []) != list(region.classes.names):
            continue
        if layout.get("mode") == "labels":
            fitting.append((0, name))
        elif len(layout.get("bands") or []) == len(region.imagery.bands):
            fitting.append((1, name))
    return min(fitting)[1] if fitting else None


def cache_folder(
    parent: Path, source: RegionConfig, prior: str | None, training: Mapping[str, Any]
) -> Path:
    """The cache folder of this source and recipe, inside ``parent``."""
    files = [
        file_identity(path)
        for imagery in source.imagery.paths
        for path in (
            imagery,
            *(for_tile(s.path, source, imagery) for s in source.weak_labels),
            *([for_tile(source.ground_truth.path, source, imagery)] if source.ground_truth else []),
        )
        if path.is_file()
    ]
    recipe = {
        "region": source.model_dump(mode="json"),
        "files": files,
        "network": dict(training),
        "prior": prior or PRIOR_TRAINING,
        "cell": CELL_METRES,
    }
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]
    return parent / f"{source.name}-{digest}"


def learn_source(
    path: Path,
    region: RegionConfig,
    target: RegionConfig,
    folder: Path,
    prior: str | None,
    training: Mapping[str, Any],
    progress: bool,
    log: Log,
) -> tuple[SourceKnowledge, dict[str, float]]:
    """The source's statistics, network and prior: from ``folder`` when it is complete,
    else made there by a pipeline on the source."""
    has_codes = any(s.kind in ("nlcd", "class_codes") for s in region.weak_labels)
    statistics = folder / "statistics.json" if has_codes else None
    network = folder / "network.safetensors"
    chosen = prior or matching_prior(target)
    trained_prior = folder / "prior.safetensors"
    done = folder / "done.json"
    if done.is_file():
        log(f"transfer: reusing what source {region.name} gave, cached in {folder}")
        recorded = json.loads(done.read_text())
        return SourceKnowledge(folder, statistics, network, recorded["prior"], True), {}
    folder.mkdir(parents=True, exist_ok=True)
    steps: list[dict[str, Any]] = []
    if statistics is not None:
        steps.append(
            {
                "name": "source-statistics",
                "kind": "label_statistics",
                "cell": CELL_METRES,
                "outputs": {"statistics": str(statistics), "overwrite": True},
            }
        )
    steps.append(
        {
            "name": "source-network",
            "kind": "train_segmentation",
            "labels": "ground_truth",
            "training": dict(training),
            "outputs": {"checkpoint": str(network), "overwrite": True},
        }
    )
    if chosen is None:
        log(
            f"transfer: no shipped prior has classes {list(target.classes.names)}; training a "
            f"label-only prior on source {region.name} ({PRIOR_TRAINING['training']['steps']} "
            "steps: hours on a CPU; rerun to resume if stopped)"
        )
        steps.append(
            {
                "name": "source-prior",
                "kind": "train_prior",
                **copy.deepcopy(PRIOR_TRAINING),
                "outputs": {"checkpoint": str(trained_prior)},
            }
        )
        chosen = str(trained_prior)
    log(f"transfer: learning from source {region.name} into {folder}")
    seconds: dict[str, float] = {}
    for step in steps:  # one pipeline each, so that each stage is timed alone
        pipeline = validate_document(
            {"region": str(path), "execution": {"progress": progress}, "steps": [step]},
            PipelineConfig,
            Path.cwd(),
            "transfer",
        )
        started = time.perf_counter()
        run_pipeline_config(pipeline, Overrides(overwrite=True), log)
        seconds[step["name"].removeprefix("source-")] = time.perf_counter() - started
    write_text_atomically(done, json.dumps({"prior": chosen, "seconds": seconds}, indent=2) + "\n")
    return SourceKnowledge(folder, statistics, network, chosen, False), seconds


def plug_and_play_step(
    prior: str,
    region: RegionConfig,
    settings: Mapping[str, Any] | None = None,
    statistics: Path | None = None,
    network: Path | None = None,
) -> dict[str, Any]:
    """A plug-and-play step (without ``name`` and ``outputs``) with the defaults measured
    best, :data:`PLUG_AND_PLAY`, on ``prior``: tiles that fill the prior's patch (a halo of
    an eighth of it), the statistics and network terms on where they are given (in the
    arguments or in ``settings``), and ``settings`` over it all (mappings merged by key)."""
    step: dict[str, Any] = {"kind": "plug_and_play", "prior": prior, **copy.deepcopy(PLUG_AND_PLAY)}
    if statistics is not None:
        step["statistics"] = str(statistics)
    if network is not None:
        step["network"] = str(network)
    extent = patch_extent(checkpoint_layout(prior_path(prior)), region)
    halo = extent // 8
    step.update(tile_size=extent - 2 * halo, halo=halo)
    for key, value in (settings or {}).items():
        merged = step.get(key)
        step[key] = {**merged, **value} if isinstance(merged, dict) else value
    for term in ("statistics", "network"):
        if step.get(term) is None and term not in (settings or {}).get("constraints", {}):
            step["constraints"][term] = 0.0  # nothing to bind it to
    return step


def patch_extent(layout: Mapping[str, Any], region: RegionConfig) -> int:
    """The prior's patch side in the imagery's pixels (its size × its GSD / the pixel)."""
    from geoppp.geo.raster import grid_of

    pixel = abs(grid_of(region.imagery.paths[0]).transform.a)
    return round(int(layout["size"]) * float(layout["gsd"]) / pixel)
