"""FFDNet and FDnCNN: noise-level-aware plain CNN denoisers (Zhang et al., 2018), KAIR layout.

Both are a stack of 3x3 convolutions with ReLUs (``model.0``, ``model.2``, ... in KAIR's
``sequential``; BatchNorm folded into the convolutions, as released) that take the noise
level as an input map and predict the clean image directly:

* ``fdncnn`` (KAIR ``network_dncnn.FDnCNN``): input C + 1 channels (image and map) at full
  resolution, output C channels;
* ``ffdnet`` (KAIR ``network_ffdnet.FFDNet``): the image is pixel-unshuffled by 2 first
  (4C channels at half resolution) and the map appended (4C + 1), the output (4C channels)
  pixel-shuffled back; odd sizes are replicate-padded and cropped.

The plain DnCNN (residual, no map) is :class:`pixelwise.models.DnCNN`.

Shapes: ``forward(x, sigma)``: x (N, C, H, W) float32, sigma a float or (N,) tensor in
[0, 1] units; returns (N, C, H, W).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from pixelwise.models.registry import register_model
from pixelwise.models.restorers._common import RestorerConfig, noise_level_map, pad_to_multiple


class FFDNetConfig(RestorerConfig):
    """Everything needed to rebuild an :class:`FFDNet` or FDnCNN."""

    name: Literal["ffdnet"] = "ffdnet"
    variant: Literal["ffdnet", "fdncnn"] = Field("ffdnet", description="see the module")
    in_channels: int = Field(1, ge=1, le=4, description="image channels")
    features: int = Field(64, ge=1, le=1024, description="hidden channels")
    depth: int = Field(15, ge=2, le=64, description="convolution layers in total")

    @property
    def size_multiple(self) -> int:
        return 2 if self.variant == "ffdnet" else 1


@register_model(FFDNetConfig)
class FFDNet(nn.Module):
    """FFDNet / FDnCNN; see the module docstring."""

    takes_noise_level = True

    def __init__(self, config: FFDNetConfig) -> None:
        super().__init__()
        self.config = config
        factor = 4 if config.variant == "ffdnet" else 1
        width = config.features
        layers: list[nn.Module] = [
            nn.Conv2d(config.in_channels * factor + 1, width, 3, padding=1),
            nn.ReLU(inplace=True),
        ]
        for _ in range(config.depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(width, config.in_channels * factor, 3, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor, sigma: Tensor | float = 15 / 255) -> Tensor:
        height, width = x.shape[-2:]
        if self.config.variant == "fdncnn":
            return self.model(torch.cat([x, noise_level_map(x, sigma)], dim=1))
        y = F.pixel_unshuffle(pad_to_multiple(x, 2), 2)
        y = self.model(torch.cat([y, noise_level_map(y, sigma)], dim=1))
        return F.pixel_shuffle(y, 2)[..., :height, :width]
