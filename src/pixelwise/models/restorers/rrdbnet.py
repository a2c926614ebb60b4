"""RRDBNet: ESRGAN's generator as used by Real-ESRGAN (Wang et al., 2018/2021), BasicSR keys.

Residual-in-residual dense blocks (three dense blocks of five 3x3 convs with 0.2-scaled
residuals, LeakyReLU 0.2) at low resolution, then two nearest-neighbour x2 upsamplings each
followed by a conv. The x2 (and x1) models pixel-unshuffle their input first (by 2, or 4),
which is how their weights differ: ``conv_first`` takes C x 4 (x 16) channels.

Keys (BasicSR ``rrdbnet_arch.RRDBNet``): ``conv_first``, ``body.{i}.rdb{1,2,3}.conv{1..5}``,
``conv_body``, ``conv_up1``, ``conv_up2``, ``conv_hr``, ``conv_last`` (weight and bias).

Shapes: input (N, C, H, W) float32 (sizes multiples of 4 / 2 for scale 1 / 2, else any);
output (N, C, scale*H, scale*W).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from pixelwise.models.registry import register_model
from pixelwise.models.restorers._common import RestorerConfig


class RRDBNetConfig(RestorerConfig):
    """Everything needed to rebuild an :class:`RRDBNet` (RealESRGAN_x4plus: 64, 23, 32)."""

    name: Literal["rrdbnet"] = "rrdbnet"
    in_channels: int = Field(3, ge=1, le=4, description="image channels")
    scale: Literal[1, 2, 4] = Field(4, description="upscaling factor")
    features: int = Field(64, ge=1, le=512, description="feature channels")
    blocks: int = Field(23, ge=1, le=64, description="residual-in-residual dense blocks")
    growth: int = Field(32, ge=1, le=256, description="channels added per dense conv")

    @property
    def size_multiple(self) -> int:
        return {1: 4, 2: 2, 4: 1}[self.scale]


def _lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2, inplace=True)


class _DenseBlock(nn.Module):
    """Five densely connected 3x3 convs; returns x + 0.2 * conv5(...)."""

    def __init__(self, features: int, growth: int) -> None:
        super().__init__()
        self.conv1, self.conv2, self.conv3, self.conv4 = (
            nn.Conv2d(features + k * growth, growth, 3, padding=1) for k in range(4)
        )
        self.conv5 = nn.Conv2d(features + 4 * growth, features, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        features = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            features.append(_lrelu(conv(torch.cat(features, 1))))
        return x + 0.2 * self.conv5(torch.cat(features, 1))


class _RRDB(nn.Module):
    def __init__(self, features: int, growth: int) -> None:
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = (_DenseBlock(features, growth) for _ in range(3))

    def forward(self, x: Tensor) -> Tensor:
        return x + 0.2 * self.rdb3(self.rdb2(self.rdb1(x)))


@register_model(RRDBNetConfig)
class RRDBNet(nn.Module):
    """RRDBNet; see the module docstring."""

    def __init__(self, config: RRDBNetConfig) -> None:
        super().__init__()
        self.config = config
        unshuffle = {1: 16, 2: 4, 4: 1}[config.scale]
        f, c = config.features, config.in_channels
        self.conv_first = nn.Conv2d(c * unshuffle, f, 3, padding=1)
        self.body = nn.Sequential(*(_RRDB(f, config.growth) for _ in range(config.blocks)))
        self.conv_body = nn.Conv2d(f, f, 3, padding=1)
        self.conv_up1 = nn.Conv2d(f, f, 3, padding=1)
        self.conv_up2 = nn.Conv2d(f, f, 3, padding=1)
        self.conv_hr = nn.Conv2d(f, f, 3, padding=1)
        self.conv_last = nn.Conv2d(f, c, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        if self.config.scale < 4:
            x = F.pixel_unshuffle(x, 4 // self.config.scale)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = _lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = _lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(_lrelu(self.conv_hr(feat)))
