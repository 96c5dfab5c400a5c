"""Training patches for a diffusion prior of land cover, drawn from a region's rasters.

A patch is ``(C, size, size)`` float32 at ``gsd`` metres per pixel (EnviroAtlas: 64 × 64 at
4 m, i.e. 256 m crops of 1 m data averaged ×4). Two layouts:

- ``joint``: the image bands, normalised per band with statistics of the source region
  (:class:`~geoppp.landcover.normalisation.Normalisation`, stored with the model), then one
  channel per class;
- ``labels``: only the class channels.

A class channel is the fraction of the cell's labelled pixels in that class, scaled to
``[-1, 1]`` (``2 f - 1``; a pure cell is one-hot in {-1, 1}). Patches whose fraction of
nodata or unlabelled fine pixels exceeds ``max_invalid`` are never drawn; each acceptable
window is equally likely, then one of the 8 flips/90° rotations is applied.

Memory: :class:`RegionPatches` keeps every imagery file averaged to ``gsd``: ``4 × (channels
+ 2)`` bytes per cell (channels, validity, window validity) plus 8 bytes per acceptable window
position (at most one per cell). A 2048 m square source at 4 m, joint with 4 bands and 5
classes, is 512² cells × (4 × 11 + 8) B ≈ 14 MB. It grows with the region's area over
``gsd``² — 100 km² at 4 m is about 6 M cells, ≈ 330 MB — and not with the patch size or the
number of patches drawn. Reading
holds one strip of fine pixels at a time (see :mod:`geoppp.landcover.coarsen`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import torch

from geoppp.landcover.coarsen import CoarseLabels, coarsen
from geoppp.landcover.evaluation import value_lookup
from geoppp.landcover.normalisation import Normalisation, PatchError, band_statistics

PatchMode = Literal["joint", "labels"]


# ---------------------------------------------------------------- layout


@dataclass(frozen=True)
class PatchLayout:
    """What the channels of a patch are: stored with a prior so that it is used as trained.

    Attributes:
        mode: ``joint`` (image bands, then classes) or ``labels`` (classes only).
        gsd: metres per patch pixel.
        size: patch pixels a side.
        n_classes: class channels (the last ``n_classes`` channels).
        bands: 1-based imagery bands of the image channels (joint mode).
        band_names: a name per band, if known.
        class_names: a name per class, if known.
        normalisation: how image channels were normalised (joint mode).
    """

    mode: PatchMode
    gsd: float
    size: int
    n_classes: int
    bands: tuple[int, ...] = ()
    band_names: tuple[str, ...] | None = None
    class_names: tuple[str, ...] | None = None
    normalisation: Normalisation | None = None

    def __post_init__(self) -> None:
        if self.mode not in get_args(PatchMode):
            raise ValueError(f"patch mode must be one of {get_args(PatchMode)}, not {self.mode!r}")
        if self.mode == "joint" and (
            self.normalisation is None or self.normalisation.bands != len(self.bands)
        ):
            raise ValueError(
                f"joint patches need a normalisation of their {len(self.bands)} band(s)"
            )

    @property
    def image_channels(self) -> int:
        return len(self.bands) if self.mode == "joint" else 0

    @property
    def channels(self) -> int:
        return self.image_channels + self.n_classes

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description, for a checkpoint's metadata."""
        return {
            "mode": self.mode,
            "gsd": self.gsd,
            "size": self.size,
            "channels": self.channels,
            "n_classes": self.n_classes,
            "bands": list(self.bands),
            "band_names": None if self.band_names is None else list(self.band_names),
            "class_names": None if self.class_names is None else list(self.class_names),
            "normalisation": None if self.normalisation is None else self.normalisation.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PatchLayout:
        normalisation = data.get("normalisation")
        band_names, class_names = data.get("band_names"), data.get("class_names")
        return cls(
            mode=data["mode"],
            gsd=float(data["gsd"]),
            size=int(data["size"]),
            n_classes=int(data["n_classes"]),
            bands=tuple(int(b) for b in data.get("bands", ())),
            band_names=None if band_names is None else tuple(band_names),
            class_names=None if class_names is None else tuple(class_names),
            normalisation=None if normalisation is None else Normalisation.from_dict(normalisation),
        )


# ---------------------------------------------------------------- patches


@dataclass(frozen=True)
class PatchWindow:
    """A patch's place: imagery file ``file`` (index), upper-left cell ``row``, ``col`` of
    its grid at ``gsd``."""

    file: int
    row: int
    col: int


@dataclass(frozen=True)
class _Coarse:
    """One imagery file at ``gsd``: ``channels`` ``(C, h, w)``, ``valid`` ``(h, w)`` (fraction
    of valid and labelled fine pixels), ``starts`` (flat indices, into the ``(h - size + 1,
    w - size + 1)`` positions, of the acceptable windows)."""

    imagery: Path
    labels: Path
    channels: np.ndarray
    valid: np.ndarray
    invalid: np.ndarray = field(repr=False)
    starts: np.ndarray = field(repr=False)


class RegionPatches:
    """Patches of a region's imagery and labels at ``gsd``, drawn at random or in order.

    Each imagery file and its labels are read once, averaged to ``gsd`` (see
    :mod:`geoppp.landcover.coarsen`), and kept in memory (see the module docstring).

    Args:
        imagery: imagery files.
        bands: 1-based imagery bands.
        labels: a label raster per imagery file (on any grid; read with nearest).
        class_of_code: label code → class index (``{code: index}``, or an integer array
            indexed by code with -1 for no class). Codes not in it are unlabelled.
        n_classes: number of classes.
        gsd: metres per patch pixel.
        size: patch pixels a side.
        mode: ``joint`` or ``labels``.
        max_invalid: largest fraction of invalid fine pixels in a patch: imagery nodata or
            unlabelled in joint mode, unlabelled (label nodata or a code not in the table) in
            labels mode.
        nodata: imagery nodata value the files do not declare.
        label_band: 1-based band of the label rasters.
        normalisation: image statistics (joint mode); computed with :func:`band_statistics`
            if not given.
        band_names, class_names: names recorded in :attr:`layout`.

    Raises:
        PatchError: no window anywhere is acceptable (names the files and their sizes).
        GsdError: ``gsd`` does not suit the imagery's grid.
    """

    def __init__(
        self,
        imagery: Sequence[Path],
        bands: Sequence[int],
        labels: Sequence[Path],
        class_of_code: Mapping[int, int] | np.ndarray,
        n_classes: int,
        *,
        gsd: float = 4.0,
        size: int = 64,
        mode: PatchMode = "joint",
        max_invalid: float = 0.05,
        nodata: float | None = None,
        label_band: int = 1,
        normalisation: Normalisation | None = None,
        band_names: Sequence[str] | None = None,
        class_names: Sequence[str] | None = None,
    ) -> None:
        if not imagery or len(imagery) != len(labels):
            raise ValueError(
                f"need one label raster per imagery file, got {len(imagery)} imagery file(s) "
                f"and {len(labels)} label raster(s)"
            )
        if size < 1:
            raise ValueError(f"patch size must be at least 1 pixel, got {size}")
        if not 0 <= max_invalid < 1:
            raise ValueError(f"max_invalid must be in [0, 1), got {max_invalid}")
        if mode == "joint" and normalisation is None:
            normalisation = band_statistics(imagery, bands, nodata)
        self.layout = PatchLayout(
            mode=mode,
            gsd=float(gsd),
            size=size,
            n_classes=n_classes,
            bands=tuple(bands),
            band_names=None if band_names is None else tuple(band_names),
            class_names=None if class_names is None else tuple(class_names),
            normalisation=normalisation if mode == "joint" else None,
        )
        self.max_invalid = max_invalid
        lookup = _class_lookup(class_of_code, n_classes)
        self._files = [
            self._read(image, CoarseLabels(label, label_band, lookup, n_classes), nodata)
            for image, label in zip(imagery, labels, strict=True)
        ]
        self._cumulative = np.cumsum([len(f.starts) for f in self._files])
        if self._cumulative[-1] == 0:
            raise PatchError(self._nothing_acceptable())

    @property
    def channels(self) -> int:
        return self.layout.channels

    @property
    def size(self) -> int:
        return self.layout.size

    def __len__(self) -> int:
        """Number of acceptable windows (positions one cell apart)."""
        return int(self._cumulative[-1])

    def cells(self, file: int) -> tuple[int, int]:
        """Height and width of imagery file ``file`` at ``gsd``, in cells."""
        rows, cols = self._files[file].valid.shape
        return rows, cols

    def sample_windows(self, batch_size: int, generator: torch.Generator) -> list[PatchWindow]:
        """``batch_size`` acceptable windows, each equally likely, drawn from ``generator``."""
        picks = torch.randint(len(self), (batch_size,), generator=generator).numpy()
        files = np.searchsorted(self._cumulative, picks, side="right")
        windows = []
        for pick, file in zip(picks, files, strict=True):
            before = 0 if file == 0 else self._cumulative[file - 1]
            start = int(self._files[file].starts[pick - before])
            row, col = divmod(start, self._files[file].invalid.shape[1])
            windows.append(PatchWindow(int(file), row, col))
        return windows

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """``(batch_size, C, size, size)`` float32 patches at random places, each flipped and
        rotated by one of the 8 symmetries of the square; deterministic under ``generator``."""
        windows = self.sample_windows(batch_size, generator)
        symmetries = torch.randint(8, (batch_size,), generator=generator).tolist()
        batch = np.empty((batch_size, self.channels, self.size, self.size), np.float32)
        for index, (window, symmetry) in enumerate(zip(windows, symmetries, strict=True)):
            rows, cols = self._slices(window)
            # numpy's rotations and flips are views: one copy per patch, into the batch.
            turned = np.rot90(
                self._files[window.file].channels[:, rows, cols], symmetry % 4, (1, 2)
            )
            batch[index] = turned[..., ::-1] if symmetry >= 4 else turned
        return torch.from_numpy(batch)

    def patch(self, window: PatchWindow) -> torch.Tensor:
        """The ``(C, size, size)`` float32 patch at ``window``, as it lies on the ground."""
        rows, cols = self._slices(window)
        channels = self._files[window.file].channels[:, rows, cols]
        return torch.from_numpy(np.ascontiguousarray(channels))

    def invalid_fraction(self, window: PatchWindow) -> float:
        """Fraction of the fine pixels under ``window`` that are nodata or unlabelled."""
        return float(self._files[window.file].invalid[window.row, window.col])

    def windows(self, stride: int | None = None) -> list[PatchWindow]:
        """Acceptable windows on a lattice of ``stride`` cells (default: the patch size, so
        patches do not overlap), file by file in row-major order."""
        stride = self.size if stride is None else stride
        if stride < 1:
            raise ValueError(f"stride must be at least 1 cell, got {stride}")
        found = []
        for index, coarse in enumerate(self._files):
            rows, cols = coarse.invalid.shape
            for row in range(0, rows, stride):
                for col in range(0, cols, stride):
                    if coarse.invalid[row, col] <= self.max_invalid:
                        found.append(PatchWindow(index, row, col))
        return found

    def all_patches(
        self, stride: int | None = None, batch_size: int = 64
    ) -> Iterator[torch.Tensor]:
        """The patches of :meth:`windows` (no flips), in batches ``(≤ batch_size, C, s, s)``."""
        windows = self.windows(stride)
        for start in range(0, len(windows), batch_size):
            yield torch.stack([self.patch(w) for w in windows[start : start + batch_size]])

    def _slices(self, window: PatchWindow) -> tuple[slice, slice]:
        return (
            slice(window.row, window.row + self.size),
            slice(window.col, window.col + self.size),
        )

    def _read(self, imagery: Path, labels: CoarseLabels, nodata: float | None) -> _Coarse:
        layout = self.layout
        coarse = coarsen(
            imagery,
            layout.bands,
            layout.gsd,
            nodata=nodata,
            labels=labels,
            read_image=layout.mode == "joint",
        )
        assert coarse.labels is not None
        # Cells without a labelled pixel get a uniform distribution, without a valid image
        # pixel the band mean (0): neutral values, in patches with at most max_invalid of them.
        fractions = np.nan_to_num(coarse.labels, nan=1.0 / layout.n_classes)
        parts = [2.0 * fractions - 1.0]
        valid = coarse.labelled
        if layout.mode == "joint":
            assert coarse.image is not None and layout.normalisation is not None
            parts.insert(0, np.nan_to_num(layout.normalisation.apply(coarse.image), nan=0.0))
            valid = coarse.valid
        assert valid is not None
        channels = np.concatenate(parts).astype(np.float32)
        invalid = _window_invalid(valid, self.size)
        starts = np.flatnonzero(invalid <= self.max_invalid)
        return _Coarse(imagery, labels.path, channels, valid, invalid, starts)

    def _nothing_acceptable(self) -> str:
        size, gsd = self.size, self.layout.gsd
        lines = [
            f"no {size}×{size} patch at {gsd:g} m per pixel has at most "
            f"{self.max_invalid:.0%} nodata or unlabelled pixels:"
        ]
        for coarse in self._files:
            rows, cols = coarse.valid.shape
            where = f"  {coarse.imagery} with labels {coarse.labels}: {rows}×{cols} cells"
            if rows < size or cols < size:
                lines.append(f"{where}, smaller than a patch")
            else:
                best = float(coarse.invalid.min())
                lines.append(
                    f"{where}, {coarse.valid.mean():.0%} valid and labelled, the best patch "
                    f"{best:.0%} invalid"
                )
        lines.append(
            "Use a smaller `size` or a larger `gsd`, raise `max_invalid`, or check the "
            "imagery's nodata and the label table (codes not in it are unlabelled)."
        )
        return "\n".join(lines)


def dihedral(patch: torch.Tensor, symmetry: int) -> torch.Tensor:
    """``patch`` ``(..., H, W)`` under symmetry ``0..7`` of the square: ``symmetry % 4``
    quarter turns, then a left-right flip when ``symmetry >= 4``; as :meth:`RegionPatches.sample`
    applies them."""
    if not 0 <= symmetry < 8:
        raise ValueError(f"symmetry must be in 0..7, got {symmetry}")
    turned = torch.rot90(patch, symmetry % 4, dims=(-2, -1))
    return torch.flip(turned, dims=(-1,)) if symmetry >= 4 else turned


def _class_lookup(class_of_code: Mapping[int, int] | np.ndarray, n_classes: int) -> np.ndarray:
    if n_classes < 1:
        raise ValueError(f"n_classes must be at least 1, got {n_classes}")
    if isinstance(class_of_code, np.ndarray):
        lookup = np.asarray(class_of_code, np.int64)
        if lookup.ndim != 1:
            raise ValueError(f"class_of_code must be one-dimensional, got {lookup.shape}")
    else:
        if any(not 0 <= code < 65536 for code in class_of_code):
            raise ValueError(f"label codes must be in 0..65535, got {sorted(class_of_code)}")
        lookup = value_lookup(class_of_code)
    if np.any((lookup < -1) | (lookup >= n_classes)):
        raise ValueError(
            f"class_of_code maps codes to {sorted(set(lookup[lookup >= 0].tolist()))}; class "
            f"indices must be in 0..{n_classes - 1} (or -1 for no class)"
        )
    return lookup


def _window_invalid(valid: np.ndarray, size: int) -> np.ndarray:
    """Invalid fraction of every ``size``-wide window of ``valid`` ``(h, w)``: ``(h - size + 1,
    w - size + 1)`` float32, empty when the grid is smaller than a window."""
    rows, cols = valid.shape
    if rows < size or cols < size:
        return np.zeros((0, 0), np.float32)
    table = np.zeros((rows + 1, cols + 1), np.float64)
    table[1:, 1:] = valid.astype(np.float64).cumsum(axis=0).cumsum(axis=1)
    sums = table[size:, size:] - table[:-size, size:] - table[size:, :-size] + table[:-size, :-size]
    invalid = 1.0 - sums / size**2
    # A summed-area table leaves rounding residue: a fully valid window is exactly 0 invalid.
    invalid[invalid < 1e-9] = 0.0
    return np.minimum(invalid, 1.0).astype(np.float32)


# ---------------------------------------------------------------- comparing patches


def class_frequencies(patches: torch.Tensor | np.ndarray, layout: PatchLayout) -> np.ndarray:
    """Share of pixels whose largest class channel is each class: ``(n_classes,)`` float64.

    Works alike on training patches (soft class fractions) and on a prior's samples.

    Args:
        patches: ``(N, C, H, W)`` with ``C = layout.channels``.
        layout: the patches' layout.
    """
    array = _check_patches(patches, layout)
    labels = array[:, layout.image_channels :]
    counts = np.bincount(labels.argmax(axis=1).ravel(), minlength=layout.n_classes)
    return counts / max(1, counts.sum())


def band_means(
    patches: torch.Tensor | np.ndarray, layout: PatchLayout, *, image_units: bool = False
) -> np.ndarray:
    """Mean of each image channel: ``(bands,)`` float64, normalised or (``image_units``)
    through :meth:`Normalisation.invert` in the imagery's units.

    Raises:
        PatchError: label-only patches have no image channels.
    """
    array = _check_patches(patches, layout)
    if layout.mode != "joint" or layout.normalisation is None:
        raise PatchError(f"{layout.mode} patches have no image channels to average")
    image = array[:, : layout.image_channels]
    if image_units:
        image = layout.normalisation.invert(image)
    return np.asarray(image.mean(axis=(0, 2, 3), dtype=np.float64))


def _check_patches(patches: torch.Tensor | np.ndarray, layout: PatchLayout) -> np.ndarray:
    array = patches.detach().cpu().numpy() if isinstance(patches, torch.Tensor) else patches
    if array.ndim != 4 or array.shape[1] != layout.channels:
        raise PatchError(
            f"expected patches of shape (N, {layout.channels}, H, W) for {layout.mode} "
            f"patches, got {tuple(array.shape)}"
        )
    return np.asarray(array)
