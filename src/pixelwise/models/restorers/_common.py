"""Helpers shared by the restorer architectures."""

from __future__ import annotations

import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict
from torch import Tensor


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
