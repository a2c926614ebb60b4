"""A configurable 2-D U-Net, the standard backbone of every pixelwise application.

Shapes: input (N, in_channels, H, W) float32 with H and W multiples of ``2**(levels - 1)``
(use :func:`pixelwise.engine.inference.predict_array` for arbitrary sizes);
output (N, out_channels, H, W).
"""

from __future__ import annotations

import functools
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from pixelwise.models.layers import ConvBlock, init_weights
from pixelwise.models.registry import register_model


class UNetConfig(BaseModel):
    """Everything needed to rebuild a :class:`UNet`; stored inside checkpoints."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["unet"] = "unet"
    in_channels: int = Field(1, ge=1, le=4096)
    out_channels: int = Field(1, ge=1, le=4096)
    levels: int = Field(
        3, ge=1, le=7, description="resolution levels; the input is pooled levels-1 times"
    )
    base_channels: int = Field(
        32, ge=1, le=1024, description="feature channels at full resolution; doubled per level"
    )
    norm: Literal["group", "batch", "none"] = Field(
        "none",
        description="'none' (default) keeps the network local, so tiled inference matches "
        "whole-image inference; 'group' normalises over the whole input, which makes outputs "
        "depend on tile size; 'batch' is unsafe under float16 autocast",
    )
    activation: Literal["relu", "leaky_relu", "gelu", "silu"] = "relu"
    residual: bool = Field(
        False, description="add the input to the output (needs in == out channels)"
    )

    @property
    def size_multiple(self) -> int:
        """Spatial sizes must be multiples of this."""
        return 2 ** (self.levels - 1)


@register_model(UNetConfig)
class UNet(nn.Module):
    """Encoder-decoder with skip connections (Ronneberger et al., 2015)."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        if config.residual and config.in_channels != config.out_channels:
            raise ValueError("a residual U-Net needs in_channels == out_channels")
        self.config = config
        widths = [config.base_channels * 2**level for level in range(config.levels)]
        block = functools.partial(ConvBlock, norm=config.norm, activation=config.activation)
        self.encoders = nn.ModuleList()
        previous = config.in_channels
        for width in widths:
            self.encoders.append(block(previous, width))
            previous = width
        self.pool = nn.MaxPool2d(2)
        self.upsamplers = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.upsamplers.append(nn.ConvTranspose2d(previous, width, kernel_size=2, stride=2))
            self.decoders.append(block(2 * width, width))
            previous = width
        self.head = nn.Conv2d(previous, config.out_channels, kernel_size=1)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        features = x
        for index, encoder in enumerate(self.encoders):
            if index > 0:
                features = self.pool(features)
            features = encoder(features)
            skips.append(features)
        skips.pop()
        for upsample, decoder in zip(self.upsamplers, self.decoders, strict=True):
            features = decoder(torch.cat([upsample(features), skips.pop()], dim=1))
        output = self.head(features)
        return output + x if self.config.residual else output
