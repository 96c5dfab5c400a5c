"""The source network as a plug-and-play term: its gradient, its weight, and what it adds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from geoppp.diffusion import load_checkpoint
from geoppp.diffusion.ppp import PlugAndPlayConfig
from geoppp.errors import ConfigError
from geoppp.landcover.constraints import weak_label_kl
from geoppp.landcover.inference import ConstraintsConfig, PlugAndPlayModel
from geoppp.landcover.learned_likelihood import (
    FLOOR,
    coarse_probabilities,
    network_probabilities,
    product_readout,
)
from geoppp.landcover.patches import Normalisation
from geoppp.landcover.priors import prior_path
from geoppp.landcover.segmentation import (
    LoadedNetwork,
    NetworkConfig,
    SegmentationMetadata,
    SegmentationModel,
)

CLASSES = 5
SIZE = 64


class Oracle(nn.Module):
    """A 'network' whose logits name the classes of ``truth``, whatever the image."""

    def __init__(self, truth: np.ndarray, confidence: float = 4.0) -> None:
        super().__init__()
        one_hot = np.eye(CLASSES, dtype=np.float32)[truth].transpose(2, 0, 1)
        self.register_buffer("logits", torch.from_numpy(confidence * one_hot))

    def forward(self, image: Tensor) -> Tensor:
        height, width = image.shape[-2:]
        logits = self.logits[:, :height, :width]
        return logits.expand(len(image), *logits.shape)


def oracle(truth: np.ndarray) -> SegmentationModel:
    metadata = SegmentationMetadata(
        NetworkConfig(),
        tuple(f"class {k}" for k in range(CLASSES)),
        (1, 2, 3, 4),
        Normalisation((128.0,) * 4, (40.0,) * 4),
        1.0,
        "test",
    )
    return SegmentationModel(LoadedNetwork(prior_path("demo-labels"), Oracle(truth), metadata))


def scene() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """One 64 × 64 tile whose truth is class 3 on the left and class 4 on the right, with
    weak labels that cannot tell the two apart and a flat image that carries no hint."""
    truth = np.full((SIZE, SIZE), 3)
    truth[:, SIZE // 2 :] = 4
    weak = np.zeros((1, CLASSES, SIZE, SIZE), dtype=np.float32)
    weak[:, 3:5] = 0.5
    valid = np.ones((1, SIZE, SIZE), dtype=bool)
    arrays = {
        "image": np.full((1, 4, SIZE, SIZE), 120.0, dtype=np.float32),
        "weak_labels": weak,
        "labelled": valid.copy(),
        "origin": np.zeros((1, 2), dtype=np.int64),
    }
    return arrays, valid, truth


def model(constraints: ConstraintsConfig, network: SegmentationModel | None, readout: float):
    return PlugAndPlayModel(
        load_checkpoint(prior_path("demo-labels")),
        1.0,
        PlugAndPlayConfig(steps=4),
        constraints,
        network=network,
        network_readout=readout,
    )


def test_the_gradient_flows_through_the_labels() -> None:
    q = torch.softmax(torch.randn(2, CLASSES, 8, 8), dim=1)
    logits = torch.zeros(2, CLASSES, 8, 8, requires_grad=True)
    term = weak_label_kl(torch.softmax(logits, dim=1), q, torch.ones(2, 8, 8, dtype=bool), pool=1)
    term.sum().backward()
    assert logits.grad is not None and float(logits.grad.abs().sum()) > 0
    # The term is highest where the labels equal the network's probabilities.
    matched = weak_label_kl(q, q, torch.ones(2, 8, 8, dtype=bool), pool=1)
    assert torch.allclose(matched, torch.zeros(2), atol=1e-5)
    assert (term < matched).all()


def test_at_weight_zero_the_map_equals_the_map_without_a_network() -> None:
    arrays, valid, truth = scene()
    constraints = ConstraintsConfig(image=0, weak_kl=1.0, network=0.0)
    without = model(constraints, None, 0.0)(arrays, valid)
    switched_off = model(constraints, oracle(truth), 0.0)(arrays, valid)
    np.testing.assert_array_equal(without, switched_off)


def test_a_network_that_knows_the_truth_moves_the_map_toward_it() -> None:
    arrays, valid, truth = scene()
    constraints = ConstraintsConfig(image=0, weak_kl=1.0)
    alone = model(constraints, None, 0.0)(arrays, valid)[0].argmax(axis=0)
    network = oracle(truth)
    with_term = model(constraints.model_copy(update={"network": 1.0}), network, 0.0)
    guided = with_term(arrays, valid)[0].argmax(axis=0)
    with_readout = model(constraints.model_copy(update={"network": 1.0}), network, 1.0)
    read_out = with_readout(arrays, valid)[0].argmax(axis=0)
    accuracy = {
        name: float((labels == truth).mean())
        for name, labels in (("alone", alone), ("term", guided), ("readout", read_out))
    }
    assert accuracy["alone"] < 0.75  # the weak labels and image cannot tell the halves apart
    assert accuracy["term"] > accuracy["alone"] + 0.15
    assert accuracy["readout"] > 0.95


def test_the_constraint_needs_a_network() -> None:
    with pytest.raises(ConfigError, match="network"):
        model(ConstraintsConfig(network=1.0), None, 1.0)


def test_network_probabilities_are_uniform_on_nodata_and_average_over_valid_pixels() -> None:
    truth = np.zeros((4, 4), dtype=np.int64)
    truth[:, 2:] = 1
    arrays = {"image": np.zeros((1, 4, 4, 4), dtype=np.float32)}
    valid = np.ones((1, 4, 4), dtype=bool)
    valid[0, 0, 0] = False
    q = network_probabilities(oracle(truth), arrays, valid)
    torch.testing.assert_close(q[0, :, 0, 0], torch.full((CLASSES,), 1 / CLASSES))
    coarse = coarse_probabilities(q, valid, 2)
    # The top-left cell averages its three valid pixels only: all class 0.
    torch.testing.assert_close(coarse[0, :, 0, 0], q[0, :, 1, 1])
    assert float(coarse[0, 1, 0, 1]) > 0.9


def test_the_readout_is_a_product_with_a_floor() -> None:
    fine = torch.tensor([0.6, 0.4]).view(1, 2, 1, 1)
    q = torch.tensor([0.0, 1.0]).view(1, 2, 1, 1)
    product = product_readout(fine, q, 1.0)
    expected = torch.tensor([0.6 * FLOOR, 0.4]) / (0.6 * FLOOR + 0.4)
    torch.testing.assert_close(product.flatten(), expected)
    assert product_readout(fine, q, 0.0) is fine
