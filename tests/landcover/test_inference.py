"""The land-cover side of plug-and-play inference: readout, coarsening, seeds, detail."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from geoppp.diffusion import load_checkpoint
from geoppp.diffusion.ppp import PlugAndPlayConfig
from geoppp.errors import ConfigError
from geoppp.landcover.inference import (
    ConstraintsConfig,
    PlugAndPlayModel,
    coarsen,
    label_probabilities,
    tile_seed,
    weak_detail,
)
from geoppp.landcover.patches import PatchLayout
from geoppp.landcover.priors import prior_path


def test_readout_inverts_the_bin_encoding() -> None:
    fractions = torch.tensor([0.7, 0.3, 0.0, 0.0, 0.0]).view(1, 5, 1, 1)
    read = label_probabilities(2 * fractions - 1)
    torch.testing.assert_close(read, fractions, atol=1e-3, rtol=0)
    pure = label_probabilities(torch.tensor([1.0, -1, -1, -1, -1]).view(1, 5, 1, 1))
    assert float(pure[0, 0]) > 0.999  # a softmax would leave 4 · e⁻² / Σ to the others


def test_tile_seeds_follow_the_position_alone() -> None:
    assert tile_seed(256, 512, 0) == tile_seed(256, 512, 0)
    seeds = {tile_seed(r, c, 0) for r in range(0, 1024, 224) for c in range(0, 1024, 224)}
    assert len(seeds) == 25
    assert tile_seed(0, 0, 0) != tile_seed(0, 0, 1)


def test_coarsen_averages_valid_pixels_only() -> None:
    layout = PatchLayout.from_dict(load_checkpoint(prior_path("demo-joint")).layout)
    image = np.full((1, 4, 8, 8), 100.0, dtype=np.float32)
    image[:, :, :4, :4] = 0.0  # nodata in the first cell's top-left…
    valid = np.ones((1, 8, 8), dtype=bool)
    valid[:, :4, :4] = False
    valid[:, :2, :4] = True  # …except its top half, which is real 0s
    weak = np.zeros((1, 5, 8, 8), dtype=np.float32)
    weak[:, 3] = 1.0
    arrays = {"image": image, "weak_labels": weak, "labelled": valid.copy()}
    tiles = coarsen(arrays, valid, 4, layout, torch.device("cpu"))
    assert tiles.image is not None and tiles.image.shape == (1, 4, 2, 2)
    assert bool(tiles.valid[0, 0, 0]) and bool(tiles.valid[0, 1, 1])  # half valid: kept
    # the bottom-right cell is pure 100s; the top-left cell averages its valid pixels alone
    normalisation = layout.normalisation
    assert normalisation is not None
    expected = (100.0 - normalisation.mean[0]) / (3 * normalisation.std[0])
    assert float(tiles.image[0, 0, 1, 1]) == pytest.approx(expected, abs=1e-5)
    torch.testing.assert_close(tiles.weak[0, :, 0, 0], torch.tensor([0.0, 0, 0, 1, 0]))


def test_weak_detail_keeps_flat_cells_and_sharpens_a_road() -> None:
    factor = 4
    fine = torch.full((1, 2, 8, 8), 0.5)
    weak = np.full((1, 2, 8, 8), 0.5, dtype=np.float32)
    weak[0, 0, :, 1], weak[0, 1, :, 1] = 1.0, 0.0  # a road, class 0, one pixel wide
    labelled = np.ones((1, 8, 8), dtype=bool)
    arrays = {"weak_labels": weak, "labelled": labelled}
    coarse = torch.nn.functional.avg_pool2d(torch.from_numpy(weak), factor)
    out = weak_detail(fine, coarse, arrays, labelled, factor)
    torch.testing.assert_close(out.sum(dim=1), torch.ones(1, 8, 8))
    assert (out[0, 0, :, 1] > 0.9).all()  # the road pixels
    assert (out[0, 0, :, 6:] - 0.5).abs().max() < 1e-6  # no detail in that cell: unchanged


def test_a_prior_at_a_gsd_that_is_not_a_multiple_of_the_pixels_is_refused() -> None:
    prior = load_checkpoint(prior_path("demo-labels"))
    with pytest.raises(ConfigError, match="whole multiple"):
        PlugAndPlayModel(prior, 3.0, PlugAndPlayConfig(steps=1), ConstraintsConfig())


def test_the_model_answers_nan_on_nodata_and_probabilities_elsewhere() -> None:
    prior = load_checkpoint(prior_path("demo-labels"))
    model = PlugAndPlayModel(
        prior, 1.0, PlugAndPlayConfig(steps=2), ConstraintsConfig(image=0, clusters=1.0)
    )
    rng = np.random.default_rng(0)
    valid = np.ones((2, 64, 64), dtype=bool)
    valid[1, :, :16] = False
    weak = rng.dirichlet(np.ones(5), size=(2, 64, 64)).transpose(0, 3, 1, 2).astype(np.float32)
    arrays = {
        "image": rng.uniform(0, 255, (2, 4, 64, 64)).astype(np.float32),
        "weak_labels": weak,
        "labelled": valid.copy(),
        "origin": np.array([[0, 0], [0, 64]], dtype=np.int64),
    }
    out = model(arrays, valid)
    assert out.shape == (2, 5, 64, 64)
    assert np.isnan(out[1, :, :, :16]).all()
    np.testing.assert_allclose(out[0].sum(axis=0), 1.0, atol=1e-4)
