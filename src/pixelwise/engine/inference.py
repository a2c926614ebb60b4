"""Whole-image inference for fully convolutional models on inputs of any size.

Each tile is edge-padded up to a multiple of the network's size multiple (``2**(levels-1)``
for a U-Net), predicted, and cropped back exactly. Inputs larger than ``tile_size`` are cut into
overlapping tiles whose predictions are blended with a separable ramp window, so seams do not
show and memory stays bounded by the tile size.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets covering ``[0, length)`` with tiles of ``tile`` overlapping by ``overlap``."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def _ramp(length: int, overlap: int, device: torch.device) -> Tensor:
    """1-D blending weights: linear ramps of ``overlap`` samples at both ends, 1 inside."""
    weights = torch.ones(length, device=device)
    if overlap > 0 and length > 2 * overlap:
        ramp = torch.linspace(0.0, 1.0, overlap + 2, device=device)[1:-1]
        weights[:overlap] = ramp
        weights[-overlap:] = ramp.flip(0)
    return weights


def _predict_padded(model: nn.Module, tile: Tensor, multiple: int) -> Tensor:
    height, width = tile.shape[-2:]
    pad_h = (-height) % multiple
    pad_w = (-width) % multiple
    padded = F.pad(tile, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else tile
    return model(padded)[..., :height, :width]


@torch.inference_mode()
def predict_tensor(
    model: nn.Module,
    image: Tensor,
    *,
    size_multiple: int,
    tile_size: int = 512,
    overlap: int = 32,
) -> Tensor:
    """Predict a (N, C, H, W) tensor of any H, W; returns (N, C_out, H, W).

    The caller sets ``model.eval()``; this function runs under ``inference_mode``.
    """
    if tile_size % size_multiple:
        tile_size += size_multiple - tile_size % size_multiple
    overlap = min(overlap, tile_size // 4)
    height, width = image.shape[-2:]
    if height <= tile_size and width <= tile_size:
        return _predict_padded(model, image, size_multiple)
    output: Tensor | None = None
    weight_sum = torch.zeros((1, 1, height, width), device=image.device)
    for top in _tile_starts(height, tile_size, overlap):
        for left in _tile_starts(width, tile_size, overlap):
            tile = image[..., top : top + tile_size, left : left + tile_size]
            prediction = _predict_padded(model, tile, size_multiple).float()
            th, tw = tile.shape[-2:]
            window = (
                _ramp(th, overlap, image.device)[:, None]
                * _ramp(tw, overlap, image.device)[None, :]
            )
            if output is None:
                output = torch.zeros(
                    (image.shape[0], prediction.shape[1], height, width), device=image.device
                )
            output[..., top : top + th, left : left + tw] += prediction * window
            weight_sum[..., top : top + th, left : left + tw] += window
    assert output is not None
    return output / weight_sum


def predict_array(
    model: nn.Module,
    image: np.ndarray,
    *,
    size_multiple: int,
    tile_size: int = 512,
    overlap: int = 32,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """Predict a single-channel float image (H, W) -> float32 (H, W) with a 1-in/1-out model."""
    model.eval()
    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None].to(device)
    prediction = predict_tensor(
        model, tensor, size_multiple=size_multiple, tile_size=tile_size, overlap=overlap
    )
    return prediction[0, 0].float().cpu().numpy()
