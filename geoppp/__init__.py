"""geoppp: land-cover maps from aerial imagery with a diffusion model as a plug-and-play prior.

The public API (see :mod:`geoppp.api`)::

    import geoppp
    files = geoppp.make_demo_region("demo/target", "target")
    geoppp.segment_region(files.region_yaml, "maps/target.tif", prior="demo-joint")
    print(geoppp.evaluate(files.region_yaml, "maps/target.tif").accuracy)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from geoppp.api import (
        evaluate,
        evaluate_digits,
        evaluate_tsp,
        generate_digits,
        load_prior,
        load_region,
        make_chesapeake_regions,
        make_demo_region,
        preview_region,
        run_pipeline,
        sample_prior,
        segment_region,
        solve_tsp,
        train_prior,
        validate,
    )

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
    "validate",
]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `import geoppp.geo` (dask workers, QGIS scripts that
    # only read rasters) does not pay for torch.
    if name in __all__:
        from geoppp import api

        return getattr(api, name)
    raise AttributeError(f"module 'geoppp' has no attribute {name!r}")
