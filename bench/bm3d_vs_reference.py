"""pixelwise's torch BM3D and Richardson–Lucy beside the reference implementations.

Rows: BM3D (both stages) of ``skimage.data`` camera (grey), astronaut and coffee (colour, and
their grey versions), plus seeded white Gaussian noise of sigma 10, 25 and 50 (/255), by
:func:`pixelwise.restoration.bm3d` / ``bm3d_rgb`` and by the non-commercial ``bm3d`` package
(``bm3d.bm3d`` / ``bm3d.bm3d_rgb``) on the same image; then BM3D deblurring of centred camera
crops blurred circularly (Gaussian PSF sigma 1.5 and motion 9 px at 30 degrees, then white
noise 0.01) by :func:`pixelwise.restoration.bm3d_deblur` and ``bm3d.bm3d_deblurring``; then
Richardson–Lucy (30 iterations) of the blurred camera by the torch version and
:func:`skimage.restoration.richardson_lucy`. The ``bm3d`` package (non-commercial licence) is
the ``reference`` extra: ``pip install -e '.[reference]'``.

Times are CPU seconds of the process (``time.process_time``, all threads counted, so machine
load inflates them less than wall time) with torch limited to ``--threads``; the load average
is printed. ``--size`` crops the images to a centred square (default 256; 0 = full size).
Where CUDA is available a "cuda s" column gives the torch side on the GPU (wall seconds after
a warm-up call, synchronised); ``--device cpu`` leaves it out. Run from the repository root::

    python bench/bm3d_vs_reference.py --size 256
    python bench/bm3d_vs_reference.py --size 0 --sigmas 25 --images camera
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from scipy import ndimage
from skimage import data
from skimage.color import rgb2gray
from skimage.restoration import richardson_lucy as skimage_richardson_lucy

from pixelwise.nodes.psf import gaussian_psf, motion_psf
from pixelwise.restoration import bm3d, bm3d_deblur, bm3d_rgb, richardson_lucy

IMAGES = {"camera": data.camera, "astronaut": data.astronaut, "coffee": data.coffee}


def psnr(reference: np.ndarray, image: np.ndarray) -> float:
    """PSNR in dB for data range 1, float64, unclipped."""
    mse = float(np.mean((np.asarray(image, np.float64) - reference) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def cpu_seconds(call: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    """Run ``call``; return its result and the CPU seconds the process spent."""
    start = time.process_time()
    result = call()
    return result, time.process_time() - start


def gpu_seconds(call: Callable[[], np.ndarray]) -> float:
    """Wall seconds of ``call`` after one warm-up call, CUDA synchronised."""
    call()
    torch.cuda.synchronize()
    start = time.perf_counter()
    call()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def crop(image: np.ndarray, size: int) -> np.ndarray:
    if size <= 0:
        return image
    top, left = (max(0, (side - size) // 2) for side in image.shape[:2])
    return image[top : top + size, left : left + size]


def bm3d_table(args: argparse.Namespace, console: Console) -> None:
    import bm3d as reference  # non-commercial licence: the benchmark reference only

    table = Table(title=f"BM3D, both stages ({args.size or 'full'} px crops)")
    for column in (
        "image",
        "σ·255",
        "noisy dB",
        "ours dB",
        "bm3d dB",
        "Δ dB",
        "ours s",
        "bm3d s",
        "speed-up",
    ):
        table.add_column(column, justify="right")
    if args.device == "cuda":
        table.add_column("cuda s", justify="right")
    rng = np.random.default_rng(0)
    for name in args.images:
        original = IMAGES[name]().astype(np.float64) / 255
        variants = {f"{name} grey": rgb2gray(original) if original.ndim == 3 else original}
        if original.ndim == 3:
            variants[f"{name} rgb"] = original
        for label, clean in variants.items():
            clean = crop(clean, args.size)
            colour = clean.ndim == 3
            for sigma_255 in args.sigmas:
                sigma = sigma_255 / 255
                noisy = (clean + rng.normal(0, sigma, clean.shape)).astype(np.float32)
                ours_call = bm3d_rgb if colour else bm3d
                theirs_call = reference.bm3d_rgb if colour else reference.bm3d
                ours, ours_s = cpu_seconds(partial(ours_call, noisy, sigma))
                theirs, theirs_s = cpu_seconds(partial(theirs_call, noisy, sigma_psd=sigma))
                row = [
                    label,
                    str(sigma_255),
                    f"{psnr(clean, noisy):.2f}",
                    f"{psnr(clean, ours):.2f}",
                    f"{psnr(clean, theirs):.2f}",
                    f"{psnr(clean, ours) - psnr(clean, theirs):+.2f}",
                    f"{ours_s:.2f}",
                    f"{theirs_s:.2f}",
                    f"{theirs_s / ours_s:.1f}x",
                ]
                if args.device == "cuda":
                    gpu = gpu_seconds(partial(ours_call, noisy, sigma, device="cuda"))
                    row.append(f"{gpu:.3f}")
                table.add_row(*row)
                console.print(" | ".join(row), highlight=False)
    console.print(table)


def deblur_table(args: argparse.Namespace, console: Console) -> None:
    import bm3d as reference  # non-commercial licence: the benchmark reference only

    if not hasattr(np, "trapz"):  # bm4d 4.2.5 (its coloured-noise backend) needs the old name
        np.trapz = np.trapezoid  # type: ignore[attr-defined]  # noqa: NPY201
    table = Table(title="BM3D deblurring, wrap-blurred camera crops, noise 0.01")
    columns = ["size", "PSF", "blurred dB", "ours dB", "bm3d dB", "Δ dB", "ours s", "bm3d s"]
    for column in (*columns, "speed-up"):
        table.add_column(column, justify="right")
    if args.device == "cuda":
        table.add_column("cuda s", justify="right")
    camera = data.camera().astype(np.float64) / 255
    psfs = {"gaussian 1.5": gaussian_psf(1.5), "motion 9/30°": motion_psf(9, 30)}
    for size in args.deblur_sizes:
        sharp = crop(camera, size)
        for label, psf in psfs.items():
            psf = psf.astype(np.float64)
            noise = np.random.default_rng(0).normal(0, 0.01, sharp.shape)
            blurred = ndimage.convolve(sharp, psf, mode="wrap") + noise
            ours, ours_s = cpu_seconds(partial(bm3d_deblur, blurred, 0.01, psf))
            theirs, theirs_s = cpu_seconds(
                partial(reference.bm3d_deblurring, blurred[..., None], 0.01, psf)
            )
            row = [
                f"{sharp.shape[0]}²",
                label,
                f"{psnr(sharp, blurred):.2f}",
                f"{psnr(sharp, ours):.2f}",
                f"{psnr(sharp, theirs):.2f}",
                f"{psnr(sharp, ours) - psnr(sharp, theirs):+.2f}",
                f"{ours_s:.2f}",
                f"{theirs_s:.2f}",
                f"{theirs_s / ours_s:.1f}x",
            ]
            if args.device == "cuda":
                gpu = gpu_seconds(partial(bm3d_deblur, blurred, 0.01, psf, device="cuda"))
                row.append(f"{gpu:.3f}")
            table.add_row(*row)
            console.print(" | ".join(row), highlight=False)
    console.print(table)


def richardson_lucy_table(args: argparse.Namespace, console: Console) -> None:
    table = Table(title="Richardson–Lucy, 30 iterations, Gaussian PSF sigma 2")
    for column in ("size", "max |Δ|", "ours s", "skimage s", "speed-up"):
        table.add_column(column, justify="right")
    if args.device == "cuda":
        table.add_column("cuda s (float32)", justify="right")
    psf = gaussian_psf(2.0).astype(np.float64)
    camera = data.camera().astype(np.float64) / 255
    for size in (256, 512):
        image = ndimage.zoom(camera, size / 512, order=1) if size != 512 else camera
        blurred = np.clip(ndimage.convolve(image, psf, mode="reflect"), 0, None)
        ours, ours_s = cpu_seconds(partial(richardson_lucy, blurred, psf, 30))
        theirs, theirs_s = cpu_seconds(
            partial(skimage_richardson_lucy, blurred, psf, num_iter=30, clip=False)
        )
        row = [
            f"{size}²",
            f"{np.abs(ours - theirs).max():.1e}",
            f"{ours_s:.3f}",
            f"{theirs_s:.3f}",
            f"{theirs_s / ours_s:.1f}x",
        ]
        if args.device == "cuda":
            gpu = gpu_seconds(
                partial(richardson_lucy, blurred, psf, 30, device="cuda", dtype=torch.float32)
            )
            row.append(f"{gpu:.4f}")
        table.add_row(*row)
    console.print(table)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256, help="centred crop side; 0 = full")
    parser.add_argument("--sigmas", type=int, nargs="+", default=[10, 25, 50])
    parser.add_argument("--images", nargs="+", default=list(IMAGES), choices=list(IMAGES))
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--deblur-sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="'cuda' (the default where available) adds GPU timings of the torch side",
    )
    parser.add_argument("--skip-bm3d", action="store_true", help="skip the denoising table")
    parser.add_argument("--skip-deblur", action="store_true", help="skip the deblurring table")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    console = Console()
    console.print(
        f"load average {os.getloadavg()}, {os.cpu_count()} CPUs, torch "
        f"{torch.__version__}, {args.threads} torch thread(s)"
    )
    if not args.skip_bm3d:
        bm3d_table(args, console)
    if not args.skip_deblur:
        deblur_table(args, console)
    richardson_lucy_table(args, console)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
