"""Weak labels: per-pixel class probabilities on the imagery grid, from coarse rasters and vectors.

Raster sources (class-code rasters such as NLCD through a code → class table, or rasters of
class probabilities) are read per window onto the imagery grid and averaged where they carry
a label; vector sources (roads, buildings, water) are then burnt in as their class.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from geoppp.geo.grid import Grid, PixelWindow
from geoppp.geo.raster import (
    AlignedSource,
    open_raster,
    pad_to_shape,
    read_aligned,
    require_bands,
    require_overlap,
)
from geoppp.geo.vector import VectorLayer


@dataclass(frozen=True)
class CodeTable:
    """Class probabilities per integer code: ``lookup[:, code]`` is ``(C,)``, NaN if unknown.

    ``lookup`` is ``(C, K)`` so that a gather along its last axis yields ``(C, H, W)``
    contiguously, which is several times faster than gathering rows and moving the axis.
    """

    lookup: np.ndarray

    @classmethod
    def from_mapping(cls, mapping: Mapping[int, Mapping[int, float]], n_classes: int) -> CodeTable:
        """Build from ``{code: {class index: probability}}``; each row is normalised to sum 1.

        The last row is all NaN and stands for every code beyond the table.
        """
        if any(code < 0 for code in mapping):
            raise ValueError(f"class codes must be 0 or more, got {sorted(mapping)}")
        # At least 256 columns, so that uint8 codes index the table without a range check.
        size = max(max(mapping, default=0) + 2, 256)
        lookup = np.full((n_classes, size), np.nan, dtype=np.float32)
        for code, probabilities in mapping.items():
            column = np.zeros(n_classes, dtype=np.float32)
            for index, probability in probabilities.items():
                column[index] = probability
            if column.sum() <= 0:
                raise ValueError(f"code {code} has no positive class probability")
            lookup[:, code] = column / column.sum()
        return cls(lookup)

    def __call__(self, codes: np.ndarray) -> np.ndarray:
        """``(H, W)`` integer codes → ``(C, H, W)`` float32 probabilities (NaN: unknown)."""
        beyond = self.lookup.shape[1] - 1
        if codes.dtype != np.uint8:
            codes = np.where((codes >= 0) & (codes < beyond), codes, beyond).astype(np.intp)
        return np.take(self.lookup, codes, axis=1)


def hard_label(class_index: int, n_classes: int, confidence: float) -> np.ndarray:
    """``(C,)`` float32 probabilities of a label that names one class with ``confidence``,
    the rest spread evenly over the other classes."""
    if n_classes == 1:
        return np.ones(1, dtype=np.float32)
    row = np.full(n_classes, (1.0 - confidence) / (n_classes - 1), dtype=np.float32)
    row[class_index] = confidence
    return row


@dataclass(frozen=True)
class Blur:
    """A Gaussian blur of weak-label probabilities, in pixels of the imagery grid."""

    sigma: float
    radius: int


@dataclass(frozen=True)
class CodeRaster:
    path: Path
    band: int
    table: CodeTable
    blur: Blur | None = None


@dataclass(frozen=True)
class ProbabilityRaster:
    path: Path
    bands: tuple[int, ...]


@dataclass(frozen=True)
class VectorBurn:
    """A vector layer whose features are ``class_index``; ``required``: it must have a
    feature on the grid (see :meth:`VectorLayer.open`)."""

    path: Path
    class_index: int
    buffer: float = 0.0
    required: bool = True
    confidence: float = 1.0
    """Probability of ``class_index`` inside features; the rest spread over the others."""


@dataclass(frozen=True)
class MaskBurn:
    """A raster whose non-zero pixels are ``class_index``, grown by ``buffer`` pixels."""

    path: Path
    band: int
    class_index: int
    buffer: int = 0
    confidence: float = 1.0
    """Probability of ``class_index`` at non-zero pixels; the rest spread over the others."""


RasterSource = CodeRaster | ProbabilityRaster


@dataclass(frozen=True, slots=True)
class WeakLabels:
    """``probabilities`` ``(C, H, W)`` float32 (0 where unlabelled), ``labelled`` ``(H, W)``,
    and ``codes`` ``(H, W)`` int32, the first class-code raster's codes (-1 where it has
    none), or None when the region has no class-code raster."""

    probabilities: np.ndarray
    labelled: np.ndarray
    codes: np.ndarray | None = None


WindowReader = Callable[[PixelWindow, tuple[int, int]], WeakLabels]


class WeakLabelSources:
    """The weak-label sources of a region, checked against the imagery grid."""

    def __init__(
        self,
        grid: Grid,
        n_classes: int,
        rasters: Sequence[RasterSource],
        vectors: Sequence[VectorBurn] = (),
        masks: Sequence[MaskBurn] = (),
    ) -> None:
        if not rasters and not vectors and not masks:
            raise ValueError("a region needs at least one weak-label source")
        for mask in masks:
            require_bands(mask.path, [mask.band], "weak-label mask")
            require_overlap(mask.path, grid, "weak-label mask")
        for source in rasters:
            bands = [source.band] if isinstance(source, CodeRaster) else list(source.bands)
            require_bands(source.path, bands, "weak-label raster")
            require_overlap(source.path, grid, "weak-label raster")
            if isinstance(source, ProbabilityRaster) and len(source.bands) != n_classes:
                raise ValueError(
                    f"probability raster {source.path} gives {len(source.bands)} bands for "
                    f"{n_classes} classes"
                )
        self.grid = grid
        self.n_classes = n_classes
        self.rasters = list(rasters)
        self.vectors = [
            (
                VectorLayer.open(vector.path, grid, vector.buffer, vector.required),
                vector,
            )
            for vector in vectors
        ]
        self.masks = list(masks)

    @contextmanager
    def opened(self) -> Iterator[WindowReader]:
        """Open the raster sources once and yield a per-window reader (one thread at a time)."""
        with ExitStack() as stack:
            datasets = [stack.enter_context(open_raster(source.path)) for source in self.rasters]
            mask_datasets = [stack.enter_context(open_raster(mask.path)) for mask in self.masks]

            def read(window: PixelWindow, pad_to: tuple[int, int]) -> WeakLabels:
                triples = [
                    self._read_raster(source, dataset, window, pad_to)
                    for source, dataset in zip(self.rasters, datasets, strict=True)
                ]
                codes = next((c for _, _, c in triples if c is not None), None)
                pairs = [(probabilities, labelled) for probabilities, labelled, _ in triples]
                if len(pairs) == 1:
                    total, labelled = pairs[0]  # fresh arrays: ours to change
                    # Unlabelled pixels carry 0 (not the table's NaN or the file's nodata).
                    np.copyto(total, np.float32(0), where=~labelled)
                else:
                    total = np.zeros((self.n_classes, *pad_to), dtype=np.float32)
                    count = np.zeros(pad_to, dtype=np.float32)
                    for probabilities, source_labelled in pairs:
                        total += np.where(source_labelled, probabilities, np.float32(0))
                        count += source_labelled
                    np.divide(total, count, out=total, where=count > 0)
                    labelled = count > 0
                for layer, vector in self.vectors:
                    burnt = layer.rasterize(window, pad_to)
                    self._burn(total, burnt, vector.class_index, vector.confidence)
                    labelled |= burnt
                for mask, dataset in zip(self.masks, mask_datasets, strict=True):
                    burnt = self._read_mask(mask, dataset, window, pad_to)
                    self._burn(total, burnt, mask.class_index, mask.confidence)
                    labelled |= burnt
                return WeakLabels(total, labelled, codes)

            yield read

    def _read_raster(
        self, source: RasterSource, dataset: object, window: PixelWindow, pad_to: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Probabilities, where they are labelled, and (for a code raster) its codes."""
        if isinstance(source, CodeRaster):
            blur = source.blur
            context = window if blur is None else self._expand(window, blur.radius)
            aligned = read_aligned(
                dataset,
                self.grid,
                context,
                AlignedSource(source.path, (source.band,), "nearest"),
                (context.height, context.width),
            )
            probabilities = source.table(aligned.values[0])
            labelled = aligned.valid & ~np.isnan(probabilities[0])
            if blur is not None:
                probabilities = blur_probabilities(probabilities, labelled, blur)
            rows, cols = window.relative_to(context)
            codes = np.where(aligned.valid, aligned.values[0], -1).astype(np.int32)
            return (
                pad_to_shape(probabilities[:, rows, cols], pad_to, 0.0),
                pad_to_shape(labelled[rows, cols], pad_to, False),
                pad_to_shape(codes[rows, cols], pad_to, -1),
            )
        aligned = read_aligned(
            dataset, self.grid, window, AlignedSource(source.path, source.bands, "bilinear"), pad_to
        )
        probabilities = aligned.values.astype(np.float32)
        # Priors are often stored scaled (e.g. uint8, 255 = certain): normalise each pixel.
        total = probabilities.sum(axis=0)
        np.divide(probabilities, total, out=probabilities, where=total > 0)
        return probabilities, aligned.valid & (total > 0), None

    def _burn(
        self, total: np.ndarray, burnt: np.ndarray, class_index: int, confidence: float
    ) -> None:
        """Set ``burnt`` pixels to :func:`hard_label` of ``class_index``."""
        total[:, burnt] = hard_label(class_index, self.n_classes, confidence)[:, np.newaxis]

    def _read_mask(
        self, mask: MaskBurn, dataset: object, window: PixelWindow, pad_to: tuple[int, int]
    ) -> np.ndarray:
        context = self._expand(window, mask.buffer)
        aligned = read_aligned(
            dataset,
            self.grid,
            context,
            AlignedSource(mask.path, (mask.band,), "nearest"),
            (context.height, context.width),
        )
        burnt = aligned.valid & (aligned.values[0] != 0)
        if mask.buffer > 0:
            from scipy import ndimage  # here, not at start-up: `geoppp validate` needs none

            disk = np.hypot(
                *np.mgrid[-mask.buffer : mask.buffer + 1, -mask.buffer : mask.buffer + 1]
            )
            burnt = ndimage.binary_dilation(burnt, structure=disk <= mask.buffer)
        rows, cols = window.relative_to(context)
        return pad_to_shape(burnt[rows, cols], pad_to, False)

    def _expand(self, window: PixelWindow, radius: int) -> PixelWindow:
        """``window`` grown by ``radius`` pixels on each side, within the grid."""
        expanded = PixelWindow(
            window.row - radius,
            window.col - radius,
            window.height + 2 * radius,
            window.width + 2 * radius,
        )
        inside = expanded.intersection(self.grid.full_window)
        assert inside is not None  # it contains window, which is on the grid
        return inside


def blur_probabilities(probabilities: np.ndarray, labelled: np.ndarray, blur: Blur) -> np.ndarray:
    """Gaussian-blur ``(C, H, W)`` probabilities over the labelled pixels only.

    A normalised convolution: unlabelled pixels and the window's border neither pull the
    blurred values towards zero nor leak NaN; each labelled pixel's blurred column still
    sums to one. Pixels that were unlabelled stay unlabelled (their values are 0).
    """
    from scipy import ndimage  # here, not at start-up: `geoppp validate` needs none

    weight = labelled.astype(np.float32)
    filled = np.where(labelled, probabilities, np.float32(0))
    truncate = blur.radius / blur.sigma
    smooth = partial(ndimage.gaussian_filter, sigma=blur.sigma, truncate=truncate, mode="constant")
    norm = smooth(weight)
    blurred = np.stack([smooth(channel) for channel in filled])
    np.divide(blurred, norm, out=blurred, where=norm > 1e-6)
    blurred[:, ~labelled] = 0.0
    return blurred
