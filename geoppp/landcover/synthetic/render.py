"""Aerial imagery of a synthetic layout: R, G, B and near-infrared, as a sensor would see it.

Each class has a mean colour; brightness varies within objects (fine and medium-scale
texture) and between them (each field, yard, roof and pool its own shade). Trees and
buildings cast shadows away from the sun, the sensor's blur mixes the pixels at class edges,
and sensor noise is added. One corner is left as nodata, as at the edge of a real scene.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from geoppp.landcover.synthetic.domains import Domain
from geoppp.landcover.synthetic.layout import Layout
from geoppp.landcover.synthetic.noise import smooth_noise

SUN_ELEVATION = np.deg2rad(55.0)
"""Sun elevation of a late-morning summer acquisition; the sun is in the south-east, so
shadows fall to the north-west (up and to the left in the image)."""
SHADOW_GAIN = np.array([0.5, 0.52, 0.58, 0.62], dtype=np.float32)
"""Share of the light left in shadow, per band: diffuse skylight is bluer."""
BLUR_SIGMA = 0.7
"""Standard deviation of the sensor's point-spread function, pixels."""
NOISE_SIGMA = 2.0
"""Standard deviation of the sensor noise, digital numbers."""
COLLAR = 1.85
"""Pixels with row + column above this many times the side are nodata."""


def render_imagery(layout: Layout, domain: Domain, rng: np.random.Generator) -> np.ndarray:
    """Render ``layout`` as ``domain`` looks.

    Returns:
        (4, H, W) uint8 red, green, blue, near-infrared; 0 only in the nodata collar.
    """
    labels = layout.labels
    shape = labels.shape
    colours = np.zeros((max(domain.appearance) + 1, 4), dtype=np.float32)
    textures = np.zeros(max(domain.appearance) + 1, dtype=np.float32)
    for value, appearance in domain.appearance.items():
        colours[value], textures[value] = appearance.colour, appearance.texture
    shade = rng.standard_normal(int(layout.objects.max()) + 1).astype(np.float32)
    shade[0] = 0.0
    brightness = 1.0 + textures[labels] * (
        0.6 * smooth_noise(shape, 1.0, rng)
        + 0.4 * smooth_noise(shape, 8.0, rng)
        + 0.9 * shade[layout.objects]
    )
    in_shadow = _shadow(layout.heights)
    image = np.empty((4, *shape), dtype=np.float32)
    for band in range(4):
        light = np.where(in_shadow, SHADOW_GAIN[band], np.float32(1.0))
        image[band] = ndimage.gaussian_filter(
            colours[labels, band] * brightness * light, BLUR_SIGMA
        )
    image += NOISE_SIGMA * rng.standard_normal(image.shape, dtype=np.float32)
    pixels = np.clip(np.rint(image), 1, 255).astype(np.uint8)
    rows, columns = np.ogrid[: shape[0], : shape[1]]
    pixels[:, rows + columns > COLLAR * min(shape)] = 0
    return pixels


def _shadow(heights: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels that something taller hides from the sun.

    A pixel is in shadow if, looking towards the sun (down and to the right, one diagonal
    pixel per step), some obstacle rises above the ray from the pixel to the sun.
    """
    drop = np.sqrt(2.0) * np.tan(SUN_ELEVATION)  # metres the ray rises per diagonal step
    shadow = np.zeros(heights.shape, dtype=bool)
    for k in range(1, int(np.ceil(heights.max() / drop)) + 1):
        shadow[:-k, :-k] |= heights[k:, k:] - k * drop > heights[:-k, :-k] + 0.5
    return shadow
