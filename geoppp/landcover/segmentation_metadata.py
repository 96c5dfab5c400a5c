"""What a segmentation network was trained on (architecture, classes, bands, normalisation,
pixel size), as its safetensors file records it: read without torch, so that a YAML check
(``geoppp validate``) checks a network against its region without building it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from geoppp.diffusion.metadata import read_metadata as read_safetensors_metadata
from geoppp.errors import CheckpointError
from geoppp.landcover.normalisation import Normalisation
from geoppp.landcover.settings import NetworkConfig

REMEDY = "train it with a train_segmentation step"
"""What to do about a missing or unreadable network file."""

FORMAT = "geoppp-segmentation"


FORMAT_VERSION = 1


@dataclass(frozen=True)
class SegmentationMetadata:
    """What a network was trained on; checked before it maps a region.

    Attributes:
        network: the architecture.
        class_names: output channels, in order.
        bands: 1-based imagery bands of the input channels.
        normalisation: per-band statistics of the training imagery.
        pixel_size: metres per pixel of the training imagery.
        labels: where the training labels came from, for the record.
        steps: training steps done.
    """

    network: NetworkConfig
    class_names: tuple[str, ...]
    bands: tuple[int, ...]
    normalisation: Normalisation
    pixel_size: float
    labels: str
    steps: int = 0

    def to_strings(self) -> dict[str, str]:
        return {
            "format": FORMAT,
            "format_version": str(FORMAT_VERSION),
            "network": self.network.model_dump_json(),
            "class_names": json.dumps(list(self.class_names)),
            "bands": json.dumps(list(self.bands)),
            "normalisation": json.dumps(self.normalisation.to_dict()),
            "pixel_size": repr(self.pixel_size),
            "labels": self.labels,
            "steps": str(self.steps),
        }

    @classmethod
    def from_strings(cls, path: Path, metadata: dict[str, str]) -> SegmentationMetadata:
        if metadata.get("format") != FORMAT:
            raise CheckpointError(
                f"{path} is not a geoppp segmentation network (its metadata has format "
                f"{metadata.get('format')!r}, expected {FORMAT!r}); train one with a "
                "train_segmentation step"
            )
        try:
            return cls(
                NetworkConfig.model_validate_json(metadata["network"]),
                tuple(json.loads(metadata["class_names"])),
                tuple(json.loads(metadata["bands"])),
                Normalisation.from_dict(json.loads(metadata["normalisation"])),
                float(metadata["pixel_size"]),
                metadata.get("labels", ""),
                int(metadata.get("steps", 0)),
            )
        except (KeyError, ValueError) as error:
            raise CheckpointError(
                f"segmentation network {path} has unreadable metadata ({error}); retrain it"
            ) from None


def read_metadata(path: Path) -> SegmentationMetadata:
    """The metadata of the network at ``path``, without building it."""
    metadata = read_safetensors_metadata(path, "segmentation network", REMEDY)
    return SegmentationMetadata.from_strings(path, metadata)
