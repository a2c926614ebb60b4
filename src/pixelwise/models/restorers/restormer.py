"""Restormer: an efficient transformer U-Net for restoration (Zamir et al., 2022), swz30 keys.

Each transformer block is a residual *multi-Dconv head transposed attention* (1x1 and
depthwise 3x3 convs give q, k, v; attention is between channels, over L2-normalised
pixel vectors, with a learned temperature per head, so its cost is linear in the pixels)
and a residual *gated-Dconv feed-forward network* (1x1 conv to 2 x hidden channels,
depthwise 3x3, GELU(first half) x second half, 1x1 conv back), each after a LayerNorm over
the channels (``WithBias``, or ``BiasFree``: not centred, no bias, in the denoising
models). Four levels: 3x3 conv + pixel-unshuffle down, 3x3 conv + pixel-shuffle up, skips
concatenated (reduced by 1x1 convs on levels 3 and 2), refinement blocks at full
resolution, and the output added to the input (the dual-pixel defocus model instead
adds a 1x1 skip of the first features and outputs 3 of its 6 input channels).

Keys (swz30 ``restormer_arch.Restormer``): ``patch_embed.proj``, ``encoder_level{1,2,3}``,
``latent``, ``decoder_level{3,2,1}``, ``refinement`` (blocks ``{i}.norm1.body``,
``attn.{temperature, qkv, qkv_dwconv, project_out}``, ``norm2.body``,
``ffn.{project_in, dwconv, project_out}``), ``down{1_2,2_3,3_4}.body.0``,
``up{4_3,3_2,2_1}.body.0``, ``reduce_chan_level{3,2}``, ``skip_conv``, ``output``.

The official *code* is licensed for non-commercial use only (swz30/Restormer LICENSE);
pixelwise's implementation is its own, but the weights keep that licence.

Shapes: input (N, C, H, W) float32 of any size (reflect-padded to a multiple of 8, as the
official test scripts do, and cropped back); output (N, out_channels, H, W).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import Tensor, nn

from pixelwise.models.registry import register_model
from pixelwise.models.restorers._common import LayerNorm2d, RestorerConfig, pad_to_multiple


class RestormerConfig(RestorerConfig):
    """Everything needed to rebuild a :class:`Restormer` (defaults: the official 26M model)."""

    name: Literal["restormer"] = "restormer"
    in_channels: int = Field(3, ge=1, le=6, description="input channels (6: dual-pixel)")
    out_channels: int = Field(3, ge=1, le=4, description="output channels")
    dim: int = Field(48, ge=1, le=512, description="channels at full resolution")
    blocks: tuple[int, int, int, int] = Field((4, 6, 6, 8), description="blocks per level")
    refinement_blocks: int = Field(4, ge=0, le=64, description="blocks after the decoder")
    heads: tuple[int, int, int, int] = Field((1, 2, 4, 8), description="heads per level")
    ffn_expansion: float = Field(2.66, gt=0, le=16, description="FFN hidden / channels")
    bias: bool = Field(False, description="convolutions have biases")
    norm: Literal["with_bias", "bias_free"] = Field("with_bias", description="LayerNorm kind")
    dual_pixel: bool = Field(False, description="dual-pixel defocus model (skip_conv head)")

    @model_validator(mode="after")
    def _check(self) -> RestormerConfig:
        for level, heads in enumerate(self.heads):
            if (self.dim * 2**level) % heads:
                raise ValueError(f"level {level} channels are not divisible by {heads} heads")
        if not self.dual_pixel and self.in_channels != self.out_channels:
            raise ValueError("input and output channels differ (only dual-pixel models do)")
        return self

    @property
    def size_multiple(self) -> int:
        return 8


class _Norm(nn.Module):
    """``body`` holds the parameters, as in the official ``LayerNorm`` wrapper."""

    def __init__(self, channels: int, kind: str) -> None:
        super().__init__()
        self.body = LayerNorm2d(channels, eps=1e-5, with_bias=kind == "with_bias")

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class _ChannelAttention(nn.Module):
    """MDTA: attention between the channels of each head, with a learned temperature."""

    def __init__(self, dim: int, heads: int, bias: bool) -> None:
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(dim, 3 * dim, 1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(3 * dim, 3 * dim, 3, padding=1, groups=3 * dim, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        n, c, height, width = x.shape
        qkv = self.qkv_dwconv(self.qkv(x)).view(n, 3, self.heads, c // self.heads, -1)
        query, key, value = qkv.unbind(1)  # (N, heads, c / heads, H * W)
        query, key = F.normalize(query, dim=-1), F.normalize(key, dim=-1)
        attention = (query @ key.transpose(-2, -1) * self.temperature).softmax(dim=-1)
        return self.project_out((attention @ value).reshape(n, c, height, width))


class _GatedFeedForward(nn.Module):
    """GDFN: GELU-gated depthwise-conv feed-forward network."""

    def __init__(self, dim: int, expansion: float, bias: bool) -> None:
        super().__init__()
        hidden = int(dim * expansion)
        self.project_in = nn.Conv2d(dim, 2 * hidden, 1, bias=bias)
        self.dwconv = nn.Conv2d(2 * hidden, 2 * hidden, 3, padding=1, groups=2 * hidden, bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        gate, value = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(gate) * value)


class _TransformerBlock(nn.Module):
    def __init__(self, config: RestormerConfig, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = _Norm(dim, config.norm)
        self.attn = _ChannelAttention(dim, heads, config.bias)
        self.norm2 = _Norm(dim, config.norm)
        self.ffn = _GatedFeedForward(dim, config.ffn_expansion, config.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class _Resample(nn.Module):
    """Bias-free 3x3 conv then pixel-(un)shuffle by 2: ``body.0`` is the conv."""

    def __init__(self, dim: int, down: bool) -> None:
        super().__init__()
        shuffle = nn.PixelUnshuffle(2) if down else nn.PixelShuffle(2)
        self.body = nn.Sequential(
            nn.Conv2d(dim, dim // 2 if down else 2 * dim, 3, padding=1, bias=False), shuffle
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class _PatchEmbed(nn.Module):
    """The first, bias-free 3x3 conv (key ``patch_embed.proj``)."""

    def __init__(self, channels: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(channels, dim, 3, padding=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x)


@register_model(RestormerConfig)
class Restormer(nn.Module):
    """Restormer; see the module docstring."""

    def __init__(self, config: RestormerConfig) -> None:
        super().__init__()
        self.config = config
        d, b, h = config.dim, config.blocks, config.heads

        def stage(dim: int, count: int, heads: int) -> nn.Sequential:
            return nn.Sequential(*(_TransformerBlock(config, dim, heads) for _ in range(count)))

        self.patch_embed = _PatchEmbed(config.in_channels, d)
        self.encoder_level1 = stage(d, b[0], h[0])
        self.down1_2 = _Resample(d, down=True)
        self.encoder_level2 = stage(2 * d, b[1], h[1])
        self.down2_3 = _Resample(2 * d, down=True)
        self.encoder_level3 = stage(4 * d, b[2], h[2])
        self.down3_4 = _Resample(4 * d, down=True)
        self.latent = stage(8 * d, b[3], h[3])
        self.up4_3 = _Resample(8 * d, down=False)
        self.reduce_chan_level3 = nn.Conv2d(8 * d, 4 * d, 1, bias=config.bias)
        self.decoder_level3 = stage(4 * d, b[2], h[2])
        self.up3_2 = _Resample(4 * d, down=False)
        self.reduce_chan_level2 = nn.Conv2d(4 * d, 2 * d, 1, bias=config.bias)
        self.decoder_level2 = stage(2 * d, b[1], h[1])
        self.up2_1 = _Resample(2 * d, down=False)
        self.decoder_level1 = stage(2 * d, b[0], h[0])
        self.refinement = stage(2 * d, config.refinement_blocks, h[0])
        if config.dual_pixel:
            self.skip_conv = nn.Conv2d(d, 2 * d, 1, bias=config.bias)
        self.output = nn.Conv2d(2 * d, config.out_channels, 3, padding=1, bias=config.bias)

    def forward(self, image: Tensor) -> Tensor:
        height, width = image.shape[-2:]
        padded = pad_to_multiple(image, 8, mode="reflect")
        first = self.patch_embed(padded)
        level1 = self.encoder_level1(first)
        level2 = self.encoder_level2(self.down1_2(level1))
        level3 = self.encoder_level3(self.down2_3(level2))
        y = self.latent(self.down3_4(level3))
        y = self.decoder_level3(self.reduce_chan_level3(torch.cat([self.up4_3(y), level3], 1)))
        y = self.decoder_level2(self.reduce_chan_level2(torch.cat([self.up3_2(y), level2], 1)))
        y = self.refinement(self.decoder_level1(torch.cat([self.up2_1(y), level1], 1)))
        if self.config.dual_pixel:
            out = self.output(y + self.skip_conv(first))
        else:
            out = self.output(y) + padded
        return out[..., :height, :width]
