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
    pooling: Literal["max", "blur"] = Field(
        "max",
        description="downsampling: 'max' (2x2 max-pool) or 'blur' (N2V2's max-blur-pool: "
        "stride-1 max-pool, then a [1 2 1] binomial blur with stride 2, against aliasing)",
    )
    top_skip: bool = Field(
        True,
        description="concatenate the full-resolution encoder features into the last decoder; "
        "N2V2 drops this skip so blind-spot outputs show no checkerboard artefacts",
    )

    @property
    def size_multiple(self) -> int:
        """Spatial sizes must be multiples of this."""
        return 2 ** (self.levels - 1)


class MaxBlurPool(nn.Module):
    """Anti-aliased 2x downsampling (Zhang, 2019), as N2V2 uses it.

    A 2x2 max-pool with stride 1 keeps the max-pool's nonlinearity; a separable ``[1, 2, 1]``
    binomial blur with stride 2 then subsamples without aliasing. Even sizes are halved.
    """

    def __init__(self) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("kernel", (taps[:, None] * taps[None, :] / 16)[None, None], False)
        self.max = nn.MaxPool2d(2, stride=1)
        self.kernel: Tensor

    def forward(self, x: Tensor) -> Tensor:
        pooled = nn.functional.pad(self.max(x), (0, 1, 0, 1), mode="replicate")
        channels = pooled.shape[1]
        kernel = self.kernel.to(pooled.dtype).expand(channels, 1, 3, 3)
        padded = nn.functional.pad(pooled, (1, 1, 1, 1), mode="replicate")
        return nn.functional.conv2d(padded, kernel, stride=2, groups=channels)


@register_model(UNetConfig)
class UNet(nn.Module):
    """Encoder-decoder with skip connections (Ronneberger et al., 2015).

    ``pooling="blur"`` and ``top_skip=False`` are N2V2's fixes (Hoeck et al., 2022) against
    the checkerboard artefacts of blind-spot training.
    """

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
        self.pool: nn.Module = MaxBlurPool() if config.pooling == "blur" else nn.MaxPool2d(2)
        self.upsamplers = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for level, width in reversed(list(enumerate(widths[:-1]))):
            self.upsamplers.append(nn.ConvTranspose2d(previous, width, kernel_size=2, stride=2))
            skipped = level == 0 and not config.top_skip
            self.decoders.append(block(width if skipped else 2 * width, width))
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
        if skips and not self.config.top_skip:
            skips[0] = skips[0][:, :0]  # no channels: the top decoder sees upsampled features
        for upsample, decoder in zip(self.upsamplers, self.decoders, strict=True):
            features = decoder(torch.cat([upsample(features), skips.pop()], dim=1))
        output = self.head(features)
        return output + x if self.config.residual else output
