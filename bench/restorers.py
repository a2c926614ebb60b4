"""Parameters, time, peak memory and PSNR of the published-weights restorers, per image size.

Every architecture of :mod:`pixelwise.models.detect` is built in its official release size
(random weights: speed and memory do not depend on the values) and run through
:func:`pixelwise.nodes.restore.run_restorer`, the path the ``restore``/``upscale`` nodes
take (tiles of ``--tile`` pixels, blended), on a 256x256 and a 512x512 image, on the CPU
(one torch thread; seconds are CPU seconds, ``time.process_time``, so that a shared machine
does not distort them) and on CUDA when present (wall seconds after a warm-up run,
synchronised). Each row runs in a fresh process; peak memory is the growth of the resident
set over the run (CPU: ``VmHWM`` after resetting it, minus ``VmRSS`` before) or
``torch.cuda.max_memory_allocated`` (CUDA).

PSNR needs real weights, which are never downloaded: give local files through environment
variables ``PIXELWISE_WEIGHTS_<ARCH>`` (``DRUNET``, ``SCUNET``, ``DNCNN``, ``FFDNET``,
``NAFNET``, ``RRDBNET``, ``SRVGG_COMPACT``, ``SWINIR``, ``RESTORMER``). A given file adds a
row after the random network's (named after the file, timed too) and is scored on the row's
image as the clean reference: denoisers on Gaussian noise of ``PIXELWISE_BENCH_NOISE``
(default 25, in 0..255; noise-level networks are told it), upscalers on the image
downscaled by their scale (anti-aliased). Rows without a file print ``-`` for PSNR.

Usage::

    .venv/bin/python bench/restorers.py [--sizes 256 512] [--arch swinir ...] [--tile 256]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel
from skimage import data, transform

from pixelwise.metrics import psnr
from pixelwise.models import build_model
from pixelwise.models.dncnn import DnCNNConfig
from pixelwise.models.restorers import (
    DRUNetConfig,
    FFDNetConfig,
    NAFNetConfig,
    RestormerConfig,
    RRDBNetConfig,
    SRVGGNetCompactConfig,
    SwinIRConfig,
)
from pixelwise.models.scunet import SCUNetConfig
from pixelwise.models.weights import CONFIG_KEY

#: Row name -> (environment key, official configuration of a published model).
ROWS: dict[str, tuple[str, BaseModel]] = {
    "drunet (color)": ("DRUNET", DRUNetConfig()),
    "scunet (color)": ("SCUNET", SCUNetConfig(in_channels=3)),
    "dncnn (gray, 17)": ("DNCNN", DnCNNConfig()),
    "ffdnet (gray)": ("FFDNET", FFDNetConfig()),
    "nafnet (SIDD w32)": ("NAFNET", NAFNetConfig()),
    "rrdbnet (x4plus)": ("RRDBNET", RRDBNetConfig()),
    "srvgg (general-x4v3)": ("SRVGG_COMPACT", SRVGGNetCompactConfig(convs=32)),
    "swinir (classical x2, M)": (
        "SWINIR",
        SwinIRConfig(scale=2, upsampler="pixelshuffle", img_size=64),
    ),
    "swinir (lightweight x4)": (
        "SWINIR",
        SwinIRConfig(
            scale=4,
            upsampler="pixelshuffledirect",
            embed_dim=60,
            depths=(6,) * 4,
            heads=(6,) * 4,
            img_size=64,
        ),
    ),
    "swinir (color denoise, M)": ("SWINIR", SwinIRConfig()),
    "restormer": ("RESTORMER", RestormerConfig()),
}


def clean_image(size: int, channels: int) -> np.ndarray:
    """Astronaut (colour) or camera (grey), 512x512 natively, resized to ``size``."""
    image = data.astronaut() if channels == 3 else data.camera()
    image = (image / 255).astype(np.float32)
    if size != image.shape[0]:
        image = transform.resize(image, (size, size), anti_aliasing=True).astype(np.float32)
    return image


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def measure(row: str, size: int, device_name: str, tile: int, given: bool) -> dict[str, Any]:
    """One row, run in its own process (``given``: with the file of its environment variable)."""
    from pixelwise.models.detect import build_restorer, load_restorer
    from pixelwise.nodes.restore import RestorerParams, run_restorer

    torch.set_num_threads(1)
    device = torch.device(device_name)
    key, config = ROWS[row]
    weights = os.environ.get(f"PIXELWISE_WEIGHTS_{key}") if given else None
    if weights:
        loaded = load_restorer(weights, device)
    else:
        torch.manual_seed(0)
        metadata = {CONFIG_KEY: config.model_dump_json()}
        loaded = build_restorer(build_model(config).state_dict(), f"random {row}", metadata)
        loaded.model.to(device)
    parameters = sum(p.numel() for p in loaded.model.parameters())
    params = RestorerParams(weights=Path(weights or "random"), tile_size=tile, precision="32")
    noise = float(os.environ.get("PIXELWISE_BENCH_NOISE", "25"))
    sigma = noise / 255 if loaded.takes_noise_level else None
    image = np.random.default_rng(0).random(
        (size, size, loaded.in_channels) if loaded.in_channels > 1 else (size, size),
        dtype=np.float32,
    )
    with torch.no_grad():
        if device.type == "cuda":
            run_restorer(loaded, image, params, sigma=sigma)
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            run_restorer(loaded, image, params, sigma=sigma)
            torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            peak = torch.cuda.max_memory_allocated() / 2**20
        else:
            before = _rss_kib("VmRSS:")
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to VmRSS
            start = time.process_time()
            run_restorer(loaded, image, params, sigma=sigma)
            seconds = time.process_time() - start
            peak = (_rss_kib("VmHWM:") - before) / 1024
        score = "-"
        if weights:
            score = f"{quality(loaded, size, params, noise):.2f}"
    return {
        "row": row if not weights else f"{row} [{Path(weights).name}]",
        "size": size,
        "device": device.type,
        "parameters": parameters,
        "seconds": seconds,
        "peak_mib": peak,
        "psnr": score,
    }


def quality(loaded: Any, size: int, params: Any, noise: float) -> float:
    """PSNR of the given weights on the row's image: see the module docstring."""
    from pixelwise.nodes.restore import run_restorer

    clean = clean_image(size, loaded.in_channels)
    if loaded.scale > 1:
        low = transform.resize(
            clean, (size // loaded.scale,) * 2 + clean.shape[2:], anti_aliasing=True
        ).astype(np.float32)
        restored = run_restorer(loaded, low, params)
    else:
        rng = np.random.default_rng(1)
        noisy = (clean + rng.normal(0, noise / 255, clean.shape)).astype(np.float32)
        sigma = noise / 255 if loaded.takes_noise_level else None
        restored = run_restorer(loaded, noisy, params, sigma=sigma)
    return float(psnr(torch.from_numpy(np.clip(restored, 0, 1)), torch.from_numpy(clean), 1.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--arch", nargs="+", default=None, help="row-name prefixes to run")
    parser.add_argument("--tile", type=int, default=256, help="tile side (CPU memory: 256)")
    args = parser.parse_args()
    rows = [r for r in ROWS if args.arch is None or any(r.startswith(a) for a in args.arch)]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"tile {args.tile}; CPU: 1 thread, CPU seconds; CUDA: wall seconds, float32")
    header = f"{'architecture':<44} {'device':<6} {'size':>5} {'params':>11} "
    print(header + f"{'s/image':>9} {'peak MiB':>9} {'PSNR dB':>8}")
    context = multiprocessing.get_context("spawn")
    jobs = [
        (row, size, device, given)
        for size in args.sizes
        for device in devices
        for row in rows
        for given in (False, True)
        if not given or os.environ.get(f"PIXELWISE_WEIGHTS_{ROWS[row][0]}")
    ]
    for row, size, device, given in jobs:
        with ProcessPoolExecutor(1, mp_context=context) as pool:
            result = pool.submit(measure, row, size, device, args.tile, given).result()
        print(
            f"{result['row']:<44} {result['device']:<6} {result['size']:>5} "
            f"{result['parameters']:>11,} {result['seconds']:>9.2f} "
            f"{result['peak_mib']:>9.0f} {result['psnr']:>8}",
            flush=True,
        )


if __name__ == "__main__":
    main()
