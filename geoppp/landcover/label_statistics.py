"""Label super-resolution statistics (Malkin et al. 2019, *Label super-resolution networks*):
the class fractions of ``cell × cell`` blocks per coarse code, measured on high-resolution
labels. Numpy only: a ``label_statistics`` step measures them without torch, and
:func:`geoppp.landcover.constraints.label_statistics_loglik` scores maps against them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

VAR_FLOOR = 1e-3
"""Smallest variance of a class fraction in :class:`LabelStatistics`."""


@dataclass(frozen=True, eq=False)
class LabelStatistics:
    """Class fractions in ``cell × cell`` blocks per coarse code (Malkin et al. 2019).

    ``mean[i]`` and ``var[i]`` are the mean and variance of the ``(K,)`` class-fraction
    vector of the blocks whose most frequent coarse code is ``codes[i]`` (e.g. an NLCD
    class), as measured on high-resolution labels by :meth:`measure`.
    """

    codes: tuple[int, ...]
    mean: np.ndarray
    var: np.ndarray
    cell: int

    def __post_init__(self) -> None:
        shape = (len(self.codes), self.mean.shape[-1] if self.mean.ndim == 2 else -1)
        if self.mean.shape != shape or self.var.shape != shape:
            raise ValueError(
                f"label statistics for {len(self.codes)} codes need mean and var of shape "
                f"(codes, classes); got {self.mean.shape} and {self.var.shape}"
            )
        if self.cell < 1:
            raise ValueError(f"label statistics cell must be 1 or more; got {self.cell}")

    @property
    def n_classes(self) -> int:
        return int(self.mean.shape[1])

    @classmethod
    def measure(
        cls,
        codes: np.ndarray,
        labels: np.ndarray,
        n_classes: int,
        cell: int,
        min_cells: int = 5,
    ) -> LabelStatistics:
        """Measure the statistics on a coarse code raster and a label raster on one grid.

        The rasters are cut into disjoint ``cell × cell`` blocks from the top left (partial
        blocks at the right and bottom edges are dropped, as ``avg_pool2d`` drops them in
        :func:`label_statistics_loglik`). A block's code is its most frequent code (the
        smallest on a tie); its class fractions are the histogram of its labelled pixels,
        and a block with fewer than half its pixels labelled is skipped. Per code the
        fractions' mean and (population) variance are kept, the variance floored at 1e-3;
        codes with fewer than ``min_cells`` blocks are dropped.

        Args:
            codes: ``(H, W)`` int coarse codes per pixel.
            labels: ``(H, W)`` int class index, -1 where unlabelled.
            n_classes: K.
            cell: block side in pixels.
            min_cells: fewest blocks a code needs to be kept.

        Raises:
            ValueError: the rasters differ in shape, or a label is outside -1 … K-1.
        """
        if codes.shape != labels.shape or codes.ndim != 2:
            raise ValueError(
                f"codes and labels must be (H, W) rasters on one grid; got {codes.shape} "
                f"and {labels.shape}"
            )
        if cell < 1:
            raise ValueError(f"cell must be 1 or more; got {cell}")
        if labels.size and (labels.min() < -1 or labels.max() >= n_classes):
            raise ValueError(
                f"labels must be class indices 0 … {n_classes - 1} or -1 (unlabelled); "
                f"found {labels.min()} … {labels.max()}"
            )
        block_codes, fractions = block_fractions(codes, labels, n_classes, cell)
        return cls.from_blocks(block_codes, fractions, cell, min_cells)

    @classmethod
    def from_blocks(
        cls, block_codes: np.ndarray, fractions: np.ndarray, cell: int, min_cells: int = 5
    ) -> LabelStatistics:
        """Statistics of blocks already measured by :func:`block_fractions` (of one or of
        several rasters, concatenated)."""
        n_classes = fractions.shape[1]
        kept_codes, means, variances = [], [], []
        for code in np.unique(block_codes):
            members = fractions[block_codes == code]
            if len(members) < min_cells:
                continue
            kept_codes.append(int(code))
            means.append(members.mean(axis=0))
            variances.append(np.maximum(members.var(axis=0), VAR_FLOOR))
        empty = np.zeros((0, n_classes))
        return cls(
            codes=tuple(kept_codes),
            mean=np.array(means) if means else empty,
            var=np.array(variances) if variances else empty,
            cell=cell,
        )

    def index(self, codes: np.ndarray) -> np.ndarray:
        """``(…)`` codes → ``(…)`` int64 indices into :attr:`codes`, -1 for codes not kept."""
        table = dict(zip(self.codes, range(len(self.codes)), strict=True))
        distinct, inverse = np.unique(codes, return_inverse=True)
        lookup = np.array([table.get(int(code), -1) for code in distinct], dtype=np.int64)
        return lookup[inverse].reshape(codes.shape)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; :meth:`from_dict` reads it back."""
        return {
            "codes": list(self.codes),
            "mean": self.mean.tolist(),
            "var": self.var.tolist(),
            "cell": self.cell,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabelStatistics:
        """Read what :meth:`to_dict` wrote.

        Raises:
            ValueError: a key is missing or the arrays do not fit the codes.
        """
        missing = {"codes", "mean", "var", "cell"} - set(data)
        if missing:
            raise ValueError(f"label statistics lack {sorted(missing)}")
        n_codes = len(data["codes"])
        return cls(
            codes=tuple(int(code) for code in data["codes"]),
            mean=np.asarray(data["mean"], dtype=np.float64).reshape(n_codes, -1),
            var=np.asarray(data["var"], dtype=np.float64).reshape(n_codes, -1),
            cell=int(data["cell"]),
        )


def block_fractions(
    codes: np.ndarray, labels: np.ndarray, n_classes: int, cell: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each ``cell × cell`` block's code and class fractions: ``(N,)`` and ``(N, K)``.

    See :meth:`LabelStatistics.measure` for the rules (most frequent code, blocks at least
    half labelled, partial edge blocks dropped).
    """
    rows, cols = codes.shape[0] // cell, codes.shape[1] // cell
    if rows == 0 or cols == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, n_classes))

    def blocks(raster: np.ndarray) -> np.ndarray:
        cut = raster[: rows * cell, : cols * cell].reshape(rows, cell, cols, cell)
        return cut.transpose(0, 2, 1, 3).reshape(rows * cols, cell * cell)

    def histogram(values: np.ndarray, bins: int) -> np.ndarray:
        """``(N, cell²)`` ints in 0 … bins-1 → ``(N, bins)`` counts per block."""
        offsets = np.arange(len(values))[:, None] * bins
        flat = np.bincount((values + offsets).ravel(), minlength=len(values) * bins)
        return flat.reshape(len(values), bins)

    distinct, compact = np.unique(blocks(codes), return_inverse=True)
    compact = compact.reshape(rows * cols, cell * cell)
    block_codes = distinct[histogram(compact, len(distinct)).argmax(axis=1)]
    counts = histogram(blocks(labels).astype(np.int64) + 1, n_classes + 1)[:, 1:]
    labelled = counts.sum(axis=1)
    kept = 2 * labelled >= cell * cell
    return block_codes[kept], counts[kept] / labelled[kept, None]
