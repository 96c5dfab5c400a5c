"""Exceptions a user can cause, in the domain's words.

Each subclasses both the project root :class:`GeopppError` and the builtin it refines, so a
caller may catch either (the rasterio habit).
"""


class GeopppError(Exception):
    """Root of every error geoppp raises on purpose."""


class ConfigError(GeopppError, ValueError):
    """A YAML file is malformed or holds a value that is not allowed."""


class RasterOpenError(GeopppError, OSError):
    """A raster is missing, unreadable or not a raster at all."""


class VectorOpenError(GeopppError, OSError):
    """A vector layer is missing or unreadable."""


class MissingCRSError(GeopppError, ValueError):
    """A raster or vector layer has no coordinate reference system."""


class NoOverlapError(GeopppError, ValueError):
    """Two layers that must cover the same ground do not overlap."""


class BandError(GeopppError, ValueError):
    """A raster does not have the bands the configuration asks for."""


class ClassMapError(GeopppError, ValueError):
    """A raster given as a class map does not hold integer class values."""


class TilingError(GeopppError, ValueError):
    """Tile size, halo or batch size are inconsistent."""


class OutputError(GeopppError, OSError):
    """An output cannot be written where it was asked for."""


class CheckpointError(GeopppError, ValueError):
    """A model checkpoint is missing, unreadable, or made for other data than asked for."""


class TrainingError(GeopppError, ValueError):
    """Training cannot start or go on: the device asked for is missing, or bad batches."""


class TileStoreError(GeopppError, OSError):
    """A tile store of finished tiles belongs to another run, or is damaged."""


class ClusterError(GeopppError, ConnectionError):
    """A dask.distributed cluster cannot be reached or started."""
