"""Colour clusters: the local Gaussian mixture and the k-means vote baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from geoppp.landcover.clustering import (
    _em_step,
    downsampled_clusters,
    local_gmm,
)
from geoppp.landcover.colour_vote import colour_cluster_vote


def two_colours(batch: int = 2, size: int = 16, seed: int = 1) -> torch.Tensor:
    """``(B, 3, size, size)``: dark left half, bright right half, a little noise."""
    image = torch.zeros(batch, 3, size, size)
    image[..., size // 2 :] = 1.0
    noise = torch.randn(image.shape, generator=torch.Generator().manual_seed(seed))
    return image + 0.05 * noise


def halves_separated(posteriors: torch.Tensor, valid: torch.Tensor | None = None) -> bool:
    """Whether, in every tile, one cluster holds the left half and another the right half
    with posteriors above 0.9 on every (valid) pixel, whichever clusters they are."""
    half = posteriors.shape[-1] // 2
    for b, tile in enumerate(posteriors):
        left = int(tile[:, :, :half].mean((1, 2)).argmax())
        right = int(tile[:, :, half:].mean((1, 2)).argmax())
        left_p, right_p = tile[left, :, :half], tile[right, :, half:]
        if valid is not None:
            left_p, right_p = left_p[valid[b, :, :half]], right_p[valid[b, :, half:]]
        if left == right or left_p.min() <= 0.9 or right_p.min() <= 0.9:
            return False
    return True


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_local_gmm_separates_two_colours(seed: int) -> None:
    posteriors = local_gmm(
        two_colours(), n_clusters=2, radius=6, iterations=15, generator=seeded(seed)
    )
    assert posteriors.shape == (2, 2, 16, 16)
    assert posteriors.dtype == torch.float32
    assert torch.allclose(posteriors.sum(1), torch.ones(2, 16, 16))
    assert halves_separated(posteriors)


def test_local_gmm_is_deterministic_for_a_seed() -> None:
    image = two_colours(batch=1)
    options = {"n_clusters": 4, "radius": 3, "iterations": 5}
    first = local_gmm(image, generator=seeded(7), **options)  # type: ignore[arg-type]
    again = local_gmm(image, generator=seeded(7), **options)  # type: ignore[arg-type]
    other = local_gmm(image, generator=seeded(8), **options)  # type: ignore[arg-type]
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_local_gmm_warmup_with_a_wide_window_separates_despite_a_narrow_one() -> None:
    # A 2-pixel radius alone sees one colour far from the edge and splits it by noise; a
    # warm-up at radius 10 settles the clusters first (the reference's schedule).
    image = two_colours(size=20)
    narrow = local_gmm(image, n_clusters=2, radius=2, iterations=10, generator=seeded(2))
    warmed = local_gmm(
        image,
        n_clusters=2,
        radius=2,
        iterations=10,
        warmup_iterations=6,
        warmup_radius=10,
        generator=seeded(2),
    )
    assert not halves_separated(narrow)
    assert halves_separated(warmed)


def test_local_gmm_invalid_pixels_are_uniform_and_weigh_nothing() -> None:
    image = two_colours()
    valid = torch.ones(2, 16, 16, dtype=torch.bool)
    valid[:, :3, :3] = False
    valid[1, 10:, 14:] = False
    nodata = image.clone()
    nodata[:, :, :3, :3] = float("nan")
    nodata[1, :, 10:, 14:] = -9999.0
    options = {"n_clusters": 2, "radius": 6, "iterations": 15, "valid": valid}
    posteriors = local_gmm(nodata, generator=seeded(0), **options)  # type: ignore[arg-type]
    assert torch.isfinite(posteriors).all()
    assert (posteriors.permute(1, 0, 2, 3)[:, ~valid] == 0.5).all()
    assert halves_separated(posteriors, valid)
    # What lies under the mask, NaN or not, does not matter at all.
    other = image.clone()
    other[:, :, :3, :3] = 0.5
    other[1, :, 10:, 14:] = 0.0
    again = local_gmm(other, generator=seeded(0), **options)  # type: ignore[arg-type]
    assert torch.equal(posteriors, again)


def test_em_step_on_a_masked_border_is_em_on_the_cropped_image() -> None:
    # Windows clipped at the image's edge and windows masked at invalid rows average the same
    # pixels: invalid pixels, whatever they hold, weigh nothing in any local average.
    image = two_colours(batch=1, size=12).double()
    start = torch.rand(1, 3, 12, 12, generator=seeded(6), dtype=torch.float64)
    start = start / start.sum(1, keepdim=True)
    valid = torch.ones(1, 1, 12, 12, dtype=torch.float64)
    valid[..., 9:, :] = 0
    garbage = image.clone()
    garbage[..., 9:, :] = 5.0
    masked = _em_step(garbage, start, valid, radius=2)
    cropped = _em_step(image[..., :9, :], start[..., :9, :], valid[..., :9, :], radius=2)
    assert torch.allclose(masked[..., :9, :], cropped, atol=1e-12)


def test_local_gmm_all_valid_mask_is_no_mask() -> None:
    image = two_colours(batch=1)
    plain = local_gmm(image, n_clusters=3, radius=4, iterations=8, generator=seeded(3))
    masked = local_gmm(
        image,
        n_clusters=3,
        radius=4,
        iterations=8,
        generator=seeded(3),
        valid=torch.ones(1, 16, 16, dtype=torch.bool),
    )
    assert torch.allclose(plain, masked, atol=1e-6)
    assert not torch.allclose(plain, plain.mean((2, 3), keepdim=True), atol=0.1)


def reference_em(image: torch.Tensor, p: torch.Tensor, radius: int, steps: int) -> torch.Tensor:
    """The reference's EM steps for one ``(bands, H, W)`` image, written out plainly."""

    def avg(data: torch.Tensor) -> torch.Tensor:
        flat = data.reshape(-1, 1, *data.shape[-2:])
        pooled = torch.nn.functional.avg_pool2d(
            flat, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False
        )
        return pooled.view(data.shape)

    x = image.double()
    for _ in range(steps):
        prior = avg(p)
        mass = avg(p).clamp(min=1e-6)
        mean = avg(torch.einsum("zij,cij->czij", x, p)) / mass.unsqueeze(1)
        var = avg(torch.einsum("zij,cij->czij", x**2, p)) / mass.unsqueeze(1) - mean**2
        var = var.clamp(min=1e-4)
        lp = (
            -avg(1 / var) * x**2
            + avg(2 * mean / var) * x
            - avg(mean**2 / var)
            - avg(torch.log(var))
        ).sum(1) / 2
        p = lp.softmax(0) * prior
        p = p / p.sum(0)
        p = (p + 0.001) / (p + 0.001).sum(0)
    return p


def test_local_gmm_follows_the_reference_em() -> None:
    image = torch.rand(1, 3, 12, 12, generator=seeded(11))
    start = torch.rand(1, 4, 12, 12, generator=seeded(5), dtype=torch.float64)
    expected = reference_em(image[0], start[0] / start[0].sum(0), radius=2, steps=4)
    result = local_gmm(image, n_clusters=4, radius=2, iterations=4, generator=seeded(5))
    assert torch.allclose(result[0], expected.float(), atol=1e-6)


@pytest.mark.parametrize("upsample", ["nearest", "bilinear"])
def test_downsampled_clusters_on_the_image_grid(upsample: str) -> None:
    # 30 is not a multiple of 4: the last blocks are partial.
    image = two_colours(size=32)[..., :30, 1:31].clone()
    valid = torch.ones(2, 30, 30, dtype=torch.bool)
    valid[:, :5, :5] = False
    # A bright block with one valid column: its colour is that column's, not a dark mix.
    valid[:, 8:12, 21:24] = False
    image[:, :, 8:12, 21:24] = 0.0
    posteriors = downsampled_clusters(
        image,
        factor=4,
        upsample=upsample,  # type: ignore[arg-type]
        n_clusters=2,
        radius=4,
        generator=seeded(0),
        valid=valid,
    )
    assert posteriors.shape == (2, 2, 30, 30)
    assert torch.allclose(posteriors.sum(1), torch.ones(2, 30, 30), atol=1e-6)
    assert (posteriors.permute(1, 0, 2, 3)[:, ~valid] == 0.5).all()
    if upsample == "nearest":
        # Image columns 1..30: the edge at image column 16 is column 15 here, inside the
        # block of columns 12..15, which then averages both colours; leave it out.
        cropped_valid = torch.cat([valid[:, :, :12], valid[:, :, 16:28]], dim=-1)
        cropped = torch.cat([posteriors[..., :12], posteriors[..., 16:28]], dim=-1)
        assert halves_separated(cropped, cropped_valid)


def test_downsampled_clusters_factor_one_is_local_gmm() -> None:
    image = two_colours(batch=1, size=16)
    direct = local_gmm(image, n_clusters=2, radius=3, iterations=5, generator=seeded(4))
    via = downsampled_clusters(
        image, factor=1, n_clusters=2, radius=3, iterations=5, generator=seeded(4)
    )
    assert torch.allclose(direct, via)


# --- colour_cluster_vote ----------------------------------------------------------------


def three_regions() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image of three colour bands of columns, weak labels whose argmax is right at 60%
    of pixels and wrong (spread over the other two classes) at 40%, and the truth."""
    rng = np.random.default_rng(0)
    truth = np.repeat(np.array([0, 1, 2]), 10)[None, :].repeat(30, axis=0)  # (30, 30)
    colours = np.array([[0.1, 0.2, 0.1], [0.8, 0.8, 0.7], [0.3, 0.6, 0.2]])
    image = colours[truth].transpose(2, 0, 1) + 0.02 * rng.standard_normal((3, 30, 30))
    noisy = np.where(
        rng.random(truth.shape) < 0.6, truth, (truth + rng.integers(1, 3, truth.shape)) % 3
    )
    weak = np.full((3, 30, 30), 0.1)
    np.put_along_axis(weak, noisy[None], 0.8, axis=0)
    return image, weak, truth


def test_colour_cluster_vote_takes_each_regions_majority() -> None:
    image, weak, truth = three_regions()
    valid = np.ones(truth.shape, dtype=bool)
    assert (weak.argmax(0) != truth).mean() > 0.3
    result = colour_cluster_vote(image, weak, valid, n_clusters=3, seed=0)
    assert result.shape == weak.shape and result.dtype == np.float32
    np.testing.assert_array_equal(result.argmax(0), truth)
    assert set(np.unique(result)) == {0.0, 1.0}
    # More clusters than colours: each still lies within one region and takes its majority.
    many = colour_cluster_vote(image, weak, valid, n_clusters=6, seed=0)
    np.testing.assert_array_equal(many.argmax(0), truth)


def test_colour_cluster_vote_nan_where_invalid_and_unlabelled_do_not_vote() -> None:
    image, weak, truth = three_regions()
    valid = np.ones(truth.shape, dtype=bool)
    valid[:4, :4] = False
    image[:, :4, :4] = np.nan
    # Unlabelled pixels of region 2 would outvote it if they voted (NaN argmax is 0).
    weak[:, 5:25, 20:] = np.nan
    result = colour_cluster_vote(image, weak, valid, n_clusters=3, seed=0)
    assert np.isnan(result[:, :4, :4]).all()
    assert not np.isnan(result[:, valid]).any()
    np.testing.assert_array_equal(result.argmax(0)[valid], truth[valid])


def test_colour_cluster_vote_a_cluster_without_votes_takes_the_nearest_colours_class() -> None:
    image, weak, truth = three_regions()
    weak[:, truth == 2] = np.nan
    result = colour_cluster_vote(image, weak, np.ones(truth.shape, dtype=bool), n_clusters=3)
    assert not np.isnan(result).any()
    # Region 2's colour (0.3, 0.6, 0.2) is nearer region 0's (0.1, 0.2, 0.1) than region 1's.
    np.testing.assert_array_equal(result.argmax(0)[truth == 2], 0)
    np.testing.assert_array_equal(result.argmax(0)[truth < 2], truth[truth < 2])


def test_colour_cluster_vote_nan_when_no_pixel_votes() -> None:
    image, weak, truth = three_regions()
    result = colour_cluster_vote(image, np.full_like(weak, np.nan), np.ones(truth.shape, bool))
    assert np.isnan(result).all()


def test_colour_cluster_vote_is_deterministic_for_a_seed() -> None:
    rng = np.random.default_rng(5)
    image = rng.random((3, 20, 20))
    weak = rng.random((4, 20, 20))
    valid = rng.random((20, 20)) > 0.1
    first = colour_cluster_vote(image, weak, valid, n_clusters=8, seed=3)
    again = colour_cluster_vote(image, weak, valid, n_clusters=8, seed=3)
    np.testing.assert_array_equal(first, again)


@pytest.mark.filterwarnings("error")
def test_colour_cluster_vote_on_a_flat_image_warns_nothing() -> None:
    weak = np.random.default_rng(0).random((4, 20, 20))
    flat = np.full((3, 20, 20), 7.0)
    result = colour_cluster_vote(flat, weak, np.ones((20, 20), dtype=bool), n_clusters=8)
    assert not np.isnan(result).any()
    assert len(np.unique(result.argmax(0))) == 1
