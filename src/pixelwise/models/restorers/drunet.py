"""DRUNet: the plug-and-play denoiser of DPIR (Zhang et al., 2021), KAIR's key layout.

A 4-level U-Net of bias-free residual blocks (conv-ReLU-conv plus identity). Its input is
the noisy image with a noise-level map appended as the last channel (sigma in [0, 1] units,
one value per pixel), which makes one network denoise every noise level and serve as the
prior of half-quadratic splitting (:func:`pixelwise.nodes.restore.dpir`). Levels are linked
by 2x2 strided convolutions (down) and 2x2 transposed convolutions (up); skips are added.

Keys (KAIR ``network_unet.UNetRes``): ``m_head.weight``, ``m_down{1,2,3}.{0..nb-1}.res.{0,2}
.weight`` then ``m_down{k}.{nb}.weight`` (the strided conv), ``m_body.{i}.res.{0,2}.weight``,
``m_up{3,2,1}.0.weight`` (the transposed conv) then ``m_up{k}.{1..nb}.res.{0,2}.weight``,
``m_tail.weight``.

Shapes: ``forward(x, sigma)`` takes x (N, C, H, W) float32 of any H, W (replicate-padded
to a multiple of 8 and cropped back) and sigma a float or (N,) tensor; returns (N, C, H, W).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from pixelwise.models.registry import register_model
from pixelwise.models.restorers._common import RestorerConfig, noise_level_map, pad_to_multiple


class DRUNetConfig(RestorerConfig):
    """Everything needed to rebuild a :class:`DRUNet` (official: 64-128-256-512, nb 4)."""

    name: Literal["drunet"] = "drunet"
    in_channels: int = Field(3, ge=1, le=4, description="image channels (without the map)")
    widths: tuple[int, int, int, int] = Field(
        (64, 128, 256, 512), description="channels of the four levels"
    )
    blocks: int = Field(
        4, ge=2, le=16, description="residual blocks per level (KAIR unwraps a single one)"
    )

    @property
    def size_multiple(self) -> int:
        return 8


class _ResBlock(nn.Module):
    """x + conv(relu(conv(x))), bias-free 3x3 convolutions (key prefix ``res``)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.res = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1, bias=False),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.res(x)


@register_model(DRUNetConfig)
class DRUNet(nn.Module):
    """DRUNet; see the module docstring."""

    #: The network takes a noise-level map as its last input channel.
    takes_noise_level = True

    def __init__(self, config: DRUNetConfig) -> None:
        super().__init__()
        self.config = config
        w, nb = config.widths, config.blocks
        self.m_head = nn.Conv2d(config.in_channels + 1, w[0], 3, padding=1, bias=False)
        self.m_down1, self.m_down2, self.m_down3 = (
            nn.Sequential(
                *(_ResBlock(w[k]) for _ in range(nb)),
                nn.Conv2d(w[k], w[k + 1], 2, stride=2, bias=False),
            )
            for k in range(3)
        )
        self.m_body = nn.Sequential(*(_ResBlock(w[3]) for _ in range(nb)))
        self.m_up3, self.m_up2, self.m_up1 = (
            nn.Sequential(
                nn.ConvTranspose2d(w[k + 1], w[k], 2, stride=2, bias=False),
                *(_ResBlock(w[k]) for _ in range(nb)),
            )
            for k in (2, 1, 0)
        )
        self.m_tail = nn.Conv2d(w[0], config.in_channels, 3, padding=1, bias=False)

    def forward(self, x: Tensor, sigma: Tensor | float = 15 / 255) -> Tensor:
        height, width = x.shape[-2:]
        x = pad_to_multiple(x, 8)
        x1 = self.m_head(torch.cat([x, noise_level_map(x, sigma)], dim=1))
        x2 = self.m_down1(x1)
        x3 = self.m_down2(x2)
        x4 = self.m_down3(x3)
        y = self.m_body(x4)
        y = self.m_up3(y + x4)
        y = self.m_up2(y + x3)
        y = self.m_up1(y + x2)
        return self.m_tail(y + x1)[..., :height, :width]
