"""Sliding-window inference for N-D inputs of any size, for models of any signature.

A model may take one tensor, several (positionally) or a dict of named tensors, and return
a tensor, a tuple or a dict; every input and output is ``(N, C, *S)`` with the same spatial
shape ``S`` (1, 2 or 3 axes). Each window is edge-padded up to a multiple of the network's
size multiple (``2**(levels-1)`` for a U-Net), predicted and cropped back exactly. Inputs
larger than the window are cut into overlapping windows whose predictions are blended with
a separable linear ramp, so seams do not show and memory stays bounded by the window.
``window=None`` runs the whole input at once, for models that need global context.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pixelwise.errors import ConfigError, InputError

Inputs = Tensor | Sequence[Tensor] | Mapping[str, Tensor]
Outputs = Tensor | tuple[Tensor, ...] | dict[str, Tensor]


def _per_axis(value: int | Sequence[int], dims: int, name: str) -> tuple[int, ...]:
    values = (value,) * dims if isinstance(value, int) else tuple(value)
    if len(values) != dims:
        raise ConfigError(f"{name} needs {dims} values (one per spatial axis), got {values}")
    return values


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets covering ``[0, length)`` with tiles of ``tile`` overlapping by ``overlap``.

    Examples
    --------
    >>> tile_starts(10, 4, 1)
    [0, 3, 6]
    >>> tile_starts(3, 4, 1)
    [0]
    """
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, tile - overlap))
    starts.append(length - tile)
    return starts


def ramp(length: int, overlap: int, device: torch.device) -> Tensor:
    """1-D blending weights: linear ramps of ``overlap`` samples at both ends, 1 inside."""
    weights = torch.ones(length, device=device)
    if overlap > 0 and length > 2 * overlap:
        rising = torch.linspace(0.0, 1.0, overlap + 2, device=device)[1:-1]
        weights[:overlap] = rising
        weights[-overlap:] = rising.flip(0)
    return weights


def _as_list(inputs: Inputs) -> tuple[list[Tensor], Callable[[list[Tensor]], Any]]:
    """Flatten the inputs and return a function calling the model with the same structure."""
    if isinstance(inputs, Tensor):
        return [inputs], lambda tensors: tensors[0]
    if isinstance(inputs, Mapping):
        keys = list(inputs)
        return [inputs[key] for key in keys], lambda tensors: dict(zip(keys, tensors, strict=True))
    return list(inputs), list


def _call(model: Callable[..., Any], structured: Any) -> Any:
    if isinstance(structured, Tensor):
        return model(structured)
    if isinstance(structured, dict):
        return model(**structured)
    return model(*structured)


def _outputs_as_list(outputs: Any) -> tuple[list[Tensor], Callable[[list[Tensor]], Outputs]]:
    if isinstance(outputs, Tensor):
        return [outputs], lambda tensors: tensors[0]
    if isinstance(outputs, Mapping):
        keys = list(outputs)
        return [outputs[key] for key in keys], lambda tensors: dict(zip(keys, tensors, strict=True))
    if isinstance(outputs, Sequence):
        return list(outputs), tuple
    raise TypeError(f"the model returned {type(outputs).__name__}; expected tensors")


def _predict_padded(
    model: Callable[..., Any],
    tiles: list[Tensor],
    rebuild: Callable[[list[Tensor]], Any],
    multiple: tuple[int, ...],
) -> tuple[list[Tensor], Callable[[list[Tensor]], Outputs]]:
    spatial = tuple(tiles[0].shape[2:])
    pads = [(-size) % step for size, step in zip(spatial, multiple, strict=True)]
    if any(pads):
        # F.pad takes (last axis low, high, second-last low, high, ...).
        widths = [value for pad in reversed(pads) for value in (0, pad)]
        tiles = [F.pad(tile, widths, mode="replicate") for tile in tiles]
    outputs, assemble = _outputs_as_list(_call(model, rebuild(tiles)))
    crop: tuple[Any, ...] = (Ellipsis, *(slice(0, size) for size in spatial))
    cropped = []
    for output in outputs:
        if tuple(output.shape[2:]) != tuple(tiles[0].shape[2:]):
            raise InputError(
                "model",
                f"an output of spatial shape {tuple(output.shape[2:])} does not match its "
                f"input's {tuple(tiles[0].shape[2:])}; sliding-window inference needs "
                "outputs aligned with the input (use window=None for other models)",
            )
        cropped.append(output[crop])
    return cropped, assemble


@torch.inference_mode()
def sliding_window_inference(
    model: Callable[..., Any],
    inputs: Inputs,
    *,
    window: int | Sequence[int] | None = 512,
    overlap: int | Sequence[int] = 32,
    size_multiple: int | Sequence[int] = 1,
) -> Outputs:
    """Predict inputs of any spatial size, window by window, with blended seams.

    Parameters
    ----------
    model : callable
        Called as ``model(x)``, ``model(*xs)`` or ``model(**xs)`` following the structure of
        ``inputs``. The caller sets ``eval()``; this function runs under ``inference_mode``.
    inputs : Tensor, sequence or mapping of Tensors
        Each ``(N, C_i, *S)`` float, all with the same spatial shape ``S`` (1-3 axes).
    window : int, sequence of int or None
        Window edge per spatial axis (rounded up to ``size_multiple``); None predicts the
        whole input at once.
    overlap : int or sequence of int
        Overlap of neighbouring windows (at most a quarter of the window).
    size_multiple : int or sequence of int
        The network needs spatial sizes that are multiples of this.

    Returns
    -------
    Tensor, tuple or dict of Tensors
        Mirroring the model's outputs, each ``(N, C_out, *S)`` float32.

    Examples
    --------
    >>> net = torch.nn.Conv2d(1, 2, 3, padding=1)
    >>> sliding_window_inference(net, torch.rand(1, 1, 70, 50), window=32).shape
    torch.Size([1, 2, 70, 50])
    """
    tensors, rebuild = _as_list(inputs)
    spatial = tuple(tensors[0].shape[2:])
    dims = len(spatial)
    if not 1 <= dims <= 3 or any(tuple(t.shape[2:]) != spatial for t in tensors):
        shapes = [tuple(t.shape) for t in tensors]
        raise InputError(
            "inputs", f"expected (N, C, *S) inputs with one spatial shape, got {shapes}"
        )
    multiple = _per_axis(size_multiple, dims, "size_multiple")
    if window is None:
        outputs, assemble = _predict_padded(model, tensors, rebuild, multiple)
        return assemble([output.float() for output in outputs])
    sizes = tuple(
        -(-edge // step) * step
        for edge, step in zip(_per_axis(window, dims, "window"), multiple, strict=True)
    )
    overlaps = tuple(
        min(value, size // 4)
        for value, size in zip(_per_axis(overlap, dims, "overlap"), sizes, strict=True)
    )
    if all(length <= size for length, size in zip(spatial, sizes, strict=True)):
        outputs, assemble = _predict_padded(model, tensors, rebuild, multiple)
        return assemble([output.float() for output in outputs])
    device = tensors[0].device
    sums: list[Tensor] = []
    weight_sum = torch.zeros((1, 1, *spatial), device=device)
    assemble_outputs: Callable[[list[Tensor]], Outputs] | None = None
    starts = [tile_starts(n, s, o) for n, s, o in zip(spatial, sizes, overlaps, strict=True)]
    for corner in itertools.product(*starts):
        region: tuple[Any, ...] = (
            Ellipsis,
            *(slice(c, c + s) for c, s in zip(corner, sizes, strict=True)),
        )
        tiles = [tensor[region] for tensor in tensors]
        extent = tuple(tiles[0].shape[2:])
        outputs, assemble_outputs = _predict_padded(model, tiles, rebuild, multiple)
        weight = torch.ones((), device=device)
        for axis, (length, lap) in enumerate(zip(extent, overlaps, strict=True)):
            shape = [1] * dims
            shape[axis] = length
            weight = weight * ramp(length, lap, device).view(shape)
        if not sums:
            sums = [
                torch.zeros((output.shape[0], output.shape[1], *spatial), device=device)
                for output in outputs
            ]
        for total, output in zip(sums, outputs, strict=True):
            total[region] += output.float() * weight
        weight_sum[region] += weight
    if assemble_outputs is None:  # pragma: no cover - product over non-empty ranges
        raise InputError("inputs", "no window was predicted")
    return assemble_outputs([total / weight_sum for total in sums])


def predict_array(
    model: nn.Module,
    array: np.ndarray,
    *,
    spatial_dims: int = 2,
    window: int | Sequence[int] | None = 512,
    overlap: int | Sequence[int] = 32,
    size_multiple: int | Sequence[int] = 1,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """Predict one array with a one-input, one-output model; NumPy in, float32 NumPy out.

    ``array`` is ``(*S)`` (one channel) or ``(C, *S)`` with ``len(S) == spatial_dims``. The
    result is ``(C_out, *S)``, except that a channel-less input predicted by a one-channel
    model gives ``(*S)`` back. The model is put in ``eval()`` mode.

    Examples
    --------
    >>> net = torch.nn.Conv2d(1, 3, 1)
    >>> predict_array(net, np.zeros((5, 7), np.float32)).shape
    (3, 5, 7)
    """
    if array.ndim not in (spatial_dims, spatial_dims + 1):
        raise InputError(
            "array",
            f"expected {spatial_dims} spatial axes with an optional leading channel axis, "
            f"got shape {array.shape}",
        )
    has_channels = array.ndim == spatial_dims + 1
    model.eval()
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    tensor = (tensor if has_channels else tensor[None])[None].to(device)
    prediction = sliding_window_inference(
        model, tensor, window=window, overlap=overlap, size_multiple=size_multiple
    )
    if not isinstance(prediction, Tensor):
        raise InputError("model", "predict_array needs a model with one tensor output")
    result = prediction[0].cpu().numpy()
    return result[0] if not has_channels and result.shape[0] == 1 else result
