"""DnCNN: a plain stack of 3x3 convolutions that learns the noise (Zhang et al., 2017).

Residual learning: the network predicts the noise of its input and returns
``input - predicted_noise``. There is no pooling, so any spatial size works.

Shapes: input (N, in_channels, H, W) float32; output (N, in_channels, H, W).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from pixelwise.models.layers import init_weights, make_norm
from pixelwise.models.registry import register_model


class DnCNNConfig(BaseModel):
    """Everything needed to rebuild a :class:`DnCNN`; stored inside weights files."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["dncnn"] = "dncnn"
    in_channels: int = Field(1, ge=1, description="image channels (1 gray, 3 colour)")
    depth: int = Field(17, ge=2, le=64, description="convolution layers in total")
    features: int = Field(64, ge=1, le=1024, description="feature channels of the hidden layers")
    norm: Literal["none", "batch", "group"] = Field(
        "none",
        description="norm of the hidden layers: 'batch' is the paper's (float32 only); "
        "'none' (default) matches released weights with BatchNorm folded into the convs",
    )

    @property
    def size_multiple(self) -> int:
        """Spatial sizes must be multiples of this (any size works)."""
        return 1


@register_model(DnCNNConfig)
class DnCNN(nn.Module):
    """conv-ReLU, (depth - 2) x conv-norm-ReLU, conv; the output is subtracted from the input."""

    def __init__(self, config: DnCNNConfig) -> None:
        super().__init__()
        self.config = config
        width, bias = config.features, config.norm == "none"
        layers: list[nn.Module] = [nn.Conv2d(config.in_channels, width, 3, padding=1), nn.ReLU()]
        for _ in range(config.depth - 2):
            layers += [
                nn.Conv2d(width, width, 3, padding=1, bias=bias),
                make_norm(config.norm, width),
                nn.ReLU(),
            ]
        layers.append(nn.Conv2d(width, config.in_channels, 3, padding=1))
        self.noise = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return x - self.noise(x)
