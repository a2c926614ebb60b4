"""SCUNet: a U-Net of Swin-Conv blocks for blind denoising (Zhang et al., 2022).

A Swin-Conv block projects its input with a 1x1 conv and splits the channels in two halves:
one goes through a residual 3x3 conv block (local detail), the other through a Swin transformer
block (multi-head self-attention inside non-overlapping windows, with a learned relative
position bias, then an MLP; long-range context). A 1x1 conv fuses the halves and the result is
added to the block's input. Successive blocks alternate regular and shifted windows, so
information crosses window borders. Levels are linked by 2x2 strided convs (down) and 2x2
transposed convs (up); skip connections are added, as in the paper.

Shapes: input (N, in_channels, H, W) float32 of any H and W; ``forward`` replicate-pads to a
multiple of ``config.size_multiple`` (``window_size * 2**(levels - 1)``, so that every level
tiles into whole windows) and crops back; output (N, in_channels, H, W).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import Tensor, nn

from pixelwise.models.layers import init_weights
from pixelwise.models.registry import register_model


class SCUNetConfig(BaseModel):
    """Everything needed to rebuild a :class:`SCUNet`; stored inside weights files."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["scunet"] = "scunet"
    in_channels: int = Field(1, ge=1, description="image channels (1 gray, 3 colour)")
    dim: int = Field(
        64, ge=2, le=1024, description="channels at full resolution; doubled per level"
    )
    levels: int = Field(
        4, ge=1, le=6, description="resolutions; the input is halved levels-1 times"
    )
    blocks: int = Field(
        4, ge=1, description="Swin-Conv blocks in each encoder, bottleneck and decoder stage"
    )
    head_dim: int = Field(32, ge=1, description="channels per attention head")
    window_size: int = Field(8, ge=2, description="side of the square attention windows")

    @model_validator(mode="after")
    def _check_heads(self) -> SCUNetConfig:
        if self.dim % 2 or (self.dim // 2) % self.head_dim:
            raise ValueError(
                f"dim must be even and dim / 2 a multiple of head_dim, got dim={self.dim}, "
                f"head_dim={self.head_dim}"
            )
        return self

    @property
    def size_multiple(self) -> int:
        """``forward`` pads spatial sizes to multiples of this."""
        return self.window_size * 2 ** (self.levels - 1)


def _to_windows(x: Tensor, size: int) -> Tensor:
    """(N, H, W, C) -> (N * windows, size * size, C), windows in row-major order per image."""
    n, height, width, channels = x.shape
    x = x.view(n, height // size, size, width // size, size, channels)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, size * size, channels)


def _from_windows(windows: Tensor, n: int, height: int, width: int, size: int) -> Tensor:
    """Inverse of :func:`_to_windows`: (N * windows, size * size, C) -> (N, H, W, C)."""
    x = windows.view(n, height // size, width // size, size, size, -1)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(n, height, width, -1)


def _shift_mask(height: int, width: int, size: int, shift: int, device: torch.device) -> Tensor:
    """Additive (windows, T, T) mask keeping attention inside the regions a cyclic shift joined.

    After rolling the map by ``-shift``, the last row and column of windows hold pixels from
    opposite image borders; tokens may only attend to tokens of their own region.
    """
    labels = torch.zeros((1, height, width, 1), device=device)
    bands = (slice(0, -size), slice(-size, -shift), slice(-shift, None))
    for row_index, rows in enumerate(bands):
        for col_index, cols in enumerate(bands):
            labels[:, rows, cols] = 3 * row_index + col_index
    regions = _to_windows(labels, size).squeeze(-1)
    different = regions[:, :, None] != regions[:, None, :]
    return torch.zeros(different.shape, device=device).masked_fill(different, float("-inf"))


class WindowAttention(nn.Module):
    """Multi-head self-attention in (optionally shifted) windows, with relative position bias."""

    bias_index: Tensor

    def __init__(self, dim: int, head_dim: int, window_size: int) -> None:
        super().__init__()
        self.heads = dim // head_dim
        self.window_size = window_size
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        span = 2 * window_size - 1
        self.position_bias = nn.Parameter(torch.zeros(span * span, self.heads))
        coords = torch.stack(
            torch.meshgrid(torch.arange(window_size), torch.arange(window_size), indexing="ij")
        ).flatten(1)
        offsets = coords[:, :, None] - coords[:, None, :] + window_size - 1
        self.register_buffer("bias_index", offsets[0] * span + offsets[1], persistent=False)

    def forward(self, x: Tensor, shift: int) -> Tensor:
        """(N, H, W, C) -> (N, H, W, C); H and W must be multiples of the window size."""
        n, height, width, channels = x.shape
        if shift:
            x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
        windows = _to_windows(x, self.window_size)
        tokens = windows.shape[1]
        qkv = self.qkv(windows).view(-1, tokens, 3, self.heads, channels // self.heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4)
        bias = self.position_bias[self.bias_index].permute(2, 0, 1)  # (heads, T, T)
        if shift:
            mask = _shift_mask(height, width, self.window_size, shift, x.device)
            bias = bias + mask.repeat(n, 1, 1).unsqueeze(1)  # (N * windows, heads, T, T)
        attended = F.scaled_dot_product_attention(query, key, value, attn_mask=bias.to(query.dtype))
        out = self.proj(attended.transpose(1, 2).reshape(-1, tokens, channels))
        out = _from_windows(out, n, height, width, self.window_size)
        return torch.roll(out, shifts=(shift, shift), dims=(1, 2)) if shift else out


class SwinBlock(nn.Module):
    """Pre-norm transformer block: window attention then a 4x MLP, each with a residual."""

    def __init__(self, dim: int, head_dim: int, window_size: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attention = WindowAttention(dim, head_dim, window_size)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: Tensor, shift: int) -> Tensor:
        """(N, H, W, C) -> (N, H, W, C)."""
        x = x + self.attention(self.norm1(x), shift)
        return x + self.mlp(self.norm2(x))


class SwinConvBlock(nn.Module):
    """1x1 split into a residual conv branch and a Swin branch, 1x1 fusion, residual add."""

    def __init__(self, dim: int, head_dim: int, window_size: int, shifted: bool) -> None:
        super().__init__()
        half = dim // 2
        self.shift = window_size // 2 if shifted else 0
        self.window_size = window_size
        self.split = nn.Conv2d(dim, dim, 1)
        self.conv = nn.Sequential(
            nn.Conv2d(half, half, 3, padding=1, bias=False),
            nn.ReLU(),
            nn.Conv2d(half, half, 3, padding=1, bias=False),
        )
        self.swin = SwinBlock(half, head_dim, window_size)
        self.fuse = nn.Conv2d(dim, dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, H, W) -> (N, C, H, W); H and W must be multiples of the window size."""
        local, context = self.split(x).chunk(2, dim=1)
        local = local + self.conv(local)
        # A map that is a single window has nothing to shift across (as in Swin).
        shift = self.shift if min(x.shape[-2:]) > self.window_size else 0
        context = self.swin(context.permute(0, 2, 3, 1), shift).permute(0, 3, 1, 2)
        return x + self.fuse(torch.cat([local, context], dim=1))


@register_model(SCUNetConfig)
class SCUNet(nn.Module):
    """Swin-Conv U-Net; see the module docstring."""

    def __init__(self, config: SCUNetConfig) -> None:
        super().__init__()
        self.config = config
        widths = [config.dim * 2**level for level in range(config.levels)]
        self.head = nn.Conv2d(config.in_channels, config.dim, 3, padding=1, bias=False)
        self.encoders = nn.ModuleList(self._stage(width) for width in widths[:-1])
        self.downsamplers = nn.ModuleList(
            nn.Conv2d(width, 2 * width, 2, stride=2, bias=False) for width in widths[:-1]
        )
        self.bottleneck = self._stage(widths[-1])
        self.upsamplers = nn.ModuleList(
            nn.ConvTranspose2d(2 * width, width, 2, stride=2, bias=False)
            for width in reversed(widths[:-1])
        )
        self.decoders = nn.ModuleList(self._stage(width) for width in reversed(widths[:-1]))
        self.tail = nn.Conv2d(config.dim, config.in_channels, 3, padding=1, bias=False)
        init_weights(self)
        for module in self.modules():
            if isinstance(module, WindowAttention):
                nn.init.trunc_normal_(module.position_bias, std=0.02)

    def _stage(self, width: int) -> nn.Sequential:
        """``blocks`` Swin-Conv blocks of ``width`` channels, alternately regular and shifted."""
        config = self.config
        return nn.Sequential(
            *(
                SwinConvBlock(width, config.head_dim, config.window_size, shifted=index % 2 == 1)
                for index in range(config.blocks)
            )
        )

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        multiple = self.config.size_multiple
        pad_h, pad_w = (-height) % multiple, (-width) % multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        features = self.head(x)
        skips = [features]
        for encoder, downsample in zip(self.encoders, self.downsamplers, strict=True):
            features = downsample(encoder(features))
            skips.append(features)
        features = self.bottleneck(features)
        for upsample, decoder in zip(self.upsamplers, self.decoders, strict=True):
            features = decoder(upsample(features + skips.pop()))
        return self.tail(features + skips.pop())[..., :height, :width]
