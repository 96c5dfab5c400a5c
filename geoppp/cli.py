"""The `geoppp` command line: a thin layer over the library."""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Literal

import geoppp
from geoppp import __version__
from geoppp.errors import GeopppError

if TYPE_CHECKING:
    from geoppp.pipeline import Overrides

# Start-up imports only the standard library: the commands reach the library through
# `geoppp.<function>`, which imports it on first use, so `geoppp --help` builds only the
# parser, each command loads what it needs (torch only for those that run a model), and a
# Ctrl-C while that loads is caught in `main` like one during the command.

DEMO_FOLDER = Path("demo-data")


class Terminated(KeyboardInterrupt):
    """SIGTERM (what `timeout`, SLURM and `docker stop` send), raised where the program is, as
    Ctrl-C raises KeyboardInterrupt, so that every `with` and `finally` on the way out removes
    its temporary files."""


def main(argv: Sequence[str] | None = None) -> int:
    with sigterm_raises():
        try:
            arguments = build_parser().parse_args(argv)
            return int(arguments.handler(arguments))
        except GeopppError as error:
            print(f"geoppp: error: {error}", file=sys.stderr)
            return 2
        except OSError as error:
            # What the system refuses at run time (a disk that fills, a file removed midway):
            # expected failures, that the message names the file of rather than a traceback.
            print(f"geoppp: error: {describe_os_error(error)}", file=sys.stderr)
            return 2
        except Terminated:
            print("geoppp: terminated; no partial output was left behind", file=sys.stderr)
            return 128 + signal.SIGTERM
        except KeyboardInterrupt:
            print("geoppp: interrupted; no partial output was left behind", file=sys.stderr)
            return 130


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread (Python's
    default lets the process die at once, leaving temporary files behind)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set a handler, and a host program owns it
        return

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def describe_os_error(error: OSError) -> str:
    """An operating-system error in one line, naming the file where it has one."""
    if error.filename is None:
        return str(error)
    return f"{error.filename}: {error.strerror or error}"


def build_parser() -> argparse.ArgumentParser:
    from geoppp.tasks.digits.cli import add_commands as add_digits_commands
    from geoppp.tasks.tsp.cli import add_commands as add_tsp_commands

    parser = argparse.ArgumentParser(
        prog="geoppp",
        description="Land-cover maps from aerial imagery with a diffusion model as a prior.",
    )
    parser.add_argument("--version", action="version", version=f"geoppp {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    add_digits_commands(commands)
    run = commands.add_parser("run", help="run a pipeline YAML")
    run.add_argument("pipeline", type=Path, help="pipeline YAML file")
    _add_overrides(run)
    run.set_defaults(handler=_run)

    validate = commands.add_parser(
        "validate", help="check a region or pipeline YAML and the files it names, without running"
    )
    validate.add_argument("file", type=Path, help="region or pipeline YAML file")
    validate.add_argument("--overwrite", action="store_true", help="allow existing outputs")
    validate.set_defaults(handler=_validate)

    show = commands.add_parser(
        "show", help="write a PNG preview of a region: imagery, weak labels and labels"
    )
    show.add_argument("region", type=Path, help="region YAML file")
    show.add_argument("--out", type=Path, help="PNG file (default: REGION-NAME-preview.png)")
    show.add_argument("--imagery", type=int, default=0, help="which imagery file (0-based)")
    show.add_argument("--max-size", type=int, default=768, help="preview pixels a side")
    show.set_defaults(handler=_show)

    draw = commands.add_parser(
        "sample", help="draw unconditional samples from a prior and write a PNG grid"
    )
    draw.add_argument(
        "checkpoint", type=Path, help="prior checkpoint (.safetensors), or a shipped prior's name"
    )
    draw.add_argument("-n", type=int, default=16, help="number of samples")
    draw.add_argument("--out", type=Path, default=Path("samples.png"), help="PNG file")
    draw.add_argument("--seed", type=int, default=0)
    draw.add_argument(
        "--steps", type=int, default=250, help="ancestral steps, evenly spaced (T for all)"
    )
    draw.set_defaults(handler=_sample)

    segment = commands.add_parser(
        "segment", help="map one region with one method, without writing a pipeline YAML"
    )
    segment.add_argument("region", type=Path, help="region YAML file")
    segment.add_argument("--out", type=Path, required=True, help="class map GeoTIFF to write")
    segment.add_argument(
        "--method",
        choices=("plug_and_play", "weak_argmax", "colour_vote"),
        default="plug_and_play",
    )
    segment.add_argument(
        "--prior",
        help="shipped prior name or checkpoint (plug_and_play; default: one with the region's "
        "classes)",
    )
    segment.add_argument(
        "--network", type=Path, help="a source network (train_segmentation) as a constraint"
    )
    segment.add_argument(
        "--statistics", help="label statistics of a source (label_statistics) as a constraint"
    )
    segment.add_argument("--steps", type=int, help="optimiser steps (plug_and_play)")
    segment.add_argument("--probabilities", type=Path, help="also write class probabilities")
    segment.add_argument("--report", type=Path, help="JSON of scores against ground truth")
    _add_overrides(segment)
    segment.set_defaults(handler=_segment)

    transfer = commands.add_parser(
        "transfer",
        help="map a target region with what a labelled source region teaches (statistics, "
        "a network, a prior; cached), by plug-and-play inference with the best settings",
    )
    transfer.add_argument("--source", type=Path, required=True, help="source region YAML")
    transfer.add_argument("--target", type=Path, required=True, help="target region YAML")
    transfer.add_argument(
        "--out", type=Path, required=True, help="class map GeoTIFF ({imagery} for several)"
    )
    transfer.add_argument("--prior", help="shipped prior name or checkpoint (default: matched)")
    transfer.add_argument("--probabilities", type=Path, help="also write class probabilities")
    transfer.add_argument(
        "--cache", type=Path, help="folder of what the source gives (default: beside --out)"
    )
    transfer.add_argument("--steps", type=int, help="optimiser steps (default 100)")
    transfer.add_argument(
        "--network-steps", type=int, help="training steps of the source network (default 200)"
    )
    _add_overrides(transfer)
    transfer.set_defaults(handler=_transfer)

    evaluate = commands.add_parser(
        "evaluate", help="score a class map against its region's ground truth"
    )
    evaluate.add_argument("region", type=Path, help="region YAML file with ground_truth")
    evaluate.add_argument("class_map", type=Path, help="class map GeoTIFF")
    evaluate.add_argument(
        "--json", action="store_true", help="print the scores as JSON, with each class's IoU"
    )
    evaluate.set_defaults(handler=_evaluate)

    qgis = commands.add_parser(
        "qgis-script",
        help="write a script that runs this geoppp from QGIS's Python console (in a subprocess)",
    )
    qgis.add_argument("--out", type=Path, help="file to write (default: print it)")
    qgis.set_defaults(handler=_qgis_script)

    plugin = commands.add_parser(
        "qgis-plugin", help="the QGIS plugin: geoppp's algorithms in the Processing Toolbox"
    )
    plugin_actions = plugin.add_subparsers(required=True, metavar="ACTION")
    install = plugin_actions.add_parser(
        "install", help="install and enable the plugin in a QGIS profile (restart QGIS after)"
    )
    install.add_argument(
        "--profile", type=Path, help="QGIS profile folder (default: your default profile)"
    )
    install.add_argument(
        "--python",
        default=sys.executable,
        help="the Python that runs geoppp (default: this environment's, %(default)s)",
    )
    install.set_defaults(handler=_qgis_plugin_install)

    reference = commands.add_parser(
        "config-reference", help="print the YAML reference (every key of regions and pipelines)"
    )
    reference.add_argument(
        "--readme", type=Path, help="write it into this README's generated section instead"
    )
    reference.set_defaults(handler=_config_reference)

    demo_region = commands.add_parser(
        "make-demo-region",
        help="write synthetic demo regions (GeoTIFFs and GeoPackages): a green, forested "
        "source (like Pittsburgh) and an arid target (like Phoenix)",
    )
    demo_region.add_argument(
        "--domain", choices=("source", "target", "both"), default="both", help="which region"
    )
    demo_region.add_argument(
        "--out", type=Path, default=DEMO_FOLDER, help="parent folder: writes OUT/source, OUT/target"
    )
    demo_region.add_argument(
        "--size", type=int, help="pixels (metres) a side (default: source 2048, target 1024)"
    )
    demo_region.add_argument("--seed", type=int, default=0)
    demo_region.set_defaults(handler=_make_demo_region)

    chesapeake = commands.add_parser(
        "make-chesapeake-regions",
        help="write the real Chesapeake Land Cover patches (.npz) as GeoTIFF regions: "
        "source, target and all",
    )
    chesapeake.add_argument(
        "--patches",
        type=Path,
        default=Path("../shared/data/chesapeake/patches"),
        help="folder of the *-N.npz patches and their index.csv",
    )
    chesapeake.add_argument(
        "--out", type=Path, default=Path("chesapeake-data"), help="folder to write into"
    )
    chesapeake.set_defaults(handler=_make_chesapeake_regions)

    demo = commands.add_parser(
        "demo",
        help="make the demo regions, map the target with the shipped priors, the baselines "
        "(weak argmax, colour vote, source-only and weak-label U-Nets) and geoppp distilled "
        "into a U-Net, and print the comparison (pipelines/demo-transfer.yaml)",
    )
    demo.add_argument(
        "--pipeline",
        type=Path,
        default=Path("pipelines/demo-transfer.yaml"),
        help="pipeline YAML",
    )
    demo.add_argument(
        "--restart",
        action="store_true",
        help="discard the tiles a stopped demo of other settings left (otherwise resumed)",
    )
    demo.set_defaults(handler=_demo)
    add_tsp_commands(commands)
    return parser


def _add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--workers", type=int, help="dask threads (overrides the YAML)")
    parser.add_argument("--batch-size", type=int, help="tiles per model call")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    cluster = parser.add_mutually_exclusive_group()
    cluster.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="compute tiles on the dask.distributed cluster at ADDRESS (e.g. tcp://host:8786)",
    )
    cluster.add_argument(
        "--local-cluster",
        type=int,
        metavar="N",
        help="compute tiles on a dask LocalCluster of N worker processes started here",
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="discard the finished tiles of an earlier, interrupted run instead of continuing",
    )


def _overrides(arguments: argparse.Namespace) -> Overrides:
    from geoppp.pipeline import Overrides

    return Overrides(
        overwrite=arguments.overwrite,
        workers=arguments.workers,
        batch_size=arguments.batch_size,
        progress=False if arguments.no_progress else None,
        scheduler=arguments.scheduler,
        local_cluster=arguments.local_cluster,
        restart=arguments.restart,
    )


def _run(arguments: argparse.Namespace) -> int:
    geoppp.run_pipeline(arguments.pipeline, _overrides(arguments))
    return 0


def _validate(arguments: argparse.Namespace) -> int:
    for line in geoppp.validate(arguments.file, arguments.overwrite):
        print(line)
    return 0


def _show(arguments: argparse.Namespace) -> int:
    out = arguments.out or Path(f"{arguments.region.stem}-preview.png")
    geoppp.preview_region(arguments.region, out, arguments.imagery, arguments.max_size)
    print(f"wrote {out}")
    return 0


def _sample(arguments: argparse.Namespace) -> int:
    out, statistics = geoppp.sample_prior(
        arguments.checkpoint, arguments.out, arguments.n, arguments.seed, arguments.steps
    )
    print(f"wrote {arguments.n} samples to {out}\n  samples: {statistics}")
    return 0


def _segment(arguments: argparse.Namespace) -> int:
    overrides = _overrides(arguments)
    settings: dict[str, object] = {}
    if arguments.steps is not None:
        settings["optimiser"] = {"steps": arguments.steps}
    if arguments.network is not None:
        settings["network"] = str(arguments.network)
    if arguments.statistics is not None:
        settings["statistics"] = arguments.statistics
    geoppp.segment_region(
        arguments.region,
        arguments.out,
        method=arguments.method,
        prior=arguments.prior,
        settings=settings,
        probabilities=arguments.probabilities,
        report=arguments.report,
        overwrite=overrides.overwrite,
        batch_size=overrides.batch_size or 8,
        workers=overrides.workers or 1,
        progress=overrides.progress is not False,
    )
    return 0


def _transfer(arguments: argparse.Namespace) -> int:
    overrides = _overrides(arguments)
    settings = {}
    if arguments.steps is not None:
        settings["optimiser"] = {"steps": arguments.steps}
    result = geoppp.transfer(
        arguments.source,
        arguments.target,
        arguments.out,
        prior=arguments.prior,
        probabilities=arguments.probabilities,
        cache=arguments.cache,
        settings=settings,
        network_training=(
            None if arguments.network_steps is None else {"steps": arguments.network_steps}
        ),
        overwrite=overrides.overwrite,
        batch_size=overrides.batch_size or 25,
        progress=overrides.progress is not False,
    )
    area = sum(r.megapixels * r.pixel_area for r in result.results)  # Mpx × m² = km²
    stages = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in result.seconds.items())
    print(f"transfer: {len(result.results)} map(s), {area:.3f} km²; {stages}")
    return 0


def _evaluate(arguments: argparse.Namespace) -> int:
    from geoppp.steps.report import format_coverage

    scores = geoppp.evaluate(arguments.region, arguments.class_map)
    if arguments.json:
        names = geoppp.load_region(arguments.region).classes.names
        iou = {
            name: None if math.isnan(v) else v for name, v in zip(names, scores.iou, strict=True)
        }
        document = {"accuracy": scores.accuracy, "miou": scores.miou, "pixels": scores.pixels}
        print(json.dumps({**document, "iou": iou}))
        return 0
    print(f"accuracy {scores.accuracy:.3f}, mIoU {scores.miou:.3f} over {scores.pixels} pixels")
    for line in format_coverage(scores):
        print(line)
    return 0


def _qgis_script(arguments: argparse.Namespace) -> int:
    from geoppp.qgis_plugin.bridge import script_for

    script = script_for(sys.executable)
    if arguments.out is None:
        print(script, end="")
    else:
        arguments.out.write_text(script)
        print(f"wrote {arguments.out}: open it in QGIS's Python editor and run it")
    return 0


def _qgis_plugin_install(arguments: argparse.Namespace) -> int:
    from geoppp.qgis_plugin.install import default_profile, install_plugin

    profile = arguments.profile or default_profile()
    folder = install_plugin(profile, arguments.python)
    print(
        f"installed the geoppp plugin in {folder}, running geoppp with {arguments.python}; "
        "restart QGIS and find geoppp in the Processing Toolbox"
    )
    return 0


def _config_reference(arguments: argparse.Namespace) -> int:
    from geoppp.config_reference import update_readme, yaml_reference

    if arguments.readme is None:
        print(yaml_reference(), end="")
    else:
        update_readme(arguments.readme, yaml_reference())
        print(f"updated the YAML reference in {arguments.readme}")
    return 0


def _make_demo_region(arguments: argparse.Namespace) -> int:
    domains: tuple[Literal["source", "target"], ...] = (
        ("source", "target") if arguments.domain == "both" else (arguments.domain,)
    )
    _make_demo_regions(arguments.out, domains, arguments.size, arguments.seed)
    return 0


def _make_demo_regions(
    parent: Path,
    domains: Sequence[Literal["source", "target"]],
    size: int | None = None,
    seed: int = 0,
) -> None:
    for domain in domains:
        region = geoppp.make_demo_region(parent / domain, domain, size, seed)
        print(f"wrote the {domain} demo region to {region.imagery.parent}")


def _make_chesapeake_regions(arguments: argparse.Namespace) -> int:
    written = geoppp.make_chesapeake_regions(arguments.patches, arguments.out)
    print(f"wrote {len(written.imagery)} patches to {arguments.out}")
    for split, path in written.regions.items():
        print(f"  {split}: {path}")
    return 0


def _demo(arguments: argparse.Namespace) -> int:
    pipeline = arguments.pipeline
    if not pipeline.is_file():
        raise GeopppError(
            f"{pipeline} not found; run `geoppp demo` from the root of a geoppp checkout"
        )
    from geoppp.pipeline import Overrides

    _make_demo_regions(pipeline.resolve().parent.parent / DEMO_FOLDER, ("source", "target"))
    geoppp.run_pipeline(pipeline, Overrides(overwrite=True, restart=arguments.restart))
    return 0


if __name__ == "__main__":
    sys.exit(main())
