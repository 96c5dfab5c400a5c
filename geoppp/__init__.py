"""geoppp: land-cover maps from aerial imagery with a diffusion model as a plug-and-play prior.

The public API (see :mod:`geoppp.api`)::

    import geoppp
    files = geoppp.make_demo_region("demo/target", "target")
    geoppp.segment_region(files.region_yaml, "maps/target.tif", prior="demo-joint")
    print(geoppp.evaluate(files.region_yaml, "maps/target.tif").accuracy)
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from geoppp.api import evaluate as evaluate
    from geoppp.api import evaluate_digits as evaluate_digits
    from geoppp.api import evaluate_tsp as evaluate_tsp
    from geoppp.api import generate_digits as generate_digits
    from geoppp.api import load_prior as load_prior
    from geoppp.api import load_region as load_region
    from geoppp.api import make_chesapeake_regions as make_chesapeake_regions
    from geoppp.api import make_demo_region as make_demo_region
    from geoppp.api import preview_region as preview_region
    from geoppp.api import run_pipeline as run_pipeline
    from geoppp.api import sample_prior as sample_prior
    from geoppp.api import segment_region as segment_region
    from geoppp.api import solve_tsp as solve_tsp
    from geoppp.api import train_prior as train_prior
    from geoppp.api import transfer as transfer
    from geoppp.api import validate as validate

LAZY = {
    "evaluate": "geoppp.api",
    "evaluate_digits": "geoppp.api",
    "evaluate_tsp": "geoppp.api",
    "generate_digits": "geoppp.api",
    "load_prior": "geoppp.api",
    "load_region": "geoppp.api",
    "make_chesapeake_regions": "geoppp.api",
    "make_demo_region": "geoppp.api",
    "preview_region": "geoppp.api",
    "run_pipeline": "geoppp.api",
    "sample_prior": "geoppp.api",
    "segment_region": "geoppp.api",
    "solve_tsp": "geoppp.api",
    "train_prior": "geoppp.api",
    "transfer": "geoppp.api",
    "validate": "geoppp.api",
}
"""Each public name → the module that defines it, imported on first use: ``import geoppp``
costs no more than its own few lines, and `import geoppp.geo.raster` (dask workers, QGIS
scripts that only read rasters) does not pay for torch. A new public name goes here, in
``geoppp.api.__all__``, and in the ``TYPE_CHECKING`` block above (for type checkers)."""

__all__ = sorted(LAZY)


def __getattr__(name: str) -> Any:
    if name in LAZY:
        return getattr(import_module(LAZY[name]), name)
    raise AttributeError(f"module 'geoppp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(LAZY))
