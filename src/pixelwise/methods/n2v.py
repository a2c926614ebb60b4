"""Noise2Void: self-supervised blind-spot training (Krull et al., 2019).

A blind-spot network is trained to predict masked pixels from their surroundings. Noise that
is independent between the masked position and its context cannot be predicted, so the network
learns the signal. Two masking strategies:

* ``random``: N2V's multi-active-pixel corruption, for pixel-wise independent noise;
* ``tracewise``: structured blind spots that hide whole traces (columns), for noise that is
  coherent along a trace (bad geophones, swell noise bursts). Hiding single pixels would let the
  network copy a trace's noise from its vertical neighbours; hiding the whole trace does not.

The loss and the validation RMSE are computed over the masked positions only.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from pixelwise.masking import masked_mse, random_pixel_mask, tracewise_mask
from pixelwise.metrics import masked_rmse


class MaskingConfig(BaseModel):
    """How training patches are corrupted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: Literal["random", "tracewise"] = "random"
    active_fraction: float = Field(
        0.002, gt=0, le=0.25, description="random: share of pixels masked per patch"
    )
    radius: int = Field(2, ge=1, le=16, description="random: neighbourhood radius of replacements")
    trace_fraction: float = Field(
        0.05, gt=0, le=0.5, description="tracewise: share of traces (columns) blinded per patch"
    )


class Noise2VoidTask:
    """Engine task: batches are (N, C, H, W) noisy patches; no clean targets are needed."""

    def __init__(self, model: nn.Module, masking: MaskingConfig) -> None:
        self.model = model
        self.masking = masking

    def corrupt(self, batch: Tensor) -> tuple[Tensor, Tensor]:
        """Return (corrupted batch, boolean mask of the blinded positions)."""
        if self.masking.strategy == "tracewise":
            return tracewise_mask(batch, trace_fraction=self.masking.trace_fraction)
        return random_pixel_mask(
            batch, active_fraction=self.masking.active_fraction, radius=self.masking.radius
        )

    def training_step(self, batch: Tensor) -> Tensor:
        corrupted, mask = self.corrupt(batch)
        return masked_mse(self.model(corrupted), batch, mask)

    def validation_step(self, batch: Tensor) -> dict[str, Tensor]:
        corrupted, mask = self.corrupt(batch)
        prediction = self.model(corrupted).float()
        return {
            "loss": masked_mse(prediction, batch, mask),
            "masked_rmse": masked_rmse(prediction, batch, mask),
        }
