"""Reference tours from fast-tsp (MIT; a C++ local search with Or-opt and Lin-Kernighan
style moves, on PyPI as ``fast-tsp``), used for training images and for optimality gaps.

Measured on this project's machine over 100 random instances each of TSP-50 and TSP-100,
fast-tsp's tours matched LKH-3's on all 200 (issue 7); LKH-3 proves nothing either, so gaps
are to the best known tour, not a certified optimum.
"""

from __future__ import annotations

import fast_tsp
import numpy as np

# fast-tsp takes 16-bit integer distances: the matrix is scaled so its largest entry is this.
_INTEGER_SCALE = 65_000


def reference_tour(distances: np.ndarray, seconds: float = 0.05) -> np.ndarray:
    """A near-optimal tour by fast-tsp.

    Args:
        distances: (N, N) float, symmetric, non-negative.
        seconds: fast-tsp's wall-clock budget; 0.05 s reaches the best known tour on
            almost every TSP-50 and TSP-100 instance.

    Returns:
        (N,) int64, a permutation of the nodes.
    """
    largest = float(distances.max())
    scale = _INTEGER_SCALE / largest if largest > 0 else 1.0
    integers = np.rint(distances * scale).astype(np.int64)
    return np.asarray(fast_tsp.find_tour(integers.tolist(), seconds), dtype=np.int64)
