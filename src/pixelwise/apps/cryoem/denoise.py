"""Denoising micrographs of any size with a trained checkpoint, keeping the MRC header.

Each micrograph is standardised by its own mean and std, predicted in tiles whose halo
covers the network's receptive field (so tiled and whole-image inference agree to float
rounding, without seams), and mapped back to its units.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pixelwise.apps.cryoem.micrographs import MicrographSource
from pixelwise.apps.cryoem.train import APP
from pixelwise.data import Normalization
from pixelwise.engine import ProgressReporter, SilentProgress, predict_array, resolve_device
from pixelwise.errors import InputError
from pixelwise.io.mrc import MRC_SUFFIXES, write_mrc
from pixelwise.io.registry import open_source, write_array
from pixelwise.methods import TrainedModel, load_trained
from pixelwise.models import size_multiple_of

OUTPUT_DTYPES = {"float32": np.float32, "float16": np.float16}
#: Default inference tile edge in pixels.
DEFAULT_WINDOW = 512


def load_denoiser(checkpoint: str | Path) -> TrainedModel:
    """Rebuild the trained network of a cryo-EM checkpoint (eval mode, CPU)."""
    return load_trained(checkpoint, app=APP)


def receptive_radius(model: nn.Module) -> int:
    """How far (pixels) an output pixel sees, measured as the gradient support of one pixel.

    Measured on a copy of the network with small positive weights and biases, so that no
    ReLU is inactive and the support is the architecture's, whatever the trained weights.

    >>> from pixelwise.models import ThreeLayerCNN, ThreeLayerCNNConfig
    >>> receptive_radius(ThreeLayerCNN(ThreeLayerCNNConfig()))
    3
    """
    multiple = size_multiple_of(model)
    probe_model = copy.deepcopy(model).float().eval()
    with torch.no_grad():
        for parameter in probe_model.parameters():
            parameter.fill_(0.01)
    size = max(64, 4 * multiple)
    while True:
        probe = torch.ones(1, 1, size, size, requires_grad=True)
        output = probe_model(probe)
        output[0, 0, size // 2, size // 2].backward()
        if probe.grad is None:
            raise RuntimeError("the probe's output does not depend on its input (no gradient)")
        support = (probe.grad[0, 0].abs() > 0).nonzero()
        radius = int((support - size // 2).abs().max())
        if radius < size // 2 - 1 or size >= 1024:
            return radius
        size *= 2


def _tile_edges(length: int, window: int) -> list[tuple[int, int]]:
    return [(start, min(start + window, length)) for start in range(0, length, window)]


def predict_tiled(
    model: nn.Module,
    values: np.ndarray,
    window: int,
    device: torch.device | str = "cpu",
    on_tile: Callable[[], None] | None = None,
) -> np.ndarray:
    """Predict a standardised ``(Y, X)`` array in ``window``-sized tiles, exactly.

    Each tile is predicted with a halo of the receptive radius (plus the size multiple) of
    real neighbouring pixels and only its core is kept, so every output pixel is computed
    from the same inputs as in whole-image inference: there are no seams to blend. Tile
    origins are multiples of the network's size multiple, so pooling grids line up too.
    Memory is bounded by ``(window + 2 * halo)²``. ``on_tile`` is called after each tile
    (:func:`tile_count` of them).
    """
    multiple = size_multiple_of(model)
    window = max(multiple, -(-window // multiple) * multiple)
    halo = receptive_radius(model) + multiple
    height, width = values.shape
    target = torch.device(device) if isinstance(device, str) else device
    model = model.to(target)
    if height <= window and width <= window:
        whole = predict_array(model, values, window=None, size_multiple=multiple, device=target)
        if on_tile is not None:
            on_tile()
        return whole
    output = np.empty((height, width), np.float32)
    for y0, y1 in _tile_edges(height, window):
        for x0, x1 in _tile_edges(width, window):
            ya, xa = (
                max(0, y0 - halo) // multiple * multiple,
                max(0, x0 - halo) // multiple * multiple,
            )
            yb, xb = min(height, y1 + halo), min(width, x1 + halo)
            tile = predict_array(
                model, values[ya:yb, xa:xb], window=None, size_multiple=multiple, device=target
            )
            output[y0:y1, x0:x1] = tile[y0 - ya : y1 - ya, x0 - xa : x1 - xa]
            if on_tile is not None:
                on_tile()
    return output


def tile_count(shape: tuple[int, ...], window: int | None = None) -> int:
    """How many tiles :func:`predict_tiled` uses for a ``(Y, X)`` micrograph (at most).

    >>> tile_count((1000, 1100), 512)
    6
    """
    window = window or DEFAULT_WINDOW
    height, width = shape[-2:]
    return -(-height // window) * -(-width // window)


def denoise_array(
    trained: TrainedModel | nn.Module,
    micrograph: np.ndarray,
    *,
    patch_size: int | None = None,
    device: str = "auto",
    on_tile: Callable[[], None] | None = None,
) -> np.ndarray:
    """Denoise one ``(Y, X)`` micrograph of any size -> float32 ``(Y, X)`` in its own units.

    The micrograph is standardised by its own mean and std, predicted in tiles of
    ``patch_size`` (default 512; smaller needs less memory) by :func:`predict_tiled`
    (``on_tile`` is called after each), and mapped back.

    Examples
    --------
    >>> from pixelwise.models import ThreeLayerCNN, ThreeLayerCNNConfig
    >>> net = ThreeLayerCNN(ThreeLayerCNNConfig())
    >>> denoise_array(net, np.random.default_rng(0).poisson(5, (40, 30))).shape
    (40, 30)
    """
    values = np.asarray(micrograph, dtype=np.float32)
    if values.ndim != 2:
        raise InputError("micrograph", f"expected (Y, X), got shape {values.shape}")
    std = float(values.std())
    if not np.isfinite(std) or std == 0:
        raise InputError("micrograph", "is constant or not finite; cannot standardise")
    model = trained.model if isinstance(trained, TrainedModel) else trained
    own = Normalization(mean=float(values.mean(dtype=np.float64)), std=std)
    prediction = predict_tiled(
        model.eval(),
        own.apply(values),
        patch_size or DEFAULT_WINDOW,
        resolve_device(device),
        on_tile,
    )
    return own.invert(prediction)


def micrographs_of(path: str | Path) -> list[MicrographSource]:
    """Every micrograph of an MRC/TIFF/npy file: the image, or each entry of a stack."""
    source = open_source(path)
    if len(source.shape) == 2:
        return [MicrographSource(source)]
    if len(source.shape) == 3:
        return [MicrographSource(source, (index,)) for index in range(source.shape[0])]
    source.close()
    raise InputError(path, f"expected a (Y, X) micrograph or (N, Y, X) stack, got {source.shape}")


def denoise_file(
    input_path: str | Path,
    output_path: str | Path,
    trained: TrainedModel,
    *,
    patch_size: int | None = None,
    dtype: str = "float32",
    device: str = "auto",
    on_tile: Callable[[], None] | None = None,
) -> np.ndarray:
    """Denoise a micrograph or stack file into ``output_path`` (atomically); return the result.

    An MRC output from an MRC input keeps the input's voxel size, origin, labels and stack
    flag; data are written as ``dtype`` (float32 or float16). Nothing is written on failure.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    if dtype not in OUTPUT_DTYPES:
        raise InputError(output_path, f"output dtype must be float32 or float16, not {dtype}")
    sources = micrographs_of(input_path)
    try:
        results = [
            denoise_array(
                trained, source.whole(), patch_size=patch_size, device=device, on_tile=on_tile
            )
            for source in sources
        ]
    finally:
        sources[0].close()
    stacked = sources[0].entries is not None
    result = np.stack(results) if stacked else results[0]
    result = result.astype(OUTPUT_DTYPES[dtype])
    is_mrc = output_path.name.lower().endswith(MRC_SUFFIXES)
    if is_mrc and input_path.name.lower().endswith(MRC_SUFFIXES):
        write_mrc(output_path, result, header_like=input_path, stack=stacked)
    elif is_mrc:
        write_mrc(output_path, result, stack=stacked)
    else:
        write_array(output_path, result)
    return result


def denoise_files(
    inputs: Sequence[str | Path],
    output: str | Path,
    checkpoint: str | Path,
    *,
    patch_size: int | None = None,
    dtype: str = "float32",
    device: str = "auto",
    progress: ProgressReporter | None = None,
    on_written: Callable[[Path, int, int], None] | None = None,
) -> list[Path]:
    """Denoise files into ``output``: a folder (same names) for several inputs, else a file.

    ``progress`` gets one bar over the files and, per file, one over its tiles (phases
    ``files`` and ``file``); ``on_written(path, done, total)`` is called after each file.
    """
    trained = load_denoiser(checkpoint)
    output = Path(output)
    many = len(inputs) > 1 or output.is_dir()
    targets = [output / Path(path).name if many else output for path in inputs]
    for path, target in zip(inputs, targets, strict=True):
        if Path(path).resolve() == target.resolve():
            raise InputError(target, "is the input file; choose another output")
    reporter = progress or SilentProgress()
    reporter.start("files", len(targets), f"denoising {len(targets)} file(s)")
    for done, (path, target) in enumerate(zip(inputs, targets, strict=True), start=1):
        source = open_source(path)
        shape = tuple(source.shape)
        source.close()
        entries = shape[0] if len(shape) == 3 else 1
        reporter.start("file", entries * tile_count(shape, patch_size), Path(path).name)
        denoise_file(
            path,
            target,
            trained,
            patch_size=patch_size,
            dtype=dtype,
            device=device,
            on_tile=lambda: reporter.advance("file"),
        )
        reporter.finish("file")
        reporter.advance("files")
        if on_written is not None:
            on_written(target, done, len(targets))
    reporter.finish("files")
    return targets
