"""SwinIR: image restoration with residual Swin Transformer blocks (Liang et al., 2021).

A 3x3 conv lifts the image to ``embed_dim`` features; residual Swin Transformer blocks
(RSTB: ``depth`` window-attention blocks, every second one on windows shifted by half a
window, then a conv, plus the block's input) extract deep features, added back to the
shallow ones; a reconstruction head gives the output. The head (``upsampler``) is what
tells the official variants apart:

* ``"pixelshuffle"`` (classical SR x2/x3/x4/x8): conv + LeakyReLU, pixel-shuffle x2 stages
  (or one x3), conv;
* ``"pixelshuffledirect"`` (lightweight SR): one conv to C x scale**2 channels, shuffled;
* ``"nearest+conv"`` (real-world SR, Real-SwinIR): nearest x2 upsamplings each with a conv;
* ``"none"`` (grey/colour denoising, JPEG artefact removal): a conv whose output is added
  to the input.

Colour models subtract the DIV2K mean first; the JPEG models work in 0..255
(``img_range``), the others in 0..1. Inputs are reflect-padded to a multiple of the window.

Keys (JingyunLiang ``network_swinir.SwinIR``): ``conv_first``, ``patch_embed.norm``,
``layers.{i}.residual_group.blocks.{j}.{norm1, attn.relative_position_bias_table,
attn.relative_position_index, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2, attn_mask}``
(``attn_mask`` in shifted blocks only: the mask for the training patch size ``img_size``),
``layers.{i}.conv`` (or ``conv.{0,2,4}`` for ``"3conv"``), ``norm``, ``conv_after_body``,
then the head's ``conv_before_upsample.0``, ``upsample.{k}``, ``conv_up{1,2,3}``,
``conv_hr``, ``conv_last``.

Shapes: input (N, C, H, W) float32, H and W at least the window size; output
(N, C, scale*H, scale*W).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import Tensor, nn

from pixelwise.models.registry import register_model
from pixelwise.models.restorers._common import RestorerConfig, pad_to_multiple
from pixelwise.models.scunet import _from_windows, _shift_mask, _to_windows

Upsampler = Literal["pixelshuffle", "pixelshuffledirect", "nearest+conv", "none"]
#: Mean of DIV2K, subtracted from colour inputs by every official colour model.
DIV2K_MEAN = (0.4488, 0.4371, 0.4040)
#: Value the official code gives masked (cross-region) attention logits.
MASKED_LOGIT = -100.0


class SwinIRConfig(RestorerConfig):
    """Everything needed to rebuild a :class:`SwinIR` (defaults: colour denoising, 11.5M)."""

    name: Literal["swinir"] = "swinir"
    in_channels: int = Field(3, ge=1, le=4, description="image channels")
    scale: Literal[1, 2, 3, 4, 8] = Field(1, description="upscaling factor")
    upsampler: Upsampler = Field("none", description="reconstruction head; see the module")
    embed_dim: int = Field(180, ge=4, le=1024, description="token channels")
    depths: tuple[int, ...] = Field((6,) * 6, min_length=1, description="blocks per RSTB")
    heads: tuple[int, ...] = Field((6,) * 6, min_length=1, description="heads per RSTB")
    window_size: int = Field(8, ge=2, le=64, description="attention window side")
    mlp_ratio: float = Field(2.0, gt=0, le=16, description="MLP hidden / embed_dim")
    img_size: int = Field(
        128, ge=2, le=4096, description="training patch size (shapes the stored masks)"
    )
    img_range: float = Field(1.0, gt=0, description="1 (0..1 models) or 255 (JPEG models)")
    resi_connection: Literal["1conv", "3conv"] = Field("1conv", description="RSTB tail conv")
    features: int = Field(64, ge=1, le=1024, description="channels of the SR heads")

    @model_validator(mode="after")
    def _check(self) -> SwinIRConfig:
        if len(self.depths) != len(self.heads):
            raise ValueError("depths and heads need the same length")
        if any(self.embed_dim % h for h in self.heads):
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by heads {self.heads}")
        if self.img_size <= self.window_size:
            raise ValueError("img_size must exceed window_size")
        if (self.upsampler == "none") != (self.scale == 1):
            raise ValueError(f"upsampler '{self.upsampler}' does not fit scale {self.scale}")
        if self.upsampler == "nearest+conv" and self.scale == 3:
            raise ValueError("the nearest+conv head upsamples by powers of two")
        return self

    @property
    def size_multiple(self) -> int:
        return self.window_size


def _official_shift_mask(height: int, width: int, window: int, device: torch.device) -> Tensor:
    """The (windows, T, T) shifted-window mask as the official code builds it.

    Tokens from regions the cyclic shift brought together get ``MASKED_LOGIT`` (-100)
    rather than -inf, as in the official buffers (the softmax results are the same).
    """
    return _shift_mask(height, width, window, window // 2, device).clamp(min=MASKED_LOGIT)


class _Attention(nn.Module):
    """Window multi-head self-attention with a learned relative position bias."""

    relative_position_index: Tensor

    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        self.heads = heads
        span = 2 * window - 1
        self.relative_position_bias_table = nn.Parameter(torch.zeros(span * span, heads))
        coords = torch.stack(
            torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
        ).flatten(1)
        offsets = coords[:, :, None] - coords[:, None, :] + window - 1
        self.register_buffer("relative_position_index", offsets[0] * span + offsets[1])
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, windows: Tensor, images: int, mask: Tensor | None) -> Tensor:
        """(images * W, T, C) tokens; ``mask`` (W, T, T) is added to the logits."""
        total, tokens, channels = windows.shape
        qkv = self.qkv(windows).view(images, total // images, tokens, 3, self.heads, -1)
        query, key, value = qkv.permute(3, 0, 1, 4, 2, 5)  # (images, W, heads, T, d) each
        bias = self.relative_position_bias_table[self.relative_position_index]
        bias = bias.permute(2, 0, 1)  # (heads, T, T)
        if mask is not None:
            bias = bias + mask.to(bias).unsqueeze(1)  # (W, heads, T, T)
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=bias.to(query.dtype))
        return self.proj(out.transpose(2, 3).reshape(total, tokens, channels))


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class _SwinBlock(nn.Module):
    """Pre-norm window attention (shifted when ``shifted``) and MLP, both residual."""

    attn_mask: Tensor | None

    def __init__(self, config: SwinIRConfig, heads: int, shifted: bool) -> None:
        super().__init__()
        dim, window = config.embed_dim, config.window_size
        self.window = window
        self.shift = window // 2 if shifted else 0
        self.trained_size = config.img_size
        self.norm1 = nn.LayerNorm(dim)
        self.attn = _Attention(dim, heads, window)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = _Mlp(dim, int(dim * config.mlp_ratio))
        size, device = config.img_size, torch.get_default_device()
        mask = _official_shift_mask(size, size, window, device) if shifted else None
        self.register_buffer("attn_mask", mask)

    def forward(self, x: Tensor) -> Tensor:
        """(N, H, W, C) -> (N, H, W, C); H and W are multiples of the window."""
        n, height, width, _ = x.shape
        y = self.norm1(x)
        mask = None
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
            mask = self.attn_mask
            if mask is None or (height, width) != (self.trained_size, self.trained_size):
                mask = _official_shift_mask(height, width, self.window, x.device)
        y = self.attn(_to_windows(y, self.window), n, mask)
        y = _from_windows(y, n, height, width, self.window)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + y
        return x + self.mlp(self.norm2(x))


def _tail_conv(dim: int, kind: str) -> nn.Module:
    """The conv closing an RSTB (and the body): one 3x3, or a 3x3-1x1-3x3 bottleneck."""
    if kind == "1conv":
        return nn.Conv2d(dim, dim, 3, padding=1)
    return nn.Sequential(
        nn.Conv2d(dim, dim // 4, 3, padding=1),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(dim // 4, dim // 4, 1),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(dim // 4, dim, 3, padding=1),
    )


class _BlockGroup(nn.Module):
    def __init__(self, config: SwinIRConfig, depth: int, heads: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(_SwinBlock(config, heads, j % 2 == 1) for j in range(depth))


class _RSTB(nn.Module):
    """Residual Swin Transformer block: blocks, a conv, plus the input (NHWC in and out)."""

    def __init__(self, config: SwinIRConfig, depth: int, heads: int) -> None:
        super().__init__()
        self.residual_group = _BlockGroup(config, depth, heads)
        self.conv = _tail_conv(config.embed_dim, config.resi_connection)

    def forward(self, x: Tensor) -> Tensor:
        y = x
        for block in self.residual_group.blocks:
            y = block(y)
        return x + self.conv(y.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class _PatchNorm(nn.Module):
    """The LayerNorm of the official ``patch_embed`` (patch size 1: tokens are pixels)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)


def _pixelshuffle_stages(scale: int, features: int) -> nn.Sequential:
    """conv + shuffle x2 per factor two, or one conv + shuffle x3 (official ``Upsample``)."""
    factors = [3] if scale == 3 else [2] * (scale.bit_length() - 1)
    layers: list[nn.Module] = []
    for factor in factors:
        layers += [
            nn.Conv2d(features, factor * factor * features, 3, padding=1),
            nn.PixelShuffle(factor),
        ]
    return nn.Sequential(*layers)


@register_model(SwinIRConfig)
class SwinIR(nn.Module):
    """SwinIR; see the module docstring."""

    mean: Tensor

    def __init__(self, config: SwinIRConfig) -> None:
        super().__init__()
        self.config = config
        c, dim, feat = config.in_channels, config.embed_dim, config.features
        mean = DIV2K_MEAN if c == 3 else (0.0,) * c
        self.register_buffer("mean", torch.tensor(mean).view(1, c, 1, 1), persistent=False)
        self.conv_first = nn.Conv2d(c, dim, 3, padding=1)
        self.patch_embed = _PatchNorm(dim)
        self.layers = nn.ModuleList(
            _RSTB(config, depth, heads)
            for depth, heads in zip(config.depths, config.heads, strict=True)
        )
        self.norm = nn.LayerNorm(dim)
        self.conv_after_body = _tail_conv(dim, config.resi_connection)
        head = config.upsampler
        if head in ("pixelshuffle", "nearest+conv"):
            self.conv_before_upsample = nn.Sequential(
                nn.Conv2d(dim, feat, 3, padding=1), nn.LeakyReLU(inplace=True)
            )
        if head == "pixelshuffle":
            self.upsample = _pixelshuffle_stages(config.scale, feat)
        elif head == "pixelshuffledirect":
            self.upsample = nn.Sequential(
                nn.Conv2d(dim, c * config.scale**2, 3, padding=1), nn.PixelShuffle(config.scale)
            )
        elif head == "nearest+conv":
            self.up_names = tuple(f"conv_up{k + 1}" for k in range(config.scale.bit_length() - 1))
            for up in self.up_names:
                self.add_module(up, nn.Conv2d(feat, feat, 3, padding=1))
            self.conv_hr = nn.Conv2d(feat, feat, 3, padding=1)
        if head != "pixelshuffledirect":
            self.conv_last = nn.Conv2d(dim if head == "none" else feat, c, 3, padding=1)

    def _deep_features(self, x: Tensor) -> Tensor:
        tokens = self.patch_embed.norm(x.permute(0, 2, 3, 1))  # (N, H, W, C)
        for layer in self.layers:
            tokens = layer(tokens)
        return self.norm(tokens).permute(0, 3, 1, 2)

    def forward(self, x: Tensor) -> Tensor:
        config = self.config
        height, width = x.shape[-2:]
        x = pad_to_multiple(x, config.window_size, mode="reflect")
        x = (x - self.mean) * config.img_range
        shallow = self.conv_first(x)
        deep = self.conv_after_body(self._deep_features(shallow)) + shallow
        if config.upsampler == "pixelshuffle":
            out = self.conv_last(self.upsample(self.conv_before_upsample(deep)))
        elif config.upsampler == "pixelshuffledirect":
            out = self.upsample(deep)
        elif config.upsampler == "nearest+conv":
            y = self.conv_before_upsample(deep)
            for up in self.up_names:
                y = F.leaky_relu(
                    getattr(self, up)(F.interpolate(y, scale_factor=2, mode="nearest")), 0.2
                )
            out = self.conv_last(F.leaky_relu(self.conv_hr(y), 0.2))
        else:
            out = x + self.conv_last(deep)
        out = out / config.img_range + self.mean
        return out[..., : height * config.scale, : width * config.scale]
