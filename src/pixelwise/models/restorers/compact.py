"""SRVGGNetCompact: Real-ESRGAN's compact VGG-style SR network (realesr-general-x4v3 etc.).

A plain stack of 3x3 convs with PReLUs at low resolution; the last conv outputs
C x scale**2 channels that are pixel-shuffled, and the nearest-neighbour upsampled input is
added (the network learns the residual).

Keys (Real-ESRGAN ``srvgg_arch.SRVGGNetCompact``): ``body.0`` (first conv), ``body.1``
(PReLU, one weight per channel), then ``body.{2k}`` conv / ``body.{2k+1}`` PReLU for each
body conv, and the last conv ``body.{2n+2}``.

Shapes: input (N, C, H, W) float32 of any size; output (N, C, scale*H, scale*W).
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from pixelwise.models.registry import register_model
from pixelwise.models.restorers._common import RestorerConfig


class SRVGGNetCompactConfig(RestorerConfig):
    """Everything needed to rebuild an :class:`SRVGGNetCompact` (general-x4v3: 64, 32, x4)."""

    name: Literal["srvgg_compact"] = "srvgg_compact"
    in_channels: int = Field(3, ge=1, le=4, description="image channels")
    scale: int = Field(4, ge=1, le=8, description="upscaling factor")
    features: int = Field(64, ge=1, le=512, description="feature channels")
    convs: int = Field(16, ge=0, le=128, description="body convolutions")

    @property
    def size_multiple(self) -> int:
        return 1


@register_model(SRVGGNetCompactConfig)
class SRVGGNetCompact(nn.Module):
    """SRVGGNetCompact; see the module docstring."""

    def __init__(self, config: SRVGGNetCompactConfig) -> None:
        super().__init__()
        self.config = config
        f, c = config.features, config.in_channels
        layers: list[nn.Module] = [nn.Conv2d(c, f, 3, padding=1), nn.PReLU(f)]
        for _ in range(config.convs):
            layers += [nn.Conv2d(f, f, 3, padding=1), nn.PReLU(f)]
        layers.append(nn.Conv2d(f, c * config.scale**2, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        out = F.pixel_shuffle(self.body(x), self.config.scale)
        return out + F.interpolate(x, scale_factor=self.config.scale, mode="nearest")
