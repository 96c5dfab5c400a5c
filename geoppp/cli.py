"""The `geoppp` command line: a thin layer over the library."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from geoppp import __version__
from geoppp.errors import GeopppError
from geoppp.pipeline import Overrides, check_file, run_pipeline

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

    demo_region = commands.add_parser(
        "make-demo-region", help="write a synthetic demo region (GeoTIFFs and GeoPackages)"
    )
    demo_region.add_argument("--out", type=Path, default=DEMO_FOLDER / "demo", help="folder")
    demo_region.add_argument("--size", type=int, default=1024, help="pixels (metres) a side")
    demo_region.add_argument("--seed", type=int, default=0)
    demo_region.set_defaults(handler=_make_demo_region)

    demo = commands.add_parser(
        "demo", help="make the demo region and map it (pipelines/weak-argmax.yaml)"
    )
    demo.add_argument(
        "--pipeline", type=Path, default=Path("pipelines/weak-argmax.yaml"), help="pipeline YAML"
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


def _make_demo_region(arguments: argparse.Namespace) -> int:
    from geoppp.landcover.demo_region import make_demo_region

    region = make_demo_region(arguments.out, arguments.size, arguments.seed)
    print(f"wrote the demo region to {region.imagery.parent}")
    return 0


def _demo(arguments: argparse.Namespace) -> int:
    from geoppp.landcover.demo_region import make_demo_region

    pipeline = arguments.pipeline
    if not pipeline.is_file():
        raise GeopppError(
            f"{pipeline} not found; run `geoppp demo` from the root of a geoppp checkout"
        )
    region = make_demo_region(pipeline.resolve().parent.parent / DEMO_FOLDER / "demo")
    print(f"wrote the demo region to {region.imagery.parent}")
    run_pipeline(pipeline, Overrides(overwrite=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
