"""The TSP search's settings: no torch behind them, so that the command line is built
(``geoppp --help``) without loading torch."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from geoppp.diffusion.settings import PlugAndPlayConfig, TimeScheduleConfig


class SolveConfig(BaseModel):
    """Settings of the plug-and-play search over adjacency matrices."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: int = Field(256, ge=1, description="Adam steps on L (the reference: 256).")
    lr: float = Field(0.1, gt=0, description="Adam learning rate on L.")
    logit_scale: float = Field(0.1, gt=0, description="A = row-softmax(-logit_scale · L).")
    t_max: int = Field(300, ge=0, description="Timestep at the first step (linear fall).")
    t_min: int = Field(20, ge=0, description="Timestep at the last step.")
    init: Literal["random", "distances"] = Field(
        "distances",
        description="L at step 0: N(0, 1) (the reference), or distances over the mean "
        "nearest-neighbour distance, / logit_scale, so A starts on near neighbours.",
    )

    def plug_and_play(self) -> PlugAndPlayConfig:
        return PlugAndPlayConfig(
            steps=self.steps,
            lr=self.lr,
            time_schedule=TimeScheduleConfig(kind="linear", t_max=self.t_max, t_min=self.t_min),
            weight_decay="constant",
            clip=False,
        )
