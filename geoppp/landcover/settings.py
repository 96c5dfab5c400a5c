"""The land-cover models' settings and constants: pydantic models with no torch behind them,
so that a YAML file is validated (``geoppp validate``) without loading torch."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ABSENT_BELOW = 0.01
"""Default weak-label probability below which, at every labelled pixel, a class is absent."""
MAX_OVERLAP = 1.0
"""Default Bhattacharyya coefficient above which two classes' colour models are one group."""


class ColourRefinementConfig(BaseModel):
    """Read the map out through per-tile class colour models at the imagery's resolution."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    iterations: int = Field(5, ge=1, description="EM steps of the class colour models.")
    pseudo_count: float = Field(
        1000.0,
        ge=0,
        description="Pixels of the tile's overall colour distribution added to each class's "
        "Gaussian, so that a class rare in a tile stays broad.",
    )
    absent_below: float = Field(
        ABSENT_BELOW,
        ge=0,
        lt=1,
        description="A class whose weak-label probability stays below this at every labelled "
        "pixel of a tile is absent from that tile's readout (0: no class is ruled out).",
    )
    max_overlap: float = Field(
        MAX_OVERLAP,
        ge=0,
        le=1,
        description="Classes whose colour models overlap more than this (Bhattacharyya "
        "coefficient, 1: identical) share the readout's mass as the probabilities before it "
        "do: colour decides only between classes it can tell apart (1: always let it).",
    )


class ConstraintsConfig(BaseModel):
    """Which land-cover constraints drive η, and their weights (0 switches a term off)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: float = Field(1.0, ge=0, description="Joint prior: match the observed bands.")
    image_sigma: float = Field(
        0.1, gt=0, description="Std of the image match, in normalised units."
    )
    weak_kl: float = Field(1.0, ge=0, description="KL(weak labels ‖ pooled labels).")
    pool: int = Field(
        8, ge=1, description="Pool size of the KL term in prior pixels (the reference: 31 at 4 m)."
    )
    statistics: float = Field(
        0.0,
        ge=0,
        description="Label super-resolution statistics: Gaussian likelihood of each block's "
        "class fractions under its coarse code's mean and variance, measured on the source.",
    )
    colour_model: float = Field(
        0.0,
        ge=0,
        description="Likelihood of the observed colours under per-class colour models fitted "
        "on the tile itself from the weak labels, mixed by the labels.",
    )
    colour_model_iterations: int = Field(
        4, ge=1, description="EM steps fitting the colour models of the `colour_model` term."
    )
    colour_model_absent_below: float = Field(
        ABSENT_BELOW,
        ge=0,
        lt=1,
        description="A class whose weak-label probability stays below this at every labelled "
        "pixel of a tile gets no colour model there (0: every class gets one).",
    )
    network: float = Field(
        0.0,
        ge=0,
        description="Learned likelihood: -KL(network ‖ labels) per prior cell, for the class "
        "probabilities of a segmentation network trained on the source (the step's `network`).",
    )
    nmi: float = Field(0.0, ge=0, description="Local NMI of labels and colour clusters.")
    clusters: float = Field(
        0.0, ge=0, description="Class-aware colour term: a local cluster shares one label."
    )
    n_clusters: int = Field(5, ge=2, description="Colour clusters (the reference: 5).")
    cluster_radius: int = Field(8, ge=1, description="Radius of the local clustering, prior px.")
    cluster_iterations: int = Field(30, ge=1, description="EM iterations of the clustering.")


IGNORE = -1
"""Label of pixels left out of the loss (nodata imagery, unlabelled, unknown codes)."""


MULTIPLE = 32
"""Tiles are padded to a multiple of this before the network (the deepest encoder stride)."""


class NetworkConfig(BaseModel):
    """A segmentation-models-pytorch network; the defaults are small enough for a CPU."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    architecture: Literal["Unet", "UnetPlusPlus", "FPN", "DeepLabV3Plus"] = Field(
        "Unet", description="smp architecture."
    )
    encoder: str = Field("resnet18", description="smp encoder name (no pretrained weights).")
    encoder_depth: int = Field(4, ge=3, le=5, description="Encoder stages.")
    decoder_channels: list[int] = Field(
        [128, 64, 32, 16],
        description="Unet/UnetPlusPlus decoder channels, one per encoder stage.",
    )

    @model_validator(mode="after")
    def _one_decoder_stage_per_encoder_stage(self) -> NetworkConfig:
        unet = self.architecture in ("Unet", "UnetPlusPlus")
        if unet and len(self.decoder_channels) != self.encoder_depth:
            raise ValueError(
                f"decoder_channels has {len(self.decoder_channels)} entries for encoder_depth "
                f"{self.encoder_depth}; give one per encoder stage"
            )
        return self


class SegmentationTrainingConfig(BaseModel):
    """How a segmentation network is trained."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    patch_size: int = Field(128, ge=32, description="Training window side, imagery pixels.")
    batch_size: int = Field(8, ge=1, description="Windows per step.")
    steps: int = Field(300, ge=1, description="Optimiser steps.")
    lr: float = Field(1e-3, gt=0, description="AdamW learning rate.")
    dice: float = Field(
        0.5, ge=0, description="Weight of smp's Dice loss beside the cross-entropy."
    )
    seed: int = Field(0, ge=0, description="Seeds the network's initialisation and windows.")
    colour_jitter: float = Field(
        0.2,
        ge=0,
        lt=1,
        description="Per window and band, a gain in 1 ± this and an offset in ± this (in "
        "normalised units), so that the network does not learn one scene's radiometry.",
    )

    @model_validator(mode="after")
    def _patch_multiple(self) -> SegmentationTrainingConfig:
        if self.patch_size % MULTIPLE:
            raise ValueError(f"patch_size must be a multiple of {MULTIPLE}")
        return self
