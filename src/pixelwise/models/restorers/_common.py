"""Helpers shared by the restorer architectures."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn


class RestorerConfig(BaseModel):
    """Base of the restorer configs: frozen, unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def pad_to_multiple(x: Tensor, multiple: int, mode: str = "replicate") -> Tensor:
    """Pad (N, C, H, W) at the bottom and right so that H and W are multiples of ``multiple``."""
    pad_h, pad_w = (-x.shape[-2]) % multiple, (-x.shape[-1]) % multiple
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    return x


def noise_level_map(x: Tensor, sigma: Tensor | float) -> Tensor:
    """A (N, 1, H, W) map of the noise level ``sigma`` (a float, or one value per image)."""
    if isinstance(sigma, Tensor):
        level = sigma.to(x).reshape(-1, 1, 1, 1)
        return level.expand(x.shape[0], 1, *x.shape[-2:])
    return x.new_full((x.shape[0], 1, *x.shape[-2:]), float(sigma))


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of (N, C, H, W), affine ``weight`` (and ``bias``).

    ``with_bias=False`` is Restormer's *BiasFree* norm: the input is divided by its standard
    deviation over the channels without being centred, and there is no bias.
    """

    def __init__(self, channels: int, eps: float = 1e-6, with_bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels)) if with_bias else None
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        mean = x.mean(1, keepdim=True)
        variance = (x - mean).pow(2).mean(1, keepdim=True)
        centred = x - mean if self.bias is not None else x
        y = self.weight.view(1, -1, 1, 1) * (centred / (variance + self.eps).sqrt())
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)
