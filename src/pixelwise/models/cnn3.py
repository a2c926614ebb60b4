"""The three-layer CNN of the cryo-EM denoiser pixelwise replaces, kept exactly as it was.

``Conv(in -> 16, 3x3, padding 1) -> ReLU -> Conv(16 -> 16) -> ReLU -> Conv(16 -> out)``, torch's
default initialisation. Its receptive field is 7x7 pixels, which is why it cannot use the
context a U-Net sees; it stays as the baseline that the U-Net must beat.

Shapes: input (N, in_channels, H, W) float32, any H and W; output (N, out_channels, H, W).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from pixelwise.models.registry import register_model


class ThreeLayerCNNConfig(BaseModel):
    """Everything needed to rebuild a :class:`ThreeLayerCNN`; stored inside checkpoints."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["cnn3"] = "cnn3"
    in_channels: int = Field(1, ge=1, le=64)
    out_channels: int = Field(1, ge=1, le=64)
    hidden_channels: int = Field(16, ge=1, le=1024)

    @property
    def size_multiple(self) -> int:
        """Any spatial size works."""
        return 1


@register_model(ThreeLayerCNNConfig)
class ThreeLayerCNN(nn.Sequential):
    """Conv 3x3 -> ReLU -> Conv 3x3 -> ReLU -> Conv 3x3, padding 1 throughout.

    Examples
    --------
    >>> import torch
    >>> net = ThreeLayerCNN(ThreeLayerCNNConfig())
    >>> net(torch.zeros(2, 1, 9, 7)).shape, sum(p.numel() for p in net.parameters())
    (torch.Size([2, 1, 9, 7]), 2625)
    """

    def __init__(self, config: ThreeLayerCNNConfig) -> None:
        hidden = config.hidden_channels
        super().__init__(
            nn.Conv2d(config.in_channels, hidden, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden, config.out_channels, 3, padding=1),
        )
        self.config = config

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x)
