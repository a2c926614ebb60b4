"""NAFNet: nonlinear-activation-free U-Net restorer (Chen et al., 2022), megvii's key layout.

Blocks replace activations by a *SimpleGate* (split the channels in two halves and multiply
them) and channel attention by a *simplified channel attention* (global average pool, 1x1
conv, multiply). Each block: LayerNorm2d, 1x1 conv (x2 channels), depthwise 3x3, gate,
attention, 1x1 conv, scaled residual (``beta``); then LayerNorm2d, 1x1 (x2), gate, 1x1,
scaled residual (``gamma``). Levels are linked by 2x2 strided convs (down) and a bias-free
1x1 conv + pixel shuffle (up); skips are added, and the output is added to the input.

Keys (megvii ``NAFNet_arch.NAFNet``): ``intro``, ``encoders.{i}.{j}.*``, ``downs.{i}``,
``middle_blks.{j}.*``, ``ups.{i}.0``, ``decoders.{i}.{j}.*``, ``ending``; block parameters
``conv1..conv5``, ``sca.1``, ``norm1``, ``norm2``, ``beta``, ``gamma``.

Shapes: input (N, C, H, W) float32 of any size (zero-padded to a multiple of 2**levels,
as in the official code, and cropped back); output (N, C, H, W).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from pixelwise.models.registry import register_model
from pixelwise.models.restorers._common import LayerNorm2d, RestorerConfig, pad_to_multiple


class NAFNetConfig(RestorerConfig):
    """Everything needed to rebuild a :class:`NAFNet` (official SIDD: width 32/64)."""

    name: Literal["nafnet"] = "nafnet"
    in_channels: int = Field(3, ge=1, le=4, description="image channels")
    width: int = Field(32, ge=1, le=512, description="channels at full resolution")
    encoder_blocks: tuple[int, ...] = Field((2, 2, 4, 8), description="blocks per encoder")
    middle_blocks: int = Field(12, ge=0, le=64, description="blocks at the bottom")
    decoder_blocks: tuple[int, ...] = Field((2, 2, 2, 2), description="blocks per decoder")

    @model_validator(mode="after")
    def _check_levels(self) -> NAFNetConfig:
        if len(self.encoder_blocks) != len(self.decoder_blocks):
            raise ValueError("encoder_blocks and decoder_blocks need the same length")
        return self

    @property
    def size_multiple(self) -> int:
        return 2 ** len(self.encoder_blocks)


def _gate(x: Tensor) -> Tensor:
    first, second = x.chunk(2, dim=1)
    return first * second


class NAFBlock(nn.Module):
    """One NAFNet block; see the module docstring."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, 2 * c, 1)
        self.conv2 = nn.Conv2d(2 * c, 2 * c, 3, padding=1, groups=2 * c)
        self.conv3 = nn.Conv2d(c, c, 1)
        self.sca = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, c, 1))
        self.conv4 = nn.Conv2d(c, 2 * c, 1)
        self.conv5 = nn.Conv2d(c, c, 1)
        self.norm1 = LayerNorm2d(c)
        self.norm2 = LayerNorm2d(c)
        self.beta = nn.Parameter(torch.zeros((1, c, 1, 1)))
        self.gamma = nn.Parameter(torch.zeros((1, c, 1, 1)))

    def forward(self, inp: Tensor) -> Tensor:
        x = _gate(self.conv2(self.conv1(self.norm1(inp))))
        x = self.conv3(x * self.sca(x))
        y = inp + x * self.beta
        x = self.conv5(_gate(self.conv4(self.norm2(y))))
        return y + x * self.gamma


@register_model(NAFNetConfig)
class NAFNet(nn.Module):
    """NAFNet; see the module docstring."""

    def __init__(self, config: NAFNetConfig) -> None:
        super().__init__()
        self.config = config
        c = config.width
        self.intro = nn.Conv2d(config.in_channels, c, 3, padding=1)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        for count in config.encoder_blocks:
            self.encoders.append(nn.Sequential(*(NAFBlock(c) for _ in range(count))))
            self.downs.append(nn.Conv2d(c, 2 * c, 2, stride=2))
            c *= 2
        self.middle_blks = nn.Sequential(*(NAFBlock(c) for _ in range(config.middle_blocks)))
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for count in config.decoder_blocks:
            self.ups.append(nn.Sequential(nn.Conv2d(c, 2 * c, 1, bias=False), nn.PixelShuffle(2)))
            c //= 2
            self.decoders.append(nn.Sequential(*(NAFBlock(c) for _ in range(count))))
        self.ending = nn.Conv2d(config.width, config.in_channels, 3, padding=1)

    def forward(self, inp: Tensor) -> Tensor:
        height, width = inp.shape[-2:]
        padded = pad_to_multiple(inp, self.config.size_multiple, mode="constant")
        x = self.intro(padded)
        skips = []
        for encoder, down in zip(self.encoders, self.downs, strict=True):
            x = encoder(x)
            skips.append(x)
            x = down(x)
        x = self.middle_blks(x)
        for decoder, up, skip in zip(self.decoders, self.ups, reversed(skips), strict=True):
            x = decoder(up(x) + skip)
        return (self.ending(x) + padded)[..., :height, :width]
