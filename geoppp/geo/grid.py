"""Grids and tiles as small immutable values, apart from any I/O.

A :class:`Grid` is the pixel lattice of the imagery (CRS, affine transform, size). A
:class:`Tile` is one unit of work on it: a *core* it is responsible for, and a fixed-size
*read* window around the core (core plus halo, pulled inside the raster at its edges) that
the model sees. Cores partition the grid exactly; read windows overlap by the halo.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window as RioWindow

from geoppp.errors import TilingError


@dataclass(frozen=True, slots=True)
class PixelWindow:
    """A rectangle of pixels: rows ``[row, row + height)``, columns ``[col, col + width)``."""

    row: int
    col: int
    height: int
    width: int

    @property
    def row_stop(self) -> int:
        return self.row + self.height

    @property
    def col_stop(self) -> int:
        return self.col + self.width

    def to_rasterio(self) -> RioWindow:
        return RioWindow(self.col, self.row, self.width, self.height)

    def relative_to(self, outer: PixelWindow) -> tuple[slice, slice]:
        """Array slices that cut this window out of an array covering ``outer``."""
        return (
            slice(self.row - outer.row, self.row_stop - outer.row),
            slice(self.col - outer.col, self.col_stop - outer.col),
        )

    def intersection(self, other: PixelWindow) -> PixelWindow | None:
        row, col = max(self.row, other.row), max(self.col, other.col)
        row_stop = min(self.row_stop, other.row_stop)
        col_stop = min(self.col_stop, other.col_stop)
        if row_stop <= row or col_stop <= col:
            return None
        return PixelWindow(row, col, row_stop - row, col_stop - col)


@dataclass(frozen=True, slots=True)
class Grid:
    """The pixel lattice of a raster: CRS, affine transform (pixel → CRS units) and size."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in CRS units, over all four corners (any orientation)."""
        corners = [
            self.transform @ (col, row) for col in (0, self.width) for row in (0, self.height)
        ]
        xs, ys = zip(*corners, strict=True)
        return min(xs), min(ys), max(xs), max(ys)

    @property
    def full_window(self) -> PixelWindow:
        return PixelWindow(0, 0, self.height, self.width)

    def window_transform(self, window: PixelWindow) -> Affine:
        """The affine transform of the pixel lattice that starts at ``window``'s corner."""
        return self.transform @ Affine.translation(window.col, window.row)


@dataclass(frozen=True, slots=True)
class Tile:
    """One unit of work: ``index`` (tile row, tile column), its ``core`` and ``read`` windows.

    ``read`` has the layout's fixed window size unless the raster is smaller than that, in
    which case it is the whole raster and readers pad it to ``padded_shape``.
    """

    index: tuple[int, int]
    core: PixelWindow
    read: PixelWindow
    padded_shape: tuple[int, int]


@dataclass(frozen=True, slots=True)
class TileLayout:
    """Cores of ``core`` pixels on ``grid``, each read with ``halo`` pixels of context."""

    grid: Grid
    core: int
    halo: int

    def __post_init__(self) -> None:
        if self.core < 1:
            raise TilingError(f"tile core size must be at least 1 pixel, got {self.core}")
        if self.halo < 0:
            raise TilingError(f"halo must be 0 or more pixels, got {self.halo}")
        if 2 * self.halo > self.core:
            raise TilingError(
                f"halo {self.halo} is more than half the core size {self.core}; blending "
                "ramps of neighbouring tiles would overlap. Use a halo of at most "
                f"{self.core // 2} or a larger core."
            )

    @property
    def window_size(self) -> int:
        return self.core + 2 * self.halo

    @property
    def shape(self) -> tuple[int, int]:
        """Number of tile rows and tile columns."""
        return -(-self.grid.height // self.core), -(-self.grid.width // self.core)

    def __len__(self) -> int:
        rows, cols = self.shape
        return rows * cols

    def tile(self, tile_row: int, tile_col: int) -> Tile:
        rows, cols = self.shape
        if not (0 <= tile_row < rows and 0 <= tile_col < cols):
            raise IndexError(f"tile ({tile_row}, {tile_col}) is outside the {rows}×{cols} layout")
        core_row, core_col = tile_row * self.core, tile_col * self.core
        core = PixelWindow(
            core_row,
            core_col,
            min(self.core, self.grid.height - core_row),
            min(self.core, self.grid.width - core_col),
        )
        read_row, read_height = _pull_inside(
            core_row - self.halo, self.window_size, self.grid.height
        )
        read_col, read_width = _pull_inside(core_col - self.halo, self.window_size, self.grid.width)
        read = PixelWindow(read_row, read_col, read_height, read_width)
        return Tile((tile_row, tile_col), core, read, (self.window_size, self.window_size))

    def __iter__(self) -> Iterator[Tile]:
        """Tiles in row-major order, the order in which output blocks complete soonest."""
        rows, cols = self.shape
        for tile_row in range(rows):
            for tile_col in range(cols):
                yield self.tile(tile_row, tile_col)

    def neighbours(self, tile: Tile) -> list[Tile]:
        """The tiles that contribute to ``tile``'s core when blending, itself included.

        A tile contributes within ``halo`` pixels of its core (see :mod:`geoppp.geo.blend`),
        and ``halo <= core / 2``, so these are the 3 × 3 tiles around it, or only the tile
        itself when there is no halo.
        """
        if self.halo == 0:
            return [tile]
        rows, cols = self.shape
        tile_row, tile_col = tile.index
        return [
            self.tile(r, c)
            for r in range(max(0, tile_row - 1), min(rows, tile_row + 2))
            for c in range(max(0, tile_col - 1), min(cols, tile_col + 2))
        ]


def _pull_inside(start: int, size: int, extent: int) -> tuple[int, int]:
    """Shift a 1-D window of ``size`` starting at ``start`` to lie inside ``[0, extent)``.

    Where the extent is smaller than the window, the window is the whole extent.
    """
    if size >= extent:
        return 0, extent
    return min(max(start, 0), extent - size), size
