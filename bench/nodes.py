"""Restoration-studio nodes against the library calls they wrap, on 512x512 images.

For each node the table gives the library function the node's ``process`` calls, the PSNR
gain (restoring nodes only), the median wall time of the node and of the direct library call
with the *same* parameters, the PSNR of the direct call (equal to ours when the wrapper
computes the same thing; the largest absolute difference is shown too) and the wrapper
overhead ``(ours - direct) / direct``. Test images:

* denoisers: ``skimage.data.camera()`` as float in [0, 1] plus white Gaussian noise of sigma
  25/255 (seeded); ``bm3d_color`` gets ``skimage.data.astronaut()`` with the same noise;
* deblurrers: the camera image convolved (``scipy.ndimage.convolve``, reflecting borders) with
  a Gaussian PSF (sigma 2) or a motion PSF (length 9, angle 30 degrees), both from
  :mod:`pixelwise.nodes.psf`, plus white Gaussian noise of sigma 0.01;
* other nodes: the clean camera image (and astronaut for colour variants); timing only.

Both sides get the same float32 C-contiguous array (what a node's ``process`` receives), so
the overhead covers exactly the wrapper: the base class's edge conversion of inputs and
outputs, parameter handling, input checks and channel dispatch. Nodes whose noise level is
estimated when not given get the true sigma on both sides, so no estimation is timed. Where a
node does extra work on purpose (boundary extension before deconvolution, cycle spinning,
clipping and Lab conversion around tone curves), the direct side repeats that work with the
same library calls; the note column says so. Nodes are built once, outside the timing.

Each side runs once untimed (its output gives the PSNR), then ``--repeats`` rounds run the
node, the direct call, and the direct call wrapped in the base class's conversions (the
``conv`` column), reversing the order every other round; medians are reported (minima with
``--statistic min``, the better estimate of the bare cost on a loaded machine). A slow case
(first call over a second: BM3D, Richardson-Lucy under load) gets ``--slow-repeats`` rounds
of the first two, the first calls counting as one. The ``±`` column (half the interquartile
range of the per-round overheads) shows how far the timing noise of the run goes; on a
shared machine it can exceed the 5% the overheads are judged against. ``wrapper ms`` times
the node with its ``process`` replaced by a pass-through: what the base class costs around
the library call. Rows over 5% get a footnote with the cause found by profiling. Run from the
repository root (the whole table takes 8-12 minutes on 2 cores, mostly BM3D)::

    python bench/nodes.py
    python bench/nodes.py --nodes gaussian bm3d "wiener [motion]" --repeats 21
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import cv2
import numpy as np
import pywt
import scipy
import skimage
import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from scipy import ndimage
from skimage import data as skdata
from skimage import exposure, filters, morphology, restoration, transform
from skimage.color import lab2rgb, rgb2lab

from pixelwise.nodes import Node, create_node
from pixelwise.nodes.base import as_image, as_kernel
from pixelwise.nodes.deblur import extend_consistently
from pixelwise.nodes.psf import gaussian_psf, motion_psf
from pixelwise.restoration import bm3d, bm3d_deblur, bm3d_rgb

NOISE_SIGMA = 25 / 255
"""Noise standard deviation of the denoising inputs."""
BLUR_NOISE_SIGMA = 0.01
"""Noise standard deviation added after blurring for the deblurring inputs."""
SEED = 0
"""Seed of the noise generator."""
SLOW_SECONDS = 1.0
"""A case whose untimed first call takes longer than this gets ``--slow-repeats`` repeats."""
OVERHEAD_LIMIT = 0.05
"""Overhead above which a row gets a footnote."""

Images = tuple[np.ndarray, ...]
Statistic = Literal["median", "min"]
DirectCall = Callable[[Any, Images], np.ndarray]


# --------------------------------------------------------------------------------------------
# Helpers: PSNR and timing
# --------------------------------------------------------------------------------------------


def psnr(reference: np.ndarray, image: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for data range 1 (no clipping), in float64."""
    error = np.asarray(image, dtype=np.float64) - np.asarray(reference, dtype=np.float64)
    mse = float(np.mean(np.square(error)))
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def elapsed(call: Callable[[], object]) -> float:
    """Wall-clock seconds one call of ``call`` takes."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def interleaved_times(calls: Sequence[Callable[[], object]], rounds: int) -> list[list[float]]:
    """Seconds of each of ``calls`` over ``rounds`` rounds that run every call once.

    The order is reversed every other round, so that a change in machine load during the run
    affects all calls alike. Returns one list of times per call.
    """
    times: list[list[float]] = [[] for _ in calls]
    for round_index in range(rounds):
        order = range(len(calls)) if round_index % 2 == 0 else reversed(range(len(calls)))
        for index in order:
            times[index].append(elapsed(calls[index]))
    return times


def spread(values: Sequence[float]) -> float | None:
    """Half the interquartile range of ``values`` (None for fewer than two values)."""
    if len(values) < 2:
        return None
    lower, _, upper = statistics.quantiles(values, n=4, method="inclusive")
    return (upper - lower) / 2


def timed_result(call: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    """Run ``call`` once; return its result and the seconds it took."""
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


# --------------------------------------------------------------------------------------------
# Test images
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestImages:
    """The clean, noisy and blurred float32 test images and the PSFs."""

    camera: np.ndarray
    camera_noisy: np.ndarray
    astronaut: np.ndarray
    astronaut_noisy: np.ndarray
    psfs: dict[str, np.ndarray]
    blurred: dict[str, np.ndarray]


def _float32(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image, dtype=np.float32)


def make_test_images() -> TestImages:
    """Build the test images; every random draw comes from one generator seeded with SEED."""
    rng = np.random.default_rng(SEED)
    camera = skimage.img_as_float(skdata.camera())
    astronaut = skimage.img_as_float(skdata.astronaut())
    psfs = {"gauss": gaussian_psf(2.0), "motion": motion_psf(9.0, 30.0)}
    blurred = {
        name: _float32(
            ndimage.convolve(camera, psf.astype(np.float64), mode="reflect")
            + rng.normal(0.0, BLUR_NOISE_SIGMA, camera.shape)
        )
        for name, psf in psfs.items()
    }
    return TestImages(
        camera=_float32(camera),
        camera_noisy=_float32(camera + rng.normal(0.0, NOISE_SIGMA, camera.shape)),
        astronaut=_float32(astronaut),
        astronaut_noisy=_float32(astronaut + rng.normal(0.0, NOISE_SIGMA, astronaut.shape)),
        psfs=psfs,
        blurred=blurred,
    )


# --------------------------------------------------------------------------------------------
# Direct library calls, with the node's parameters (read from its validated ``params``)
# --------------------------------------------------------------------------------------------


def direct_gaussian(p: Any, images: Images) -> np.ndarray:
    return filters.gaussian(images[0], sigma=p.sigma, truncate=p.truncate, mode="nearest")


def direct_median(p: Any, images: Images) -> np.ndarray:
    footprint = morphology.disk(p.radius).astype(bool)
    return ndimage.median_filter(images[0], footprint=footprint, mode="nearest")


def direct_bilateral(p: Any, images: Images) -> np.ndarray:
    return cv2.bilateralFilter(
        images[0],
        d=-1,
        sigmaColor=p.sigma_color,
        sigmaSpace=p.sigma_spatial,
        borderType=cv2.BORDER_REFLECT,
    )


def direct_nl_means(p: Any, images: Images) -> np.ndarray:
    return restoration.denoise_nl_means(
        images[0],
        patch_size=p.patch_size,
        patch_distance=p.patch_distance,
        h=0.6 * p.sigma,
        sigma=p.sigma,
        fast_mode=True,
    )


def direct_tv_chambolle(p: Any, images: Images) -> np.ndarray:
    return restoration.denoise_tv_chambolle(
        images[0], weight=p.weight, eps=p.eps, max_num_iter=p.max_num_iter
    )


def direct_tv_bregman(p: Any, images: Images) -> np.ndarray:
    return restoration.denoise_tv_bregman(
        images[0],
        weight=p.weight,
        max_num_iter=p.max_num_iter,
        eps=p.eps,
        isotropic=p.isotropic,
    )


def direct_wavelet(p: Any, images: Images) -> np.ndarray:
    return restoration.cycle_spin(
        images[0],
        restoration.denoise_wavelet,
        max_shifts=p.max_shifts,
        func_kw={
            "sigma": p.sigma,
            "wavelet": p.wavelet,
            "mode": p.mode,
            "wavelet_levels": p.wavelet_levels,
            "method": p.method,
            "rescale_sigma": True,
        },
        workers=1,
    )


def direct_bm3d(p: Any, images: Images) -> np.ndarray:
    return bm3d(images[0], p.sigma, stage=p.stage, device="cpu")


def direct_bm3d_color(p: Any, images: Images) -> np.ndarray:
    return bm3d_rgb(images[0], p.sigma, colourspace=p.colorspace, device="cpu")


def direct_richardson_lucy(p: Any, images: Images) -> np.ndarray:
    extended, inside = extend_consistently(*images)
    restored = restoration.richardson_lucy(
        np.clip(extended, 0, None), images[1], num_iter=p.iterations, clip=False
    )
    return restored[inside]


def direct_wiener(p: Any, images: Images) -> np.ndarray:
    extended, inside = extend_consistently(*images)
    return restoration.wiener(extended, images[1], p.balance, clip=False)[inside]


def direct_unsupervised_wiener(p: Any, images: Images) -> np.ndarray:
    extended, inside = extend_consistently(*images)
    restored, _ = restoration.unsupervised_wiener(extended, images[1], clip=False, rng=p.seed)
    return restored[inside]


def direct_bm3d_deblur(p: Any, images: Images) -> np.ndarray:
    extended, inside = extend_consistently(*images)
    return bm3d_deblur(extended, p.sigma, images[1], device="cpu")[inside]


def direct_unsharp_mask(p: Any, images: Images) -> np.ndarray:
    return filters.unsharp_mask(images[0], radius=p.radius, amount=p.amount, preserve_range=True)


def on_lightness(image: np.ndarray, curve: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Clip to [0, 1], then apply ``curve`` to a gray image or to the Lab L/100 of RGB."""
    clipped = np.clip(image, 0.0, 1.0)
    if clipped.ndim == 2:
        return curve(clipped)
    lab = rgb2lab(clipped)
    lab[..., 0] = curve(lab[..., 0] / 100.0) * 100.0
    return lab2rgb(lab)


def direct_clahe(p: Any, images: Images) -> np.ndarray:
    return on_lightness(
        images[0],
        lambda lightness: exposure.equalize_adapthist(
            lightness, kernel_size=p.kernel_size, clip_limit=p.clip_limit
        ),
    )


def direct_equalize_histogram(p: Any, images: Images) -> np.ndarray:
    return on_lightness(images[0], lambda lightness: exposure.equalize_hist(lightness, p.nbins))


def direct_resize(p: Any, images: Images) -> np.ndarray:
    rows, cols = images[0].shape[:2]
    size = (max(1, round(rows * p.scale)), max(1, round(cols * p.scale)))
    return transform.resize(
        images[0],
        size + images[0].shape[2:],
        order=p.order,
        anti_aliasing=p.anti_aliasing,
        preserve_range=True,
    )


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One table row: a node with parameters, its inputs and the equivalent direct call."""

    label: str
    node: str
    params: dict[str, Any]
    library: str
    inputs: Images
    direct: DirectCall
    reference: np.ndarray | None = None
    """Clean image for PSNR; None for nodes that do not restore."""
    note: str = ""


_EXTENSION_NOTE = "both: extension (edge pad, 5x wiener + wrap re-blur), crop"


def build_cases(images: TestImages) -> list[Case]:
    """Every benchmarked row, in table order."""
    gray, noisy = images.camera, images.camera_noisy
    sigma = {"sigma": NOISE_SIGMA}
    # fmt: off
    cases = [
        Case("gaussian", "gaussian", {}, "skimage.filters.gaussian", (noisy,),
             direct_gaussian, gray),
        Case("median", "median", {}, "scipy.ndimage.median_filter", (noisy,),
             direct_median, gray, "disk(2) footprint built per call on both sides"),
        Case("bilateral", "bilateral", {}, "cv2.bilateralFilter", (noisy,),
             direct_bilateral, gray),
        Case("nl_means", "nl_means", sigma, "skimage.restoration.denoise_nl_means", (noisy,),
             direct_nl_means, gray, "sigma given (no estimation); h = 0.6 sigma"),
        Case("tv_chambolle", "tv_chambolle", {}, "skimage.restoration.denoise_tv_chambolle",
             (noisy,), direct_tv_chambolle, gray),
        Case("tv_bregman", "tv_bregman", {}, "skimage.restoration.denoise_tv_bregman",
             (noisy,), direct_tv_bregman, gray),
        Case("wavelet", "wavelet", sigma,
             "skimage.restoration.cycle_spin(denoise_wavelet)", (noisy,), direct_wavelet, gray,
             "sigma given; both cycle-spin, max_shifts 3 (16 transforms)"),
        Case("bm3d", "bm3d", sigma, "pixelwise.restoration.bm3d", (noisy,), direct_bm3d, gray,
             "sigma given (no estimation)"),
        Case("bm3d_color", "bm3d_color", sigma, "pixelwise.restoration.bm3d_rgb",
             (images.astronaut_noisy,), direct_bm3d_color, images.astronaut,
             "astronaut RGB; sigma given"),
    ]
    deblurrers: list[tuple[str, dict[str, Any], str, DirectCall]] = [
        ("richardson_lucy", {}, "skimage.restoration.richardson_lucy", direct_richardson_lucy),
        ("wiener", {}, "skimage.restoration.wiener", direct_wiener),
        ("unsupervised_wiener", {}, "skimage.restoration.unsupervised_wiener",
         direct_unsupervised_wiener),
        ("bm3d_deblur", {"sigma": BLUR_NOISE_SIGMA}, "pixelwise.restoration.bm3d_deblur",
         direct_bm3d_deblur),
    ]
    for name, params, library, direct in deblurrers:
        for psf_name, psf in images.psfs.items():
            note = _EXTENSION_NOTE + ("; sigma given" if "sigma" in params else "")
            cases.append(
                Case(f"{name} [{psf_name}]", name, params, library,
                     (images.blurred[psf_name], psf), direct, gray, note)
            )
    cases += [
        Case("unsharp_mask", "unsharp_mask", {}, "skimage.filters.unsharp_mask", (gray,),
             direct_unsharp_mask),
        Case("clahe", "clahe", {}, "skimage.exposure.equalize_adapthist", (gray,),
             direct_clahe, None, "both clip to [0, 1] first"),
        Case("clahe [rgb]", "clahe", {}, "skimage.exposure.equalize_adapthist",
             (images.astronaut,), direct_clahe, None,
             "astronaut; both: clip, rgb2lab, CLAHE of L/100, lab2rgb"),
        Case("equalize_histogram", "equalize_histogram", {}, "skimage.exposure.equalize_hist",
             (gray,), direct_equalize_histogram, None, "both clip to [0, 1] first"),
        Case("resize", "resize", {"scale": 0.5}, "skimage.transform.resize", (gray,),
             direct_resize, None, "scale 0.5, order 1, anti-aliasing"),
    ]
    # fmt: on
    return cases


# --------------------------------------------------------------------------------------------
# Measuring and reporting
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """Measurements of one case (times in seconds, one per round)."""

    case: Case
    ours: list[float]
    direct: list[float]
    converted: list[float] | None
    """The direct call wrapped in the base class's conversions (None for slow cases)."""
    hollow_s: float
    """Median time of the node with ``process`` replaced by a pass-through."""
    psnr_in: float | None
    psnr_ours: float | None
    psnr_direct: float | None
    max_difference: float
    statistic: Statistic = "median"
    """How the rounds are summarised: the median, or the minimum (least disturbed by load)."""

    def summary(self, times: list[float]) -> float:
        return min(times) if self.statistic == "min" else statistics.median(times)

    @property
    def ours_s(self) -> float:
        return self.summary(self.ours)

    @property
    def direct_s(self) -> float:
        return self.summary(self.direct)

    @property
    def overhead(self) -> float:
        """``(ours - direct) / direct`` of the summarised times."""
        return (self.ours_s - self.direct_s) / self.direct_s

    @property
    def conversion_overhead(self) -> float | None:
        """Like :attr:`overhead`, for the direct call wrapped in the base-class conversions."""
        if self.converted is None:
            return None
        return (self.summary(self.converted) - self.direct_s) / self.direct_s

    @property
    def overhead_spread(self) -> float | None:
        """Half the interquartile range of the per-round overheads: the timing resolution."""
        pairs = zip(self.ours, self.direct, strict=True)
        return spread([ours / direct - 1 for ours, direct in pairs])


def with_conversions(call: Callable[[Images], np.ndarray], images: Images) -> np.ndarray:
    """``call`` on ``images`` with the base class's edge conversions around it.

    As :meth:`pixelwise.nodes.Node.run` does around ``process``: the image input goes through
    ``as_image`` (a copy), a PSF through ``as_kernel``, and the result through ``as_image``
    without a copy.
    """
    converted = (as_image(images[0]), *(as_kernel(kernel) for kernel in images[1:]))
    return as_image(call(converted), copy=False)


def _pass_through(image: np.ndarray, **_: Any) -> np.ndarray:
    return image


def hollow_node(case: Case) -> Node:
    """The node of ``case`` with its ``process`` replaced by a pass-through of its image.

    Calling it costs what the base class adds around ``process`` when nothing else competes
    for the caches: input conversion, channel checks and dispatch, and output conversion (here
    of an input-sized image).
    """
    node = create_node(case.node, **case.params)
    node.process = _pass_through  # type: ignore[method-assign]
    return node


def measure(case: Case, repeats: int, slow_repeats: int, statistic: Statistic = "median") -> Result:
    """Time the node and the direct call of ``case``; compute PSNRs and their difference.

    Each side runs once first, untimed, for its output. A fast case then runs ``repeats``
    rounds of three calls: the node, the direct call, and the direct call wrapped in the base
    class's conversions. A slow case (first call over SLOW_SECONDS) runs ``slow_repeats``
    rounds of the first two only, its first calls counting as the first round.
    """
    node = create_node(case.node, **case.params)
    ours = partial(node, *case.inputs)
    direct_call = partial(case.direct, node.params)
    direct = partial(direct_call, case.inputs)
    ours_output, ours_first = timed_result(ours)
    direct_output, direct_first = timed_result(direct)
    direct_output = np.asarray(direct_output).reshape(ours_output.shape)
    converted: list[float] | None = None
    if ours_first > SLOW_SECONDS:
        direct_times, ours_times = interleaved_times([direct, ours], slow_repeats - 1)
        ours_times.insert(0, ours_first)
        direct_times.insert(0, direct_first)
    else:
        with_edge = partial(with_conversions, direct_call, case.inputs)
        ours_times, direct_times, converted = interleaved_times([ours, direct, with_edge], repeats)
    hollow = partial(hollow_node(case), *case.inputs)
    hollow_s = statistics.median(elapsed(hollow) for _ in range(max(repeats, 5)))
    reference = case.reference
    return Result(
        case=case,
        ours=ours_times,
        direct=direct_times,
        converted=converted,
        hollow_s=hollow_s,
        psnr_in=None if reference is None else psnr(reference, case.inputs[0]),
        psnr_ours=None if reference is None else psnr(reference, ours_output),
        psnr_direct=None if reference is None else psnr(reference, direct_output),
        max_difference=float(
            np.max(np.abs(ours_output.astype(np.float64) - direct_output.astype(np.float64)))
        ),
        statistic=statistic,
    )


# What profiling found (cProfile of the node call, and the base class's steps timed in place,
# interleaved with the bare library call over 61 rounds).
CAUSES: dict[str, str] = {
    "edge": (
        "both sides make the same library calls (cProfile); the node adds the base class's edge "
        "conversion: pixelwise.nodes.base.as_image scans the input for NaN/Inf (its max and "
        "min), copies it only for nodes that write their input, and scans the output again "
        "unless the node preserves finiteness (gaussian, median, bilateral, unsharp_mask and "
        "resize do). In place, interleaved with the bare call, one scan of a 512x512 float32 "
        "image measured 0.02-0.1 ms, 1-4% of a 2-3 ms library call (it grows with the memory "
        "traffic of other processes); the rest of Node.run is ~10 us."
    ),
    "noise": (
        "cProfile shows the same library calls on both sides, and the conversions ('conv', "
        "'wrapper ms') explain little of it, so the rest is timing noise: other processes "
        "share the 2 CPUs (see the load average and the ± column)."
    ),
}
"""Causes found by profiling, keyed as :func:`_footnote` picks them."""
EXTRA_WORK: dict[str, str] = {
    "clahe": "The node also runs the flat-image guard np.ptp (~0.3 ms).",
}
"""Work a node does beyond the direct call, by node name."""


def _format_ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f}" if seconds < 10.0 else f"{seconds * 1e3:,.0f}"


def _format_db(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


# (header, justify, no_wrap) of the table's columns
_COLUMNS: list[tuple[str, Literal["left", "right"], bool]] = [
    ("node", "left", True),
    ("library call", "left", True),
    ("gain dB", "right", True),
    ("ours dB", "right", True),
    ("direct dB", "right", True),
    ("max|diff|", "right", True),
    ("ours ms", "right", True),
    ("direct ms", "right", True),
    ("n", "right", True),
    ("overhead", "right", True),
    ("±", "right", True),
    ("conv", "right", True),
    ("wrapper ms", "right", True),
    ("note", "left", False),
]


def report(results: Sequence[Result], console: Console, header: str) -> None:
    """Print the table, then a footnote for every row whose overhead exceeds the limit."""
    table = Table(title=escape(header), title_justify="left")
    for column, justify, no_wrap in _COLUMNS:
        table.add_column(column, justify=justify, no_wrap=no_wrap)
    footnotes: list[str] = []
    causes: list[str] = []  # keys into CAUSES, in order of first use
    for result in results:
        case = result.case
        gain = (
            None
            if result.psnr_ours is None or result.psnr_in is None
            else result.psnr_ours - result.psnr_in
        )
        overhead = f"{result.overhead:+.1%}"
        if result.overhead > OVERHEAD_LIMIT:
            text, cause = _footnote(result)
            if cause not in causes:
                causes.append(cause)
            footnotes.append(f"{text} Cause {chr(ord('A') + causes.index(cause))}.")
            overhead += f" ({len(footnotes)})"
        resolution = result.overhead_spread
        conversion = result.conversion_overhead
        cells = [
            case.label,
            case.library,
            "-" if gain is None else f"{gain:+.2f}",
            _format_db(result.psnr_ours),
            _format_db(result.psnr_direct),
            f"{result.max_difference:.0e}",
            _format_ms(result.ours_s),
            _format_ms(result.direct_s),
            str(len(result.ours)),
            overhead,
            "-" if resolution is None else f"{resolution:.1%}",
            "-" if conversion is None else f"{conversion:+.1%}",
            f"{result.hollow_s * 1e3:.2f}",
            case.note,
        ]
        table.add_row(*(escape(cell) for cell in cells))
    console.print(table)
    legend = (
        "gain = PSNR of our output minus that of the input (data range 1); max|diff| = largest "
        "absolute difference between our output and the direct call's; overhead = (ours - "
        f"direct) / direct of the {results[0].statistic} times; ± = half the interquartile "
        "range of the per-round overheads (timing noise); conv = overhead of the direct call "
        "wrapped in the base class's as_image/as_kernel conversions, timed in the same rounds "
        "(fast cases only); wrapper ms = the node called with its process replaced by a "
        "pass-through (base-class conversion and dispatch, in a tight loop)."
    )
    lines = [legend]
    lines += [f"({number}) {text}" for number, text in enumerate(footnotes, start=1)]
    lines += [
        f"Cause {chr(ord('A') + index)}: {CAUSES[cause]}" for index, cause in enumerate(causes)
    ]
    for line in lines:
        console.print(line, markup=False, highlight=False)


def _footnote(result: Result) -> tuple[str, str]:
    """Why a row's overhead exceeds the limit: the footnote text and the key of its cause.

    The cause is the base class's edge conversion when, timed in place, it accounts for at
    least half the limit; otherwise timing noise.
    """
    text = (
        f"{result.case.label}: +{_format_ms(result.ours_s - result.direct_s)} ms per call; "
        f"the hollow wrapper costs {result.hollow_s * 1e3:.2f} ms "
        f"({result.hollow_s / result.direct_s:.1%} of direct)"
    )
    conversion = result.conversion_overhead
    if conversion is not None:
        text += f", the conversions in place {conversion:+.1%}"
    text += "."
    extra = EXTRA_WORK.get(result.case.node)
    if extra:
        text += f" {extra}"
    explained = conversion is not None and conversion >= OVERHEAD_LIMIT / 2
    return text, "edge" if explained else "noise"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11, help="timed rounds (default 11)")
    parser.add_argument(
        "--slow-repeats",
        type=int,
        default=3,
        help=f"timed rounds when one call takes over {SLOW_SECONDS:g} s (default 3)",
    )
    parser.add_argument(
        "--nodes", nargs="+", metavar="NAME", help="node names (or row labels) to run"
    )
    parser.add_argument(
        "--statistic",
        choices=["median", "min"],
        default="median",
        help="summary of the timed rounds; 'min' is the least disturbed by a loaded machine",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.slow_repeats < 1:
        parser.error("--repeats and --slow-repeats must be at least 1")

    cases = build_cases(make_test_images())
    if args.nodes:
        known = {case.node for case in cases} | {case.label for case in cases}
        unknown = sorted(set(args.nodes) - known)
        if unknown:
            parser.error(f"unknown nodes {unknown}; choose from {sorted(known)}")
        cases = [case for case in cases if {case.node, case.label} & set(args.nodes)]

    console = Console(width=230)
    load_before = os.getloadavg()
    results = []
    for case in cases:
        with console.status(f"{case.label} ..."):
            results.append(measure(case, args.repeats, args.slow_repeats, args.statistic))
    load_after = os.getloadavg()
    header = (
        f"pixelwise nodes vs direct library calls, 512x512 float32 inputs "
        f"({args.statistic} of n timed rounds)\n"
        f"Python {platform.python_version()}, numpy {np.__version__}, scipy "
        f"{scipy.__version__}, scikit-image {skimage.__version__}, OpenCV {cv2.__version__}, "
        f"PyWavelets {pywt.__version__}, torch {torch.__version__}; {os.cpu_count()} CPUs, "
        f"load average {load_before[0]:.2f} before / {load_after[0]:.2f} after"
    )
    report(results, console, header)
    return 0


if __name__ == "__main__":
    sys.exit(main())
