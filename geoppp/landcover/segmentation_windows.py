"""Training windows for a segmentation network: random windows of a region's imagery, with
labels read onto the same window of the imagery grid.

:class:`WindowSampler` holds nothing in memory but the batch: each window is read from the
files (kept open for the whole training), so a region of any size can be trained on.
:class:`ArraySampler` draws the same windows from images and labels already in memory (small
patches, e.g. the real Chesapeake benchmark).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geoppp.geo.grid import Grid, PixelWindow
from geoppp.geo.raster import AlignedSource, open_raster, read_aligned, read_window
from geoppp.landcover.mapping import Imagery
from geoppp.landcover.normalisation import Normalisation
from geoppp.landcover.settings import IGNORE
from geoppp.landcover.weak_labels import WeakLabelSources

LabelReader = Callable[[PixelWindow, tuple[int, int]], np.ndarray]
"""Labels of a window of the imagery grid, padded to a shape: ``(H, W)`` int64 class indices,
:data:`~geoppp.landcover.settings.IGNORE` where there is none."""
LabelOpener = Callable[[ExitStack], LabelReader]
"""Opens the label files (closed with the stack) and returns their reader."""


@dataclass(frozen=True)
class LabelledImagery:
    """One imagery file, its grid, and where its labels come from."""

    imagery: Imagery
    grid: Grid
    labels: LabelOpener


def raster_labels(path: Path, band: int, class_of_value: np.ndarray, grid: Grid) -> LabelOpener:
    """Labels from a raster of codes (ground truth, or a class map), aligned onto ``grid`` by
    nearest neighbour.

    Args:
        path: the raster, on any grid that overlaps ``grid``.
        band: 1-based band of the codes.
        class_of_value: a 65536-entry table from code to class index, -1 for none (see
            :func:`~geoppp.landcover.evaluation.value_lookup`).
        grid: the imagery grid.
    """
    source = AlignedSource(path, (band,), "nearest")

    def opener(stack: ExitStack) -> LabelReader:
        dataset = stack.enter_context(open_raster(path))

        def read(window: PixelWindow, shape: tuple[int, int]) -> np.ndarray:
            data = read_aligned(dataset, grid, window, source, shape)
            codes = data.values[0].astype(np.int64)
            known = data.valid & (codes >= 0) & (codes < len(class_of_value))
            labels = class_of_value[np.where(known, codes, 0)].astype(np.int64)
            labels[~known] = IGNORE
            return labels

        return read

    return opener


def weak_argmax_labels(sources: WeakLabelSources) -> LabelOpener:
    """Labels from the per-pixel argmax of the weak labels; none where they are silent."""

    def opener(stack: ExitStack) -> LabelReader:
        read_weak = stack.enter_context(sources.opened())

        def read(window: PixelWindow, shape: tuple[int, int]) -> np.ndarray:
            weak = read_weak(window, shape)
            probabilities = np.nan_to_num(weak.probabilities, nan=0.0)
            labels = probabilities.argmax(axis=0).astype(np.int64)
            labels[~weak.labelled] = IGNORE
            return labels

        return read

    return opener


class RandomWindows(ABC):
    """Draws batches of random windows (a :data:`~geoppp.landcover.segmentation.BatchSampler`)
    from images of the given shapes; subclasses read a window's image and labels.

    A window's image is chosen in proportion to the images' areas, its position uniformly,
    and one of the 8 flips/rotations is applied; with ``colour_jitter``, each band of the
    normalised window is scaled by a gain in 1 ± jitter and shifted by an offset in ± jitter
    (imagery of another date or place differs in exactly these: a network that has seen only
    its source's radiometry reads a darker scene as another class).

    Args:
        shapes: ``(height, width)`` of each image, pixels.
        patch_size: window side, pixels (an image smaller than that is padded, as nodata).
        batch_size: windows per batch.
        colour_jitter: the jitter's half-width, in normalised units (0: none).
    """

    def __init__(
        self,
        shapes: Sequence[tuple[int, int]],
        patch_size: int,
        batch_size: int,
        colour_jitter: float = 0.0,
    ) -> None:
        self.shapes = list(shapes)
        areas = np.array([height * width for height, width in self.shapes], np.float64)
        self.weights = areas / areas.sum()
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.colour_jitter = colour_jitter

    def __call__(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        images, labels = [], []
        for _ in range(self.batch_size):
            image, label = self.window(rng)
            symmetry = int(rng.integers(8))
            image, label = _dihedral(image, symmetry), _dihedral(label, symmetry)
            if self.colour_jitter > 0:
                gain, offset = rng.uniform(-self.colour_jitter, self.colour_jitter, (2, len(image)))
                image = image * (1.0 + gain[:, None, None]) + offset[:, None, None]
            images.append(image.astype(np.float32, copy=False))
            labels.append(label)
        return np.stack(images), np.stack(labels)

    def window(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One window: ``(bands, P, P)`` normalised float32 and ``(P, P)`` int64 labels."""
        index = int(rng.choice(len(self.shapes), p=self.weights))
        (full_height, full_width), size = self.shapes[index], self.patch_size
        height, width = min(size, full_height), min(size, full_width)
        row = int(rng.integers(full_height - height + 1))
        col = int(rng.integers(full_width - width + 1))
        return self.read(index, PixelWindow(row, col, height, width))

    @abstractmethod
    def read(self, index: int, window: PixelWindow) -> tuple[np.ndarray, np.ndarray]:
        """Image ``index``'s ``window``, padded to ``patch_size`` a side: ``(bands, P, P)``
        normalised float32 (0 where nodata) and ``(P, P)`` int64 labels (``IGNORE`` where
        none or nodata)."""


class WindowSampler(RandomWindows):
    """Random windows of imagery files, each read from the file when drawn (see
    :class:`RandomWindows`). Nodata imagery is labelled ``IGNORE``.

    Args:
        files: the labelled imagery files.
        stack: keeps every file open until it is closed.
        patch_size: window side, pixels (a file smaller than that is padded, as nodata).
        batch_size: windows per batch.
        normalisation: per-band statistics applied to the image.
        colour_jitter: see :class:`RandomWindows`.
    """

    def __init__(
        self,
        files: Sequence[LabelledImagery],
        stack: ExitStack,
        patch_size: int,
        batch_size: int,
        normalisation: Normalisation,
        colour_jitter: float = 0.0,
    ) -> None:
        super().__init__(
            [(f.grid.height, f.grid.width) for f in files], patch_size, batch_size, colour_jitter
        )
        self.files = list(files)
        self.images = [stack.enter_context(open_raster(f.imagery.path)) for f in self.files]
        self.labels = [f.labels(stack) for f in self.files]
        self.normalisation = normalisation

    def read(self, index: int, window: PixelWindow) -> tuple[np.ndarray, np.ndarray]:
        file, size = self.files[index], self.patch_size
        data = read_window(
            self.images[index], window, file.imagery.bands, (size, size), file.imagery.nodata
        )
        labels = self.labels[index](window, (size, size))
        labels[~data.valid] = IGNORE
        image = self.normalisation.apply(data.values.astype(np.float32))
        image[:, ~data.valid] = 0.0
        return image, labels


class ArraySampler(RandomWindows):
    """Random windows of images held in memory, with their labels (see
    :class:`RandomWindows`).

    Args:
        images: ``(bands, H, W)`` image values, one array per image.
        labels: ``(H, W)`` int64 class indices of each image, ``IGNORE`` where none (label
            nodata imagery ``IGNORE``).
        patch_size: window side, pixels (an image smaller than that is padded, as nodata).
        batch_size: windows per batch.
        normalisation: per-band statistics applied to the images.
    """

    def __init__(
        self,
        images: Sequence[np.ndarray],
        labels: Sequence[np.ndarray],
        patch_size: int,
        batch_size: int,
        normalisation: Normalisation,
        colour_jitter: float = 0.0,
    ) -> None:
        if len(images) != len(labels) or any(
            image.shape[-2:] != label.shape for image, label in zip(images, labels, strict=False)
        ):
            raise ValueError("give one (H, W) label array per (bands, H, W) image, same H and W")
        super().__init__([label.shape for label in labels], patch_size, batch_size, colour_jitter)
        self.images = [normalisation.apply(image.astype(np.float32)) for image in images]
        self.labels = [label.astype(np.int64) for label in labels]

    def read(self, index: int, window: PixelWindow) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = window.relative_to(PixelWindow(0, 0, *self.labels[index].shape))
        pad = ((0, self.patch_size - window.height), (0, self.patch_size - window.width))
        image = np.pad(self.images[index][:, rows, cols], ((0, 0), *pad))
        labels = np.pad(self.labels[index][rows, cols], pad, constant_values=IGNORE)
        return image, labels


def _dihedral(array: np.ndarray, symmetry: int) -> np.ndarray:
    """One of the 8 flips/90° rotations of the last two axes (0 is the identity)."""
    turned = np.rot90(array, symmetry % 4, axes=(-2, -1))
    return np.ascontiguousarray(turned[..., ::-1] if symmetry >= 4 else turned)
