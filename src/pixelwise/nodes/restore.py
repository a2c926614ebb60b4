"""Learned restorers loading published weights: ``restore``, ``upscale`` and ``dpir``.

The networks are rebuilt from local weight files by :func:`pixelwise.models.detect.
load_restorer`, which detects the architecture from the state dict and caches the network,
so nodes sharing one file (and repeated runs) load it once. Nothing is ever downloaded.

Architectures and the licences of the official code whose key layouts they follow (the
weights keep their authors' licences; check them before commercial use):

* DRUNet, DnCNN, FDnCNN, FFDNet (KAIR, MIT); SCUNet (KAIR, Apache-2.0);
* NAFNet (megvii-research, MIT);
* RRDBNet (Real-ESRGAN x2/x4, BasicSR, BSD-3-Clause), SRVGGNetCompact (Real-ESRGAN, BSD-3);
* SwinIR (JingyunLiang, Apache-2.0): classical, lightweight and real-world SR, grey/colour
  denoising, JPEG artefact removal;
* Restormer (swz30): its code licence allows **non-commercial use only**.

Images run in tiles of ``tile_size`` pixels overlapping by ``overlap``, blended with linear
ramps (:func:`pixelwise.engine.sliding_window_inference`; for upscalers the blend is done on
the low-resolution grid, each output pixel block weighted like its source pixel). Networks
run on ComfyUI's device inside ComfyUI, else on CUDA when present, else the CPU;
``precision="auto"`` uses bfloat16 on CUDA devices that support it, float32 elsewhere.
A grey image given to a colour network is run as three equal channels and returned grey;
a colour image given to a grey network is run channel by channel (both with a note).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from pixelwise.engine import resolve_device, sliding_window_inference
from pixelwise.engine.inference import tile_starts
from pixelwise.errors import InputError
from pixelwise.models.detect import LoadedRestorer, load_restorer
from pixelwise.nodes.base import Kind, Node, NodeParams
from pixelwise.nodes.deblur import extend_consistently
from pixelwise.nodes.registry import register

Precision = Literal["auto", "32", "bf16", "16"]
#: Share of the free memory a run may plan to use.
MEMORY_SHARE = 0.8
#: Rough activation bytes per input pixel and feature channel at the peak of a forward pass.
ACTIVATION_FACTOR = 48


class RestorerParams(NodeParams):
    """Weights file, tiling and precision shared by the learned restorer nodes."""

    weights: Path = Field(
        description="Local weights file (.pth/.pt/.ckpt/.safetensors); the architecture is "
        "detected from its keys."
    )
    tile_size: int = Field(512, ge=32, le=8192, description="Tile side in input pixels.")
    overlap: int = Field(32, ge=0, le=1024, description="Overlap of neighbouring tiles.")
    precision: Precision = Field(
        "auto", description="auto: bfloat16 on CUDA when supported, else float32."
    )


class RestoreParams(RestorerParams):
    noise_level: float = Field(
        15.0,
        ge=0.0,
        le=255.0,
        description="Noise level (in 0..255 units) for networks with a noise-level input.",
    )


class UpscaleParams(RestorerParams):
    scale: int = Field(0, ge=0, le=8, description="Expected scale; 0 accepts the model's own.")


class DPIRParams(RestorerParams):
    noise_level: float = Field(
        2.55, ge=0.0, le=255.0, description="Noise level of the blurred image (0..255 units)."
    )
    iterations: int = Field(8, ge=1, le=100, description="Half-quadratic splitting steps.")
    prior_start: float = Field(
        49.0, gt=0.0, le=255.0, description="Denoiser strength of the first step (0..255)."
    )
    weight: float = Field(0.23, gt=0.0, le=10.0, description="Data-term weight (lambda).")


def torch_device() -> torch.device:
    """ComfyUI's device when running inside ComfyUI, else CUDA when present, else the CPU."""
    try:
        import comfy.model_management as management

        return torch.device(management.get_torch_device())
    except (ImportError, AttributeError, RuntimeError):
        return resolve_device("auto")


def _dtype(precision: Precision, device: torch.device, half_safe: bool) -> torch.dtype:
    if device.type != "cuda" or precision == "32":
        return torch.float32
    if precision == "16" or (precision == "auto" and not torch.cuda.is_bf16_supported()):
        return torch.float16 if half_safe else torch.float32
    return torch.bfloat16


def available_memory(device: torch.device) -> int:
    """Free bytes on ``device`` (CUDA: free device memory; CPU: available physical memory)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def check_memory(
    loaded: LoadedRestorer, shape: tuple[int, int], tile: int, device: torch.device, source: str
) -> None:
    """Refuse a run whose tile or output buffers would not fit, naming a tile size that does."""
    height, width = shape
    widest = max(
        (p.shape[0] for p in loaded.model.parameters() if p.ndim == 4), default=loaded.in_channels
    )
    scale2 = loaded.scale**2
    per_pixel = ACTIVATION_FACTOR * widest * scale2
    buffers = 4 * height * width * (loaded.in_channels * scale2 * 2 + loaded.in_channels + 1)
    side = min(tile, max(height, width))
    budget = MEMORY_SHARE * available_memory(device)
    if buffers + per_pixel * side * side <= budget:
        return
    fitting = int(math.sqrt(max(budget - buffers, 0) / per_pixel)) // 16 * 16
    advice = (
        f"use tile_size {fitting} or less"
        if fitting >= 32
        else "the image itself is too large for this device: crop or downscale it first"
    )
    raise InputError(
        source,
        f"a {height}x{width} image at tile size {tile} needs about "
        f"{(buffers + per_pixel * side * side) / 2**30:.1f} GiB on {device}, "
        f"{budget / 2**30:.1f} GiB is available; {advice}",
    )


def _progress(total: int) -> Callable[[], None]:
    """A tick function advancing ComfyUI's progress bar (a no-op outside ComfyUI)."""
    try:
        from comfy.utils import ProgressBar

        bar = ProgressBar(total)
        return lambda: bar.update(1)
    except (ImportError, AttributeError):
        return lambda: None


def _tile_count(shape: tuple[int, int], tile: int, overlap: int) -> int:
    if max(shape) <= tile:
        return 1
    lap = min(overlap, tile // 4)
    return len(tile_starts(shape[0], tile, lap)) * len(tile_starts(shape[1], tile, lap))


def _match_channels(image: np.ndarray, channels: int, source: str) -> tuple[np.ndarray, str]:
    """The image as the network wants it, and how to convert back: "", "gray", "split"."""
    have = image.shape[2] if image.ndim == 3 else 1
    if have == channels:
        return (image if image.ndim == 3 else image[..., None]), ""
    if have == 1 and channels == 3:
        warnings.warn(
            f"{source}: grey image given to a colour network; run as three equal channels "
            "and returned grey",
            stacklevel=3,
        )
        return np.repeat(image.reshape(*image.shape[:2], 1), 3, axis=2), "gray"
    if channels == 1:
        warnings.warn(
            f"{source}: {have}-channel image given to a grey network; run channel by channel",
            stacklevel=3,
        )
        return image, "split"
    if have == 4 and channels == 3:
        warnings.warn(f"{source}: alpha channel kept as it is", stacklevel=3)
        return image, "alpha"
    raise InputError(source, f"a {channels}-channel network cannot take shape {image.shape}")


def run_restorer(
    loaded: LoadedRestorer,
    image: np.ndarray,
    params: RestorerParams,
    *,
    sigma: float | None = None,
    source: str = "restore",
) -> np.ndarray:
    """Run a loaded network on a float32 HxW or HxWxC image, tiled; see the module docstring.

    ``sigma`` (0..1 units) feeds networks with a noise-level input. Returns float32 of shape
    ``(scale*H, scale*W[, C])`` with the channels of ``image``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from pixelwise.models.restorers import SRVGGNetCompact, SRVGGNetCompactConfig
    >>> net = SRVGGNetCompact(SRVGGNetCompactConfig(in_channels=1, scale=2, features=4, convs=1))
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny_x2.pth"
    >>> torch.save(net.state_dict(), path)
    >>> out = run_restorer(load_restorer(path), np.zeros((5, 7), np.float32),
    ...                    RestorerParams(weights=path))
    >>> out.shape
    (10, 14)
    """
    prepared, back = _match_channels(image, loaded.in_channels, source)
    if back == "split":
        channels = [
            run_restorer(
                loaded, np.ascontiguousarray(image[..., c]), params, sigma=sigma, source=source
            )
            for c in range(image.shape[2])
        ]
        return np.stack(channels, axis=-1)
    if back == "alpha":
        rgb = run_restorer(
            loaded, np.ascontiguousarray(image[..., :3]), params, sigma=sigma, source=source
        )
        alpha = image[..., 3:]
        if loaded.scale > 1:
            alpha = np.repeat(np.repeat(alpha, loaded.scale, 0), loaded.scale, 1)
        return np.concatenate([rgb, alpha], axis=-1)
    device = next(loaded.model.parameters()).device
    check_memory(loaded, image.shape[:2], params.tile_size, device, source)
    batch = torch.from_numpy(np.ascontiguousarray(prepared.transpose(2, 0, 1)))[None].to(device)
    output = _tiled(loaded, batch, params, sigma)
    result = output[0].permute(1, 2, 0).float().cpu().numpy()
    if back == "gray":
        return np.ascontiguousarray(result.mean(axis=2))
    return np.ascontiguousarray(result if image.ndim == 3 else result[..., 0])


def _tiled(
    loaded: LoadedRestorer, batch: Tensor, params: RestorerParams, sigma: float | None
) -> Tensor:
    """Tiled, blended prediction of (1, C, H, W) -> (1, C, s*H, s*W) at the chosen precision."""
    device, scale = batch.device, loaded.scale
    dtype = _dtype(params.precision, device, loaded.architecture.half_safe)
    tick = _progress(
        _tile_count((batch.shape[-2], batch.shape[-1]), params.tile_size, params.overlap)
    )

    def predict(x: Tensor) -> Tensor:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            y = loaded.model(x, sigma) if loaded.takes_noise_level else loaded.model(x)
        tick()
        # An upscaler's output, pixel-unshuffled, is aligned with its input tile.
        return F.pixel_unshuffle(y.float(), scale) if scale > 1 else y.float()

    loaded.model.eval()
    output = sliding_window_inference(
        predict,
        batch,
        window=params.tile_size,
        overlap=params.overlap,
        size_multiple=loaded.size_multiple,
    )
    if not isinstance(output, Tensor):  # pragma: no cover - one input, one output
        raise InputError("restore", "the network returned several outputs")
    return F.pixel_shuffle(output, scale) if scale > 1 else output


def _load(params: RestorerParams) -> LoadedRestorer:
    return load_restorer(params.weights, torch_device())


@register
class Restore(Node[RestoreParams]):
    """Denoise, deblur or remove JPEG artefacts with a published network (per its weights).

    ``noise_level`` feeds the networks that take one (DRUNet, FDnCNN, FFDNet); upscaling
    networks belong in ``upscale``. Architectures, with the licence of the official code
    whose key layout they follow (the weights keep their authors' licences):

    - DRUNet, DnCNN, FDnCNN, FFDNet: MIT (KAIR)
    - SCUNet: Apache-2.0 (KAIR)
    - NAFNet: MIT (megvii-research)
    - SwinIR denoising and JPEG models: Apache-2.0 (JingyunLiang)
    - Restormer: NON-COMMERCIAL use only (swz30 Restormer licence)
    """

    name = "restore"
    category = "learned"
    description = (
        "Restore an image with published weights (DRUNet, SCUNet, NAFNet, SwinIR, Restormer "
        "(non-commercial), DnCNN...)."
    )

    def process(self, image: np.ndarray) -> np.ndarray:
        loaded = _load(self.params)
        if loaded.scale != 1:
            raise InputError(
                f"{self.name}.weights",
                f"{loaded.source} is a x{loaded.scale} upscaler; use the 'upscale' node",
            )
        return run_restorer(
            loaded, image, self.params, sigma=self.params.noise_level / 255, source=self.name
        )


@register
class Upscale(Node[UpscaleParams]):
    """Super-resolution with published weights: Real-ESRGAN or SwinIR SR models.

    Tiles are blended on the low-resolution grid, so seams do not show. ``scale`` (when not
    0) must be the model's own: a network has exactly one scale. Architectures, with the
    licence of the official code (the weights keep their authors' licences):

    - RRDBNet x1/x2/x4 (Real-ESRGAN, ESRGAN): BSD-3-Clause (BasicSR)
    - SRVGGNetCompact (realesr-general, animevideo): BSD-3-Clause (Real-ESRGAN)
    - SwinIR classical, lightweight and real-world SR x2/x3/x4/x8: Apache-2.0 (JingyunLiang)
    """

    name = "upscale"
    category = "learned"
    description = "Upscale x2/x4 with published weights (Real-ESRGAN RRDBNet/Compact, SwinIR)."

    def process(self, image: np.ndarray) -> np.ndarray:
        loaded = _load(self.params)
        if self.params.scale not in (0, loaded.scale):
            raise InputError(
                f"{self.name}.scale",
                f"{loaded.source} upscales x{loaded.scale} only, not x{self.params.scale}; "
                f"set scale to {loaded.scale} (or 0), or use a x{self.params.scale} model",
            )
        return run_restorer(loaded, image, self.params, source=self.name)


def psf_to_otf(kernel: Tensor, shape: tuple[int, int]) -> Tensor:
    """FFT of ``kernel`` zero-padded to ``shape`` with its centre moved to the origin."""
    padded = torch.zeros(shape, dtype=kernel.dtype, device=kernel.device)
    kh, kw = kernel.shape
    padded[:kh, :kw] = kernel
    padded = torch.roll(padded, shifts=(-(kh // 2), -(kw // 2)), dims=(0, 1))
    return torch.fft.fft2(padded)


def dpir(
    loaded: LoadedRestorer, image: np.ndarray, kernel: np.ndarray, params: DPIRParams
) -> np.ndarray:
    """Deblur with half-quadratic splitting and a DRUNet prior (Zhang et al., 2021, DPIR).

    Alternates a closed-form data step (FFT, circular blur model) with the denoiser at noise
    levels falling log-uniformly from ``prior_start`` to the image's ``noise_level``;
    ``rho_k = weight * sigma**2 / sigma_k**2`` as in the paper. The image is first extended
    past its borders consistently with a circular blur
    (:func:`pixelwise.nodes.deblur.extend_consistently`, as the deconvolution nodes do), so
    the circular model holds and no ringing enters from the edges. ``image`` is float32 HxW
    or HxWxC, ``kernel`` a unit-sum float32 PSF; returns the image's shape.
    """
    if not loaded.takes_noise_level:
        raise InputError(
            "dpir.weights", f"{loaded.source} has no noise-level input; DPIR needs DRUNet"
        )
    prepared, back = _match_channels(image, loaded.in_channels, "dpir")
    if back == "split":
        return np.stack(
            [
                dpir(loaded, np.ascontiguousarray(image[..., c]), kernel, params)
                for c in range(image.shape[2])
            ],
            axis=-1,
        )
    device = next(loaded.model.parameters()).device
    extended = [extend_consistently(prepared[..., c], kernel) for c in range(prepared.shape[2])]
    rows, cols = extended[0][1]
    y = torch.from_numpy(np.stack([e for e, _ in extended]).astype(np.float32))[None].to(device)
    otf = psf_to_otf(torch.from_numpy(kernel).to(device), (y.shape[-2], y.shape[-1]))
    otf_y = otf.conj() * torch.fft.fft2(y)
    otf_2 = otf.abs() ** 2
    sigma = max(params.noise_level / 255, 0.255 / 255)
    sigmas = np.logspace(np.log10(params.prior_start / 255), np.log10(sigma), params.iterations)
    x = y
    for level in sigmas:
        rho = params.weight * sigma**2 / level**2
        x = torch.fft.ifft2((otf_y + rho * torch.fft.fft2(x)) / (otf_2 + rho)).real
        x = _tiled(loaded, x.float(), params, float(level))
    result = x[0, :, rows, cols].permute(1, 2, 0).cpu().numpy()
    if back == "gray":
        return np.ascontiguousarray(result.mean(axis=2))
    return np.ascontiguousarray(result if image.ndim == 3 else result[..., 0])


@register
class DPIR(Node[DPIRParams]):
    """Plug-and-play deblurring (DPIR): half-quadratic splitting with a DRUNet denoiser prior.

    Wire a PSF node (``psf_gaussian``, ``psf_motion``, ``psf_disk``) to ``kernel`` and give a
    DRUNet weights file (KAIR ``drunet_color.pth`` / ``drunet_gray.pth``).
    """

    name = "dpir"
    category = "learned"
    description = "DPIR deblurring: half-quadratic splitting with a DRUNet denoiser prior."
    inputs: ClassVar[dict[str, Kind]] = {"image": Kind.IMAGE, "kernel": Kind.KERNEL}

    def process(self, image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        return dpir(_load(self.params), image, kernel, self.params)


__all__ = ["DPIR", "Restore", "Upscale", "dpir", "run_restorer", "torch_device"]
