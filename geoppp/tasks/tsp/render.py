"""Tour images as the prior sees them: 64 × 64 in [-1, 1], background -1, edges 0 (about
2 px wide), nodes +1 (discs of radius 2 px), as in the released code of Graikos et al.

One geometry serves training and inference: a point (x, y) of the unit square lies at column
``x · size`` and row ``y · size``; a pixel belongs to an edge when its centre is within
``EDGE_HALF_WIDTH`` pixels of the segment, and to a node when within ``NODE_RADIUS`` pixels
of it. Training images draw the tour's edges; inference draws every possible edge weighted
by a relaxed adjacency matrix (:class:`EdgeCanvas`), so the image is differentiable in it.
"""

from __future__ import annotations

import torch
from torch import Tensor

IMAGE_SIZE = 64
EDGE_HALF_WIDTH = 1.0
NODE_RADIUS = 2.0


def geometry() -> dict[str, float]:
    """The rendering constants, as stored in a prior's checkpoint layout."""
    return {
        "image_size": IMAGE_SIZE,
        "edge_half_width": EDGE_HALF_WIDTH,
        "node_radius": NODE_RADIUS,
    }


def pixel_centres(size: int = IMAGE_SIZE) -> tuple[Tensor, Tensor]:
    """Pixel centres in pixel units: (columns, rows), each (size²,) float32, row-major."""
    axis = torch.arange(size, dtype=torch.float32) + 0.5
    rows, columns = torch.meshgrid(axis, axis, indexing="ij")
    return columns.flatten(), rows.flatten()


def segment_masks(coords: Tensor, pairs: Tensor, size: int = IMAGE_SIZE) -> Tensor:
    """Which pixels each segment covers.

    Args:
        coords: (N, 2) float node coordinates in the unit square.
        pairs: (P, 2) long node indices of the segments' ends.
        size: image side in pixels.

    Returns:
        (P, size²) bool, row-major pixels.
    """
    # x and y apart rather than a trailing axis of 2: reductions over it are slow on CPU.
    columns, rows = pixel_centres(size)
    points = coords.float() * size
    x0, y0 = points[pairs[:, 0], 0, None], points[pairs[:, 0], 1, None]
    dx = points[pairs[:, 1], 0, None] - x0
    dy = points[pairs[:, 1], 1, None] - y0
    ox, oy = columns - x0, rows - y0  # (P, size²)
    along = ((ox * dx + oy * dy) / (dx * dx + dy * dy).clamp_min(1e-12)).clamp_(0.0, 1.0)
    ox -= along * dx
    oy -= along * dy
    return ox * ox + oy * oy <= EDGE_HALF_WIDTH**2


def node_masks(coords: Tensor, size: int = IMAGE_SIZE) -> Tensor:
    """(B, size, size) bool: pixels within ``NODE_RADIUS`` of a node; ``coords`` (B, N, 2)."""
    columns, rows = pixel_centres(size)
    points = coords.float() * size
    dx = columns - points[..., 0, None]
    dy = rows - points[..., 1, None]
    return (dx * dx + dy * dy <= NODE_RADIUS**2).any(1).reshape(-1, size, size)


def render_tours(coords: Tensor, tours: Tensor, size: int = IMAGE_SIZE) -> Tensor:
    """Images of tours, the prior's training data.

    Args:
        coords: (B, N, 2) float node coordinates in the unit square.
        tours: (B, N) long, each a permutation of 0 … N-1 (the cycle closes back to the start).

    Returns:
        (B, 1, size, size) float32 in {-1, 0, 1}.
    """
    images = []
    for points, tour in zip(coords, tours, strict=True):
        pairs = torch.stack([tour, tour.roll(-1)], dim=1)
        covered = segment_masks(points, pairs, size).any(0)
        images.append(covered.float().reshape(size, size) - 1.0)
    image = torch.stack(images)
    image = torch.where(node_masks(coords, size), torch.ones_like(image), image)
    return image[:, None]


class EdgeCanvas:
    """Differentiable rendering of weighted edges for a batch of instances of N nodes.

    Every one of the N(N-1)/2 possible edges is rasterised once into a list of
    (pixel, edge) pairs over the whole batch, so an image is one scatter-add of the edge
    weights: pixel value -1 + min(1, Σ_e w_e · [pixel on e]), node pixels +1. A list, not
    a dense stack, because an edge covers about 2·length pixels: for N = 100 a dense stack
    would be 80 MB per instance; a scatter-add rather than a sparse matrix product because
    its backward (a gather) was several times faster on CPU.

    Args:
        coords: (B, N, 2) float node coordinates in the unit square.
        size: image side in pixels.
    """

    def __init__(self, coords: Tensor, size: int = IMAGE_SIZE) -> None:
        batch, nodes, _ = coords.shape
        self.size = size
        self.nodes = nodes
        self.pairs = torch.triu_indices(nodes, nodes, offset=1).T  # (E, 2)
        edges = self.pairs.shape[0]
        pixels, indices = [], []
        for b, points in enumerate(coords):
            edge, pixel = segment_masks(points, self.pairs, size).nonzero(as_tuple=True)
            pixels.append(pixel + b * size * size)
            indices.append(edge + b * edges)
        self.pixels = torch.cat(pixels)
        self.edges = torch.cat(indices)
        self.batch = batch
        self.node_mask = node_masks(coords, size)[:, None]

    def __call__(self, weights: Tensor) -> Tensor:
        """Render symmetric edge weights.

        Args:
            weights: (B, N, N) float, symmetric, in [0, 1] (a tour's adjacency matrix gives
                its training image exactly); the diagonal is ignored.

        Returns:
            (B, 1, size, size) float32 in [-1, 1], differentiable in ``weights``.
        """
        edge_weights = weights[:, self.pairs[:, 0], self.pairs[:, 1]].reshape(-1).float()
        canvas = edge_weights.new_zeros(self.batch * self.size * self.size)
        drawn = canvas.index_add(0, self.pixels, edge_weights[self.edges])
        image = drawn.reshape(self.batch, 1, self.size, self.size).clamp(max=1.0) - 1.0
        return torch.where(self.node_mask, torch.ones_like(image), image)
