"""Pictures of patches (training patches or a prior's samples) as a PNG grid.

Each patch is drawn as its imagery in true colour (joint patches) beside its labels in class
colours, so that a user can judge a prior at a glance before trusting it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from geoppp.geo.quicklook import write_panels
from geoppp.landcover.patches import PatchLayout

GAP = 4  # white pixels between patches


def patch_pictures(
    patches: np.ndarray, layout: PatchLayout, colours: Sequence[tuple[int, int, int]]
) -> list[np.ndarray]:
    """``(3, h, w)`` uint8 pictures of each patch: RGB (joint) then labels, side by side.

    Args:
        patches: ``(N, C, H, W)`` float32, as drawn or sampled (roughly in [-1, 1]).
        layout: what the channels are.
        colours: an (R, G, B) per class.
    """
    palette = np.asarray(colours, dtype=np.uint8)
    pictures = []
    for patch in patches:
        labels = patch[layout.image_channels :]
        parts = [np.moveaxis(palette[np.argmax(labels, axis=0)], -1, 0)]
        if layout.mode == "joint":
            parts.insert(0, _true_colour(patch[: layout.image_channels], layout))
        height, width = parts[0].shape[1:]
        picture = np.full((3, height, width * len(parts) + GAP * (len(parts) - 1)), 255, np.uint8)
        for i, part in enumerate(parts):
            picture[:, :, i * (width + GAP) : i * (width + GAP) + width] = part
        pictures.append(picture)
    return pictures


def _true_colour(image: np.ndarray, layout: PatchLayout) -> np.ndarray:
    """Normalised bands (about ±``sigmas`` standard deviations in [-1, 1]) as display RGB:
    a stretch of each band over its own range, whatever the imagery's data type."""
    names = list(layout.band_names or ())
    channels = [names.index(n) for n in ("red", "green", "blue") if n in names]
    rgb = image[channels if len(channels) == 3 else [0, 1, 2][: image.shape[0]]]
    if rgb.shape[0] < 3:
        rgb = np.repeat(rgb[:1], 3, axis=0)
    return np.clip(np.rint((rgb + 1) * 127.5), 0, 255).astype(np.uint8)


def write_patch_grid(
    path: Path,
    patches: np.ndarray,
    layout: PatchLayout,
    colours: Sequence[tuple[int, int, int]],
    columns: int = 4,
    scale: int = 2,
) -> Path:
    """Write the pictures of ``patches`` as a PNG grid, ``columns`` wide, enlarged ``scale``×."""
    pictures = [
        picture.repeat(scale, axis=1).repeat(scale, axis=2)
        for picture in patch_pictures(patches, layout, colours)
    ]
    height, width = pictures[0].shape[1:]
    rows = -(-len(pictures) // columns)
    canvas = np.full(
        (3, rows * (height + 2 * GAP), min(columns, len(pictures)) * (width + 2 * GAP)),
        255,
        dtype=np.uint8,
    )
    for index, picture in enumerate(pictures):
        row, column = divmod(index, columns)
        top, left = row * (height + 2 * GAP), column * (width + 2 * GAP)
        canvas[:, top : top + height, left : left + width] = picture
    return write_panels(path, [canvas])
