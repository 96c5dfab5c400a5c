"""The public Python API: what scripts (beside QGIS, in notebooks) call, and what every
`geoppp` command is a thin layer over. Re-exported by the package: ``geoppp.segment_region``.

Each function takes paths as ``str`` or :class:`~pathlib.Path`, validates its settings with
the same models as the YAML pipelines (so a mistake reads the same either way), and raises
:class:`geoppp.errors.GeopppError` subclasses for anything a user can get wrong.

The examples run as tests (in a temporary folder); they use a small synthetic region:

>>> import geoppp
>>> files = geoppp.make_demo_region("demo/target", "target", size=256)
>>> files.region_yaml.as_posix()
'demo/target/region.yaml'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from geoppp.config import PipelineConfig, RegionConfig, validate_document
from geoppp.config import load_region as read_region
from geoppp.errors import ConfigError
from geoppp.pipeline import Overrides, check_file, run_pipeline, run_pipeline_config

if TYPE_CHECKING:
    from torch import Tensor

    from geoppp.diffusion.checkpoint import LoadedCheckpoint
    from geoppp.diffusion.training import TrainingResult
    from geoppp.domain_transfer import TransferResult
    from geoppp.landcover.chesapeake_patches import PatchRegions
    from geoppp.landcover.evaluation import MapScores
    from geoppp.landcover.mapping import MapResult
    from geoppp.landcover.synthetic import DemoRegion
    from geoppp.tasks.digits.evaluation import Cell as DigitsCell
    from geoppp.tasks.tsp.evaluation import Row as TspRow
    from geoppp.tasks.tsp.solve import SolvedInstance

# Each function imports what only it needs (torch, the tasks, matplotlib), so that
# `geoppp validate`, a weak_argmax map and `import geoppp.api` itself do not load torch.

Method = Literal["plug_and_play", "weak_argmax", "colour_vote"]
Log = Callable[[str], None]

__all__ = [
    "evaluate",
    "evaluate_digits",
    "evaluate_tsp",
    "generate_digits",
    "load_prior",
    "load_region",
    "make_chesapeake_regions",
    "make_demo_region",
    "preview_region",
    "run_pipeline",
    "sample_prior",
    "segment_region",
    "solve_tsp",
    "train_prior",
    "transfer",
    "validate",
]


def make_demo_region(
    folder: str | Path,
    domain: Literal["source", "target"] = "target",
    size: int | None = None,
    seed: int = 0,
) -> DemoRegion:
    """Write a synthetic demo region: its files and a region YAML naming them.

    Args:
        folder: created if needed; receives ``imagery.tif`` (R, G, B, NIR uint8 at 1 m, UTM),
            ``labels.tif`` (ground truth), ``nlcd.tif`` (30 m, EPSG:5070), road, building
            and water GeoPackages, and ``region.yaml``.
        domain: ``source`` (green, like Pittsburgh) or ``target`` (arid, like Phoenix).
        size: pixels (metres) a side; the domain's default when None (2048 / 1024).
        seed: the same (domain, size, seed) writes the same bytes.

    Returns:
        The paths written (``.imagery``, ``.labels``, ``.nlcd``, ``.region_yaml``, ...).

    Example:
        >>> files = make_demo_region("demo/small", "target", size=128)
        >>> files.region_yaml.name, sorted(p.name for p in files.imagery.parent.glob("*.tif"))
        ('region.yaml', ['imagery.tif', 'labels.tif', 'nlcd.tif'])
    """
    from geoppp.landcover.synthetic import MIN_SIZE
    from geoppp.landcover.synthetic import make_demo_region as write_demo_region

    if size is not None and size < MIN_SIZE:
        raise ConfigError(f"size {size}: a demo region needs at least {MIN_SIZE} pixels a side")
    return write_demo_region(Path(folder), domain, size, seed)


def make_chesapeake_regions(patches: str | Path, out: str | Path) -> PatchRegions:
    """Write the real Chesapeake Land Cover patches as GeoTIFF regions.

    Args:
        patches: the folder of the ``*-N.npz`` patches and their ``index.csv`` (e.g.
            ``../shared/data/chesapeake/patches``).
        out: created if needed; receives per patch ``pN_naip.tif`` (R, G, B, NIR),
            ``pN_nlcd.tif`` (NLCD codes) and ``pN_lc.tif`` (1 m land cover), all on one
            1 m grid in EPSG:26917, and the regions ``source.yaml`` (patches 1, 2, 3, 5, 7),
            ``target.yaml`` (0, 4, 6) and ``all.yaml``.

    Returns:
        The imagery written per patch (``.imagery``) and the region YAMLs (``.regions``).
    """
    from geoppp.landcover.chesapeake_patches import write_patch_regions

    return write_patch_regions(Path(patches), Path(out))


def segment_region(
    region: str | Path,
    class_map: str | Path,
    *,
    method: Method = "plug_and_play",
    prior: str | Path | None = None,
    settings: Mapping[str, Any] | None = None,
    probabilities: str | Path | None = None,
    report: str | Path | None = None,
    overwrite: bool = False,
    batch_size: int = 8,
    workers: int = 1,
    progress: bool = True,
    log: Log = print,
) -> list[MapResult]:
    """Map a region's land cover into a georeferenced class-map GeoTIFF.

    Args:
        region: a region YAML (imagery, weak labels, class scheme).
        class_map: the GeoTIFF to write, its folder created if needed (uint8, one value per
            class, a colour table, class names, and a QGIS ``.qml`` style beside it). With
            several imagery files, put ``{imagery}`` in the name.
        method: ``plug_and_play`` (the diffusion prior under weak-label and image
            constraints), or the baselines ``weak_argmax`` and ``colour_vote``.
        prior: for ``plug_and_play``: a shipped prior's name (``demo-joint``,
            ``demo-labels``, ``chesapeake-joint``, ``chesapeake-labels``) or a checkpoint;
            None: a shipped prior with the region's classes (label-only first).
        settings: any further fields of the step, as in a pipeline YAML (e.g.
            ``{"optimiser": {"steps": 50}, "constraints": {"weak_kl": 0.1}}``), over the
            defaults measured best (:data:`geoppp.domain_transfer.PLUG_AND_PLAY`; the
            colour terms on, and ``statistics`` and ``network`` when given here).
        probabilities: optional float32 GeoTIFF of per-class probabilities.
        report: optional JSON of accuracy and IoU (needs the region's ground truth).
        overwrite: replace outputs that exist (otherwise they are refused).
        batch_size: tiles per model call.
        workers: dask threads.
        progress: show progress bars.
        log: receives one line per event (``print`` by default).

    Returns:
        One :class:`MapResult` per imagery file: paths written, seconds, class areas.

    Example:
        >>> [result] = segment_region(
        ...     "demo/target/region.yaml", "maps/weak.tif", method="weak_argmax",
        ...     progress=False, log=lambda line: None)
        >>> result.class_map.name, sorted(result.class_pixels)[:2]
        ('weak.tif', ['barren', 'grass'])
    """
    step: dict[str, Any] = {"kind": method, **(settings or {})}
    if method == "plug_and_play":
        from geoppp.domain_transfer import matching_prior, plug_and_play_step

        config = read_region(Path(region))
        chosen = str(prior) if prior is not None else matching_prior(config)
        if chosen is None:
            raise ConfigError(
                f"segment_region: no shipped prior has the classes of region {config.name}; "
                "give `prior` (train one with train_prior, or use geoppp.transfer)"
            )
        step = plug_and_play_step(chosen, config, settings)
    step["name"] = method.replace("_", "-")
    outputs = {"class_map": class_map, "probabilities": probabilities, "report": report}
    _make_folders(outputs.values())
    step["outputs"] = {key: str(value) for key, value in outputs.items() if value is not None}
    pipeline = _pipeline(region, step, batch_size, workers, progress, "segment_region")
    [report_of_step] = run_pipeline_config(pipeline, Overrides(overwrite=overwrite), log)
    return report_of_step.results


def transfer(
    source: str | Path,
    target: str | Path,
    class_map: str | Path,
    *,
    prior: str | Path | None = None,
    probabilities: str | Path | None = None,
    cache: str | Path | None = None,
    settings: Mapping[str, Any] | None = None,
    network_training: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    batch_size: int = 25,
    progress: bool = True,
    log: Log = print,
) -> TransferResult:
    """Map a target region with what a labelled source region teaches (the paper's use).

    From the source (a region with ground truth) it derives, once, label statistics (per
    NLCD code; when the source has a code raster), a segmentation network (the learned
    likelihood) and, when no shipped prior has the classes, a label-only prior; they are
    cached, so a second run trains nothing. The target (weak labels, no 1 m labels) is then
    mapped by plug-and-play inference with the best measured settings
    (:data:`geoppp.domain_transfer.PLUG_AND_PLAY`).

    Args:
        source: region YAML with ``ground_truth``.
        target: region YAML to map; same classes and bands as the source.
        class_map: GeoTIFF to write (``{imagery}`` in it for several imagery files).
        prior: a shipped prior's name or a checkpoint; default: a shipped prior with the
            target's classes (label-only first), else one trained on the source.
        probabilities: optional probability GeoTIFF, ``{imagery}`` as in ``class_map``.
        cache: folder for what the source gives; default ``transfer-cache/`` beside the map.
        settings: fields of the plug-and-play step over the defaults (e.g.
            ``{"optimiser": {"steps": 50}}``).
        network_training: fields of the source network's training over the defaults
            (e.g. ``{"steps": 400}``).
        overwrite: replace existing maps.
        batch_size: tiles per model call.
        progress: show progress bars.
        log: receives one line per event.

    Returns:
        The maps (``.results``), what the source gave (``.source``: ``.statistics``,
        ``.network``, ``.prior``, ``.reused``) and the seconds of each stage (``.seconds``).
    """
    from geoppp.domain_transfer import transfer as run_transfer

    _make_folders([class_map, probabilities])
    return run_transfer(
        Path(source),
        Path(target),
        Path(class_map),
        prior=None if prior is None else str(prior),
        probabilities=None if probabilities is None else Path(probabilities),
        cache=None if cache is None else Path(cache),
        settings=settings,
        network_training=network_training,
        overwrite=overwrite,
        batch_size=batch_size,
        progress=progress,
        log=log,
    )


def train_prior(
    region: str | Path,
    checkpoint: str | Path,
    *,
    steps: int,
    mode: Literal["joint", "labels"] = "joint",
    batch_size: int = 8,
    settings: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    log: Log = print,
) -> TrainingResult:
    """Train a DDPM prior on patches of a region with ground truth (the source region).

    Rerunning with the same checkpoint path resumes from its last saved step.

    Args:
        region: a region YAML with ``ground_truth``.
        checkpoint: the safetensors file to write (a few MB).
        steps: optimiser steps in all.
        mode: ``joint`` (image bands and labels) or ``labels`` (labels only, as the paper's
            released code).
        batch_size: patches per step.
        settings: any further fields of the ``train_prior`` step, as in a pipeline YAML
            (``denoiser``, ``patches``, ``training``: lr, seed, ...).
        overwrite: start afresh even if the checkpoint exists.
        progress: show a progress bar.
        log: receives one line per event.

    Returns:
        The checkpoint path, the step reached, the loss history and the seconds taken.

    Example:
        >>> result = train_prior(
        ...     "demo/target/region.yaml", "priors/tiny.safetensors", steps=2, mode="labels",
        ...     settings={"denoiser": {"base_channels": 8, "channel_multipliers": [1],
        ...                            "layers_per_block": 1, "attention_resolutions": [],
        ...                            "norm_groups": 4},
        ...               "patches": {"size": 16}},
        ...     progress=False, log=lambda line: None)
        >>> result.checkpoint_path.name, result.step
        ('tiny.safetensors', 2)
    """
    _make_folders([checkpoint])
    extra = dict(settings or {})
    training = {"steps": steps, "batch_size": batch_size, **extra.pop("training", {})}
    patches = {"mode": mode, **extra.pop("patches", {})}
    step = {
        "name": "train-prior",
        "kind": "train_prior",
        "patches": patches,
        "training": training,
        "outputs": {"checkpoint": str(checkpoint), "samples": None},
        **extra,
    }
    pipeline = _pipeline(region, step, batch_size, 1, progress, "train_prior")
    [report_of_step] = run_pipeline_config(pipeline, Overrides(overwrite=overwrite), log)
    assert report_of_step.training is not None  # a train_prior step always trains
    return report_of_step.training


def load_prior(name_or_path: str | Path) -> LoadedCheckpoint:
    """A prior by shipped name or checkpoint path: the denoiser (eval mode), its noise
    schedule, and its layout (mode, class names, bands, GSD, patch size).

    Example:
        >>> prior = load_prior("demo-labels")
        >>> prior.layout["mode"], prior.layout["class_names"][0]
        ('labels', 'water')
    """
    from geoppp.diffusion.checkpoint import load_checkpoint
    from geoppp.landcover.priors import prior_path

    return load_checkpoint(prior_path(name_or_path))


def evaluate(
    region: str | Path, class_map: str | Path, imagery: str | Path | None = None
) -> MapScores:
    """Accuracy, per-class IoU and mIoU of a class map against the region's ground truth,
    and what they were computed over: the pixels scored and left out (nodata, values of no
    class), whether the truth was resampled, and how much of the truth the map covers.

    Args:
        region: a region YAML with ``ground_truth``.
        class_map: a class map of one of its imagery files (as written by
            :func:`segment_region`).
        imagery: which imagery file the map covers; when None, the one on the map's grid
            (the region's first if none is).

    Raises:
        geoppp.errors.ClassMapError: the map does not hold integer class values.
        geoppp.errors.NoOverlapError: the map and the ground truth share no scored pixel.

    Example:
        >>> scores = evaluate("demo/target/region.yaml", "maps/weak.tif")
        >>> 0.5 < scores.accuracy <= 1.0, len(scores.iou)
        (True, 5)
    """
    from geoppp.steps.report import score_map

    config = read_region(Path(region))
    if config.ground_truth is None:
        raise ConfigError(f"{region}: the region has no ground_truth to evaluate against")
    image = Path(imagery) if imagery is not None else _imagery_of(config, Path(class_map))
    return score_map(config, image, Path(class_map))


def _imagery_of(region: RegionConfig, class_map: Path) -> Path:
    """The imagery file of ``region`` whose footprint holds most of ``class_map``'s (each
    imagery file of a tiled region has its own ground truth); the first when none does."""
    from geoppp.geo.raster import grid_of

    if len(region.imagery.paths) == 1:
        return region.imagery.paths[0]
    mapped = grid_of(class_map)
    for path in region.imagery.paths:
        grid = grid_of(path)
        if grid.crs == mapped.crs and grid.transform == mapped.transform:
            return path
    return region.imagery.paths[0]


def load_region(path: str | Path) -> RegionConfig:
    """A region YAML, validated: imagery paths and bands, class scheme (``.classes.names``,
    ``.classes.classes`` with values and colours), weak-label sources, ground truth.

    Example:
        >>> load_region("demo/target/region.yaml").classes.names
        ['water', 'impervious', 'barren', 'trees', 'grass']
    """
    return read_region(Path(path))


def validate(path: str | Path, overwrite: bool = False) -> list[str]:
    """Check a region or pipeline YAML and every file it names, without running anything.

    Returns:
        Lines saying what was checked; a problem raises :class:`geoppp.errors.ConfigError`.

    Example:
        >>> validate("demo/target/region.yaml")[0].endswith("inputs OK")
        True
    """
    return check_file(Path(path), Overrides(overwrite=overwrite))


def preview_region(
    region: str | Path, out: str | Path, imagery: int = 0, max_size: int = 768
) -> Path:
    """Write a PNG of a region: imagery, weak-label argmax and (if any) ground truth, with a
    class legend.

    Args:
        region: a region YAML.
        out: the PNG to write.
        imagery: which imagery file of the region (0-based).
        max_size: pixels a side of each panel at most.

    Example:
        >>> preview_region("demo/target/region.yaml", "target.png").name
        'target.png'
    """
    from geoppp.preview import write_region_preview

    return write_region_preview(Path(region), Path(out), imagery, max_size)


def sample_prior(
    prior: str | Path, out: str | Path, n: int = 16, seed: int = 0, steps: int | None = 250
) -> tuple[Path, str]:
    """Draw ``n`` unconditional samples from a land-cover prior and write a PNG grid.

    Args:
        prior: a shipped prior's name or a checkpoint.
        out: the PNG to write.
        n: samples.
        seed: seeds the draws.
        steps: ancestral steps, evenly spaced over T (None: all T).

    Returns:
        The PNG path, and the samples' class frequencies and band means as text.

    Example:
        >>> path, summary = sample_prior("demo-labels", "samples.png", n=2, steps=2)
        >>> path.name, summary.startswith("class")
        ('samples.png', True)
    """
    from geoppp.steps.training import sample_checkpoint

    return sample_checkpoint(Path(prior), n, Path(out), seed, steps)


def solve_tsp(
    path: str | Path, steps: int = 128, seed: int = 0, progress: bool = False
) -> SolvedInstance:
    """Solve a travelling-salesman instance with the shipped TSP-50 diffusion prior (the
    paper's TSP task): optimise an adjacency matrix under the prior, decode it greedily into a
    tour, polish it by 2-opt, and compare with fast-tsp's tour.

    Args:
        path: a CSV of ``x,y`` rows or a TSPLIB file (EUC_2D, CEIL_2D, GEO, ATT).
        steps: Adam steps on the adjacency latent (the reference: 256).
        seed: seeds the search.
        progress: show a progress bar.

    Returns:
        ``.tour`` (0-based node indices in file order), ``.length``, ``.reference_length``,
        ``.gap``.

    Example:
        >>> import numpy as np
        >>> corners = np.array([[0, 0], [0, 1], [1, 1], [1, 0], [0.5, 0.1], [0.5, 0.9]])
        >>> np.savetxt("square.csv", corners, delimiter=",", fmt="%g")
        >>> solved = solve_tsp("square.csv", steps=2)
        >>> sorted(solved.tour.tolist()), round(solved.gap, 6)
        ([0, 1, 2, 3, 4, 5], 0.0)
    """
    from geoppp.tasks.tsp.settings import SolveConfig
    from geoppp.tasks.tsp.solve import solve_instance

    return solve_instance(Path(path), None, SolveConfig(steps=steps), seed, progress)


def generate_digits(
    digit: int | None = None,
    symmetric: bool = False,
    inpaint: Literal["top", "bottom", "left", "right"] | None = None,
    n: int = 16,
    steps: int = 1000,
    seed: int = 0,
    out: str | Path | None = None,
    progress: bool = False,
) -> Tensor:
    """Generate handwritten digits under constraints with the shipped digits prior (the
    paper's first experiment): a target class (judged by the project's classifier),
    left-right symmetry, inpainting of a held-out digit's half, or any combination.

    Args:
        digit: the target class 0-9, or None.
        symmetric: ask for left-right symmetry.
        inpaint: keep this half of held-out digits and fill in the rest.
        n: samples (sample b seeded by ``seed + b``).
        steps: optimiser steps (the reference: 1000; 200 gives legible digits on a CPU).
        seed: the first sample's seed.
        out: optional PNG to write the samples to, as a grid.
        progress: show a progress bar.

    Returns:
        (n, 1, 32, 32) float32 images in [-1, 1].

    Example:
        >>> images = generate_digits(digit=3, symmetric=True, n=2, steps=2, out="grid.png")
        >>> tuple(images.shape), Path("grid.png").is_file()
        ((2, 1, 32, 32), True)
    """
    from torchvision.utils import save_image

    from geoppp.tasks.digits.generation import generate_digits as run_digits
    from geoppp.tasks.digits.settings import DigitConstraintsConfig

    spec = validate_document(
        {"digit": digit, "symmetric": symmetric, "inpaint": inpaint},
        DigitConstraintsConfig,
        Path.cwd(),
        "generate_digits",
    )
    images = run_digits(spec, n, steps, seed=seed, progress=progress)
    if out is not None:
        _make_folders([out])
        save_image((images + 1) / 2, Path(out), nrow=math.ceil(math.sqrt(n)), padding=2)
    return images


def evaluate_tsp(
    nodes: int = 50,
    instances: int = 20,
    steps: int = 128,
    seed: int = 1000,
    with_prior: bool = True,
    batch_size: int = 10,
    progress: bool = False,
) -> list[TspRow]:
    """Compare the diffusion prior with classic heuristics on random instances (what
    ``geoppp tsp eval`` prints): mean length, gap to fast-tsp's tours, seconds per instance.

    Args:
        nodes: N (the shipped prior was trained on 50).
        instances: random instances in the unit square, drawn from ``seed``.
        steps: Adam steps of the diffusion search.
        seed: seeds the instances and every method's randomness.
        with_prior: False leaves the diffusion rows out (baselines only).
        batch_size: instances optimised together through the prior.
        progress: show progress bars.

    Returns:
        The reference row first (gap 0), then one row per method.

    Example:
        >>> rows = evaluate_tsp(nodes=8, instances=2, steps=2)
        >>> rows[0].gap_percent, "greedy edge + 2-opt" in [row.method for row in rows]
        (0.0, True)
    """
    from geoppp.tasks.tsp.evaluation import evaluate as evaluate_tours
    from geoppp.tasks.tsp.settings import SolveConfig
    from geoppp.tasks.tsp.solve import load_prior as load_tsp_prior

    prior = load_tsp_prior() if with_prior else None
    return evaluate_tours(
        nodes, instances, seed, prior, SolveConfig(steps=steps), batch_size, progress=progress
    )


def evaluate_digits(
    digit: int = 3, samples: int = 16, steps: int = 100, seed: int = 0, progress: bool = False
) -> list[DigitsCell]:
    """Score constrained generation (what ``geoppp digits eval`` prints): for a class, symmetry,
    both, and inpainting, each by geoppp, unconditional samples and the constraint alone:
    success, asymmetry, diversity and a Fréchet distance, all judged by an independent
    classifier.

    Args:
        digit: the target class d.
        samples: per cell.
        steps: optimiser steps (the reference: 1000).
        seed: the first sample's seed.
        progress: show progress bars.

    Returns:
        One cell per constraint and method, with ``.scores`` and ``.seconds``.

    Example:
        >>> cells = evaluate_digits(digit=3, samples=2, steps=2)
        >>> len(cells), sorted({cell.method for cell in cells})
        (12, ['constraint_only', 'geoppp', 'unconditional'])
    """
    from geoppp.diffusion.checkpoint import load_checkpoint
    from geoppp.tasks.digits.classifier import load_classifier
    from geoppp.tasks.digits.data import load_digits
    from geoppp.tasks.digits.evaluation import evaluate as evaluate_generation
    from geoppp.tasks.digits.generation import reference_settings
    from geoppp.tasks.digits.pipeline import LAYOUT as DIGITS_LAYOUT
    from geoppp.tasks.digits.settings import SHIPPED as SHIPPED_DIGITS

    prior = load_checkpoint(SHIPPED_DIGITS / "prior.safetensors", expected_layout=DIGITS_LAYOUT)
    return evaluate_generation(
        prior,
        load_classifier(SHIPPED_DIGITS / "constraint.safetensors"),
        load_classifier(SHIPPED_DIGITS / "judge.safetensors"),
        load_digits("held_out"),
        digit,
        samples,
        reference_settings(steps),
        seed,
        progress=progress,
        log=lambda line: None,
    )


def _make_folders(outputs: Iterable[str | Path | None]) -> None:
    # A script names its outputs in code, not in YAML, so a missing folder is intent, not a
    # typo to refuse (the pipelines refuse it).
    for output in outputs:
        if output is not None:
            Path(output).parent.mkdir(parents=True, exist_ok=True)


def _pipeline(
    region: str | Path,
    step: dict[str, Any],
    batch_size: int,
    workers: int,
    progress: bool,
    caller: str,
) -> PipelineConfig:
    document = {
        "region": str(region),
        "execution": {"batch_size": batch_size, "workers": workers, "progress": progress},
        "steps": [step],
    }
    return validate_document(document, PipelineConfig, Path.cwd(), caller)
