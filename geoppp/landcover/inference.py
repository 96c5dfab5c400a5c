"""Plug-and-play land-cover inference for a batch of tiles: the model the geo engine runs.

Per batch: the tiles' imagery and weak labels are averaged to the prior's ground sampling
distance, η is initialised from the weak labels (and, for a joint prior, the observed image),
the land-cover constraints are bound to the batch, :func:`geoppp.diffusion.ppp.optimise`
runs, and the label channels are read out as class probabilities and upsampled back to the
imagery's pixels.

Labels are read out through the "bin" encoding the prior was trained on (a class channel is
its fraction × 2 - 1): p_k ∝ max((x_k + 1)/2, 1e-4). A softmax would also give a
distribution, but of values the prior never produced: a channel at -1 ("none of this class")
would still get e^{-1}/Σ of the mass, so a pure cell could not be read out as pure.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from geoppp.diffusion.checkpoint import LoadedCheckpoint
from geoppp.diffusion.ppp import WeightedConstraint, optimise
from geoppp.diffusion.settings import PlugAndPlayConfig
from geoppp.errors import ConfigError
from geoppp.landcover.clustering import local_gmm
from geoppp.landcover.colour_model import (
    fit_colour_models,
    refine_with_colour,
    weak_reach,
)
from geoppp.landcover.constraints import (
    cluster_agreement,
    colour_model_loglik,
    image_match,
    label_statistics_loglik,
    local_nmi,
    weak_label_kl,
)
from geoppp.landcover.label_statistics import LabelStatistics
from geoppp.landcover.learned_likelihood import (
    coarse_probabilities,
    network_probabilities,
    product_readout,
)
from geoppp.landcover.patches import PatchLayout
from geoppp.landcover.segmentation import SegmentationModel
from geoppp.landcover.settings import ColourRefinementConfig, ConstraintsConfig


def label_probabilities(channels: Tensor) -> Tensor:
    """Class probabilities from label channels in the bin encoding: (B, K, H, W) → same."""
    fractions = ((channels + 1.0) / 2.0).clamp(min=1e-4)
    return fractions / fractions.sum(dim=1, keepdim=True)


def tile_seed(row: int, col: int, seed: int) -> int:
    """A tile's own seed, from its position on the grid: independent of batches and workers."""
    return zlib.crc32(np.array([row, col, seed], dtype=np.int64).tobytes())


@dataclass(frozen=True)
class CoarseTiles:
    """A batch of tiles at the prior's ground sampling distance."""

    image: Tensor | None
    """(B, bands, h, w) normalised to [-1, 1] as the prior was trained, or None."""
    weak: Tensor
    """(B, K, h, w) weak-label class probabilities (uniform where unlabelled)."""
    valid: Tensor
    """(B, h, w) bool: cells with at least half their pixels valid."""
    colour: Tensor
    """(B, bands, h, w) the mean image, standardised per tile and band, for clustering."""
    codes: Tensor | None
    """(B, h, w) long: the class-code raster's code at each cell's centre (-1: none)."""
    reach: Tensor
    """(B, K) each class's largest weak probability at the tile's labelled pixels
    (:func:`~geoppp.landcover.colour_model.weak_reach`)."""


def coarsen(
    arrays: Mapping[str, np.ndarray],
    valid: np.ndarray,
    factor: int,
    layout: PatchLayout,
    device: torch.device,
) -> CoarseTiles:
    """Average a batch's fine arrays over ``factor`` × ``factor`` blocks of valid pixels."""
    fine_valid = torch.from_numpy(valid).to(device).float().unsqueeze(1)
    labelled = torch.from_numpy(arrays["labelled"]).to(device).float().unsqueeze(1)
    weak = torch.from_numpy(np.nan_to_num(arrays["weak_labels"])).to(device).float()
    reach = weak_reach(weak, (labelled * fine_valid)[:, 0] > 0)
    weak_share = F.avg_pool2d(labelled * fine_valid, factor)
    weak = F.avg_pool2d(weak * labelled * fine_valid, factor) / weak_share.clamp(min=1e-6)
    uniform = torch.full_like(weak, 1.0 / weak.shape[1])
    weak = torch.where(weak_share > 0, weak, uniform)
    weak = weak / weak.sum(dim=1, keepdim=True).clamp(min=1e-6)
    share = F.avg_pool2d(fine_valid, factor)
    coarse_valid = share >= 0.5
    fine = torch.from_numpy(arrays["image"]).to(device).float()
    mean_image = F.avg_pool2d(fine * fine_valid, factor) / share.clamp(min=1e-6)
    cells = coarse_valid.float().sum(dim=(2, 3), keepdim=True).clamp(min=1.0)
    centre = (mean_image * coarse_valid).sum(dim=(2, 3), keepdim=True) / cells
    spread = (((mean_image - centre) * coarse_valid) ** 2).sum(dim=(2, 3), keepdim=True) / cells
    colour = (mean_image - centre) / spread.sqrt().clamp(min=1e-3)
    image = None
    if layout.mode == "joint":
        assert layout.normalisation is not None  # PatchLayout guarantees it for joint
        normalisation = layout.normalisation
        mean = torch.tensor(normalisation.mean, device=device).view(1, -1, 1, 1).float()
        std = torch.tensor(normalisation.std, device=device).view(1, -1, 1, 1).float()
        image = ((mean_image - mean) / (normalisation.sigmas * std)).clamp(-1.0, 1.0)
    codes = None
    if "codes" in arrays:
        middle = factor // 2
        codes = torch.from_numpy(arrays["codes"][:, middle::factor, middle::factor].copy())
    return CoarseTiles(image, weak, coarse_valid[:, 0], colour, codes, reach)


DETAIL_FLOOR = 0.01
"""Added to both weak-label maps in :func:`weak_detail`, so that a class the weak labels
rule out at a pixel is damped, not erased."""


def weak_detail(
    fine: Tensor,
    coarse_weak: Tensor,
    arrays: Mapping[str, np.ndarray],
    valid: np.ndarray,
    factor: int,
) -> Tensor:
    """The prior's upsampled probabilities times the weak labels' detail within each cell.

    The prior works on cells of ``factor`` pixels, so a 4 m road drawn from a vector layer
    is a smear after upsampling. Where the weak labels vary inside a cell, the ratio of the
    pixel's weak probability to the cell's (upsampled alike) says which pixels of the cell
    hold which class: p(k) ∝ p_prior(k) · (w_pixel(k) + f) / (w_cell(k) + f), with f =
    :data:`DETAIL_FLOOR`. Where the weak labels are flat within the cell the ratio is 1 and
    the prior decides alone. (B, K, H, W) → same.
    """
    device = fine.device
    labelled = torch.from_numpy(arrays["labelled"] & valid).to(device).unsqueeze(1)
    weak = torch.from_numpy(np.nan_to_num(arrays["weak_labels"])).to(device).float()
    cell = F.interpolate(coarse_weak, scale_factor=factor, mode="bilinear", align_corners=False)
    ratio = (weak + DETAIL_FLOOR) / (cell + DETAIL_FLOOR)
    detailed = fine * torch.where(labelled, ratio, torch.ones_like(ratio))
    return detailed / detailed.sum(dim=1, keepdim=True).clamp(min=1e-12)


class PlugAndPlayModel:
    """A :class:`~geoppp.geo.engine.BatchModel`: class probabilities by plug-and-play
    inference under a frozen prior.

    Args:
        prior: the loaded checkpoint (its layout says bands, classes, GSD and encoding).
        pixel_size: the imagery's pixel size in metres; the prior's GSD must be a whole
            multiple of it.
        optimiser: steps, learning rate, schedules, refinement.
        constraints: which terms, with which weights.
        seed: mixed into each tile's seed.
        device: where to run (the checkpoint's model is moved there).
        statistics: label statistics measured on the source region and the side of their
            blocks in metres, for the ``statistics`` constraint.
        weak_detail: bring the weak labels' detail finer than the prior's cells back into
            the upsampled probabilities (see :func:`weak_detail`).
        colour_refinement: read the upsampled probabilities out through per-tile class
            colour models at the imagery's resolution (see
            :func:`~geoppp.landcover.colour_model.refine_with_colour`); None: do not.
        network: a segmentation network trained on the source, whose class probabilities
            are the ``network`` constraint and, to the power ``network_readout``, a factor
            of the full-resolution readout (:mod:`geoppp.landcover.learned_likelihood`).
        network_readout: that power (0: the network is left out of the readout).
        progress: show a bar of the optimiser's steps for each batch.
    """

    def __init__(
        self,
        prior: LoadedCheckpoint,
        pixel_size: float,
        optimiser: PlugAndPlayConfig,
        constraints: ConstraintsConfig,
        seed: int = 0,
        device: torch.device | str = "cpu",
        statistics: tuple[LabelStatistics, float] | None = None,
        weak_detail: bool = True,
        colour_refinement: ColourRefinementConfig | None = None,
        network: SegmentationModel | None = None,
        network_readout: float = 0.0,
        progress: bool = False,
    ) -> None:
        self.layout = PatchLayout.from_dict(prior.layout)
        ratio = self.layout.gsd / pixel_size
        if abs(ratio - round(ratio)) > 1e-6 or round(ratio) < 1:
            raise ConfigError(
                f"prior {prior.path} works at {self.layout.gsd} m, which is not a whole multiple "
                f"of the imagery's {pixel_size} m pixels; use imagery resampled to a divisor of "
                f"{self.layout.gsd} m or a prior trained at a multiple of {pixel_size} m"
            )
        self.factor = round(ratio)
        self.device = torch.device(device)
        self.model = prior.model.to(self.device)
        self.schedule = prior.schedule
        self.optimiser = optimiser
        self.constraints = constraints
        self.seed = seed
        if constraints.statistics > 0 and statistics is None:
            raise ConfigError("the statistics constraint needs label statistics")
        self.statistics = statistics
        if constraints.network > 0 and network is None:
            raise ConfigError("the network constraint needs a segmentation network")
        self.network = network
        self.network_readout = network_readout
        self.weak_detail = weak_detail
        self.colour_refinement = colour_refinement
        self.progress = progress

    def __call__(self, arrays: dict[str, np.ndarray], valid: np.ndarray) -> np.ndarray:
        height, width = valid.shape[1:]
        if height % self.factor or width % self.factor:
            raise ConfigError(
                f"tiles of {height}×{width} pixels do not divide into the prior's "
                f"{self.factor}×{self.factor}-pixel cells; make tile_size + 2·halo a multiple "
                f"of {self.factor}"
            )
        with torch.no_grad():
            tiles = coarsen(arrays, valid, self.factor, self.layout, self.device)
            learned = None
            if self.network is not None:
                learned = network_probabilities(self.network, arrays, valid).to(self.device)
        origins = arrays["origin"].reshape(len(valid), 2)
        seeds = [tile_seed(int(r), int(c), self.seed) for r, c in origins]
        init = self.initial_eta(tiles)
        terms = self.bind_constraints(tiles, seeds)
        if learned is not None and self.constraints.network > 0:
            coarse = coarse_probabilities(learned, valid, self.factor)
            terms.append(self.network_term(coarse, tiles))
        result = optimise(
            self.model, self.schedule, init, terms, self.optimiser, seeds, progress=self.progress
        )
        with torch.no_grad():
            probabilities = label_probabilities(result.x[:, self.layout.image_channels :])
            fine = F.interpolate(
                probabilities, scale_factor=self.factor, mode="bilinear", align_corners=False
            )
            if self.weak_detail:
                fine = weak_detail(fine, tiles.weak, arrays, valid, self.factor)
            if learned is not None:
                fine = product_readout(fine, learned, self.network_readout)
            if self.colour_refinement is not None:
                image = torch.from_numpy(np.nan_to_num(arrays["image"])).to(self.device)
                mask = torch.from_numpy(valid).to(self.device)
                fine = refine_with_colour(fine, image, mask, self.colour_refinement, tiles.reach)
        out = fine.cpu().numpy().astype(np.float32)
        out[~np.broadcast_to(valid[:, np.newaxis], out.shape)] = np.nan
        return out

    def initial_eta(self, tiles: CoarseTiles) -> Tensor:
        """η at step 0: the weak-label prior in the bin encoding, after the observed image."""
        labels = 2.0 * tiles.weak - 1.0
        if tiles.image is None:
            return labels
        return torch.cat([tiles.image, labels], dim=1)

    def bind_constraints(self, tiles: CoarseTiles, seeds: list[int]) -> list[WeightedConstraint]:
        """The configured constraint terms, bound to this batch's observations."""
        settings = self.constraints
        image_channels = self.layout.image_channels
        valid = tiles.valid
        terms: list[WeightedConstraint] = []

        def labels_of(x: Tensor) -> Tensor:
            return label_probabilities(x[:, image_channels:])

        if tiles.image is not None and settings.image > 0:
            observed, sigma = tiles.image, settings.image_sigma
            terms.append(
                WeightedConstraint(
                    "image",
                    settings.image,
                    lambda x: image_match(x[:, :image_channels], observed, valid, sigma),
                )
            )
        if settings.weak_kl > 0:
            weak, pool = tiles.weak, settings.pool
            terms.append(
                WeightedConstraint(
                    "weak_kl",
                    settings.weak_kl,
                    lambda x: weak_label_kl(labels_of(x), weak, valid, pool),
                )
            )
        if settings.statistics > 0 and self.statistics is not None:
            terms.append(self.statistics_term(tiles, settings.statistics))
        if settings.colour_model > 0:
            _, colour_loglik = fit_colour_models(
                tiles.weak,
                tiles.colour,
                valid,
                settings.colour_model_iterations,
                0.0,
                tiles.reach >= settings.colour_model_absent_below,
            )
            terms.append(
                WeightedConstraint(
                    "colour_model",
                    settings.colour_model,
                    lambda x: colour_model_loglik(labels_of(x), colour_loglik, valid),
                )
            )
        if settings.nmi > 0 or settings.clusters > 0:
            clusters = self.colour_clusters(tiles, seeds)
            radius = settings.cluster_radius
            if settings.nmi > 0:
                terms.append(
                    WeightedConstraint(
                        "nmi",
                        settings.nmi,
                        lambda x: local_nmi(labels_of(x), clusters, valid, radius),
                    )
                )
            if settings.clusters > 0:
                confidence = tiles.weak.max(dim=1).values
                terms.append(
                    WeightedConstraint(
                        "clusters",
                        settings.clusters,
                        lambda x: cluster_agreement(
                            labels_of(x), clusters, confidence, valid, radius
                        ),
                    )
                )
        return terms

    def network_term(self, learned: Tensor, tiles: CoarseTiles) -> WeightedConstraint:
        """The learned-likelihood term, bound to the network's probabilities at the cells."""
        valid, image_channels = tiles.valid, self.layout.image_channels
        return WeightedConstraint(
            "network",
            self.constraints.network,
            lambda x: weak_label_kl(
                label_probabilities(x[:, image_channels:]), learned, valid, pool=1
            ),
        )

    def statistics_term(self, tiles: CoarseTiles, weight: float) -> WeightedConstraint:
        """The label super-resolution term, bound to the batch's codes."""
        assert self.statistics is not None
        statistics, cell_metres = self.statistics
        if tiles.codes is None:
            raise ConfigError(
                "the statistics constraint needs the region's class codes: give it an `nlcd` "
                "or `class_codes` weak-label source"
            )
        index = torch.from_numpy(statistics.index(tiles.codes.numpy())).to(self.device)
        mean = torch.as_tensor(statistics.mean, dtype=torch.float32, device=self.device)
        var = torch.as_tensor(statistics.var, dtype=torch.float32, device=self.device)
        block = max(1, round(cell_metres / self.layout.gsd))
        valid, image_channels = tiles.valid, self.layout.image_channels
        return WeightedConstraint(
            "statistics",
            weight,
            lambda x: label_statistics_loglik(
                label_probabilities(x[:, image_channels:]), index, valid, mean, var, block
            ),
        )

    def colour_clusters(self, tiles: CoarseTiles, seeds: list[int]) -> Tensor:
        """Local Gaussian-mixture clusters of the coarse image, (B, M, h, w); each tile
        clustered alone from its own seed."""
        posteriors = []
        for index, seed in enumerate(seeds):
            generator = torch.Generator(device=self.device).manual_seed(seed)
            posteriors.append(
                local_gmm(
                    tiles.colour[index : index + 1],
                    n_clusters=self.constraints.n_clusters,
                    radius=self.constraints.cluster_radius,
                    iterations=self.constraints.cluster_iterations,
                    generator=generator,
                    valid=tiles.valid[index : index + 1],
                )
            )
        return torch.cat(posteriors).float()
