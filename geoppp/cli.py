"""The `geoppp` command line: a thin layer over the library."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from geoppp import __version__
from geoppp.errors import GeopppError
from geoppp.pipeline import Overrides, check_file, run_pipeline
from geoppp.tasks.digits.cli import add_commands as add_digits_commands

DEMO_FOLDER = Path("demo-data")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    try:
        return int(arguments.handler(arguments))
    except GeopppError as error:
        print(f"geoppp: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("geoppp: interrupted; no partial output was left behind", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
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

    demo = commands.add_parser(
        "demo",
        help="make the demo regions, map the target with the shipped priors and the two "
        "baselines, and print the comparison (pipelines/demo-transfer.yaml)",
    )
    demo.add_argument(
        "--pipeline",
        type=Path,
        default=Path("pipelines/demo-transfer.yaml"),
        help="pipeline YAML",
    )
    demo.set_defaults(handler=_demo)
    return parser


def _add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--workers", type=int, help="dask threads (overrides the YAML)")
    parser.add_argument("--batch-size", type=int, help="tiles per model call")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _overrides(arguments: argparse.Namespace) -> Overrides:
    return Overrides(
        overwrite=arguments.overwrite,
        workers=arguments.workers,
        batch_size=arguments.batch_size,
        progress=False if arguments.no_progress else None,
    )


def _run(arguments: argparse.Namespace) -> int:
    run_pipeline(arguments.pipeline, _overrides(arguments))
    return 0


def _validate(arguments: argparse.Namespace) -> int:
    for line in check_file(arguments.file, Overrides(overwrite=arguments.overwrite)):
        print(line)
    return 0


def _show(arguments: argparse.Namespace) -> int:
    from geoppp.preview import write_region_preview

    out = arguments.out or Path(f"{arguments.region.stem}-preview.png")
    write_region_preview(arguments.region, out, arguments.imagery, arguments.max_size)
    print(f"wrote {out}")
    return 0


def _sample(arguments: argparse.Namespace) -> int:
    from geoppp.steps.training import sample_checkpoint

    out, statistics = sample_checkpoint(
        arguments.checkpoint, arguments.n, arguments.out, arguments.seed, arguments.steps
    )
    print(f"wrote {arguments.n} samples to {out}\n  samples: {statistics}")
    return 0


def _make_demo_region(arguments: argparse.Namespace) -> int:
    domains = ("source", "target") if arguments.domain == "both" else (arguments.domain,)
    _make_demo_regions(arguments.out, domains, arguments.size, arguments.seed)
    return 0


def _make_demo_regions(
    parent: Path, domains: Sequence[str], size: int | None = None, seed: int = 0
) -> None:
    from geoppp.landcover.synthetic import MIN_SIZE, make_demo_region

    if size is not None and size < MIN_SIZE:
        raise GeopppError(f"--size {size}: a demo region needs at least {MIN_SIZE} pixels a side")
    for domain in domains:
        region = make_demo_region(parent / domain, domain, size, seed)
        print(f"wrote the {domain} demo region to {region.imagery.parent}")


def _demo(arguments: argparse.Namespace) -> int:
    pipeline = arguments.pipeline
    if not pipeline.is_file():
        raise GeopppError(
            f"{pipeline} not found; run `geoppp demo` from the root of a geoppp checkout"
        )
    _make_demo_regions(pipeline.resolve().parent.parent / DEMO_FOLDER, ("source", "target"))
    run_pipeline(pipeline, Overrides(overwrite=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
