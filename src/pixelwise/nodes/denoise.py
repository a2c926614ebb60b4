"""Denoising nodes: classical filters, BM3D and self-supervised J-invariant denoising.

Each node wraps the library made for the job (scikit-image, SciPy, OpenCV); Perona–Malik
anisotropic diffusion is written here, because no maintained library exposes it, and BM3D runs
on pixelwise's own torch implementation (:mod:`pixelwise.restoration.bm3d_torch`, CPU or CUDA),
because the ``bm3d`` package is licensed for non-commercial use only.
Default parameters are tuned for additive Gaussian noise of standard deviation about 0.1
on images in [0, 1]. Where a node needs the noise level and none is given, it is estimated
with :func:`skimage.restoration.estimate_sigma` (a robust wavelet-based estimate, reliable
for white Gaussian noise).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import cv2
import numpy as np
import pywt
import torch
from pydantic import Field, field_validator
from scipy import ndimage
from skimage import filters, morphology, restoration

from pixelwise.errors import InputError
from pixelwise.nodes.base import Node, NodeParams
from pixelwise.nodes.registry import register
from pixelwise.restoration.bm3d_torch import BLOCK as BM3D_BLOCK
from pixelwise.restoration.bm3d_torch import bm3d, bm3d_rgb, resolve_device

_DISCRETE_WAVELETS = frozenset(pywt.wavelist(kind="discrete"))

# Noise levels below this (in image units) are treated as no noise at all.
_NOISELESS_SIGMA = 1e-6


def _channel_axis(image: np.ndarray) -> int | None:
    """The channel axis scikit-image expects: -1 for HxWxC images, None for HxW."""
    return -1 if image.ndim == 3 else None


def _image_source(node: Node) -> str:
    """How errors name a node's image input, as :class:`Node` does when converting it."""
    return f"{node.name}.image"


def _noise_sigma(image: np.ndarray, sigma: float | None, source: str) -> float:
    """Return ``sigma`` if given, else the noise level estimated from ``image``.

    ``image`` is float32 HxW or HxWxC; for colour images the per-channel estimates are averaged.
    An image too small for the estimate raises :class:`InputError` naming ``source``.
    """
    if sigma is not None:
        return sigma
    estimate = float(
        restoration.estimate_sigma(image, average_sigmas=True, channel_axis=_channel_axis(image))
    )
    if not np.isfinite(estimate):
        raise InputError(source, f"cannot estimate the noise level of shape {image.shape}")
    return estimate


class GaussianParams(NodeParams):
    sigma: float = Field(1.0, gt=0.0, le=50.0, description="Standard deviation in pixels.")
    truncate: float = Field(
        4.0, ge=1.0, le=8.0, description="Kernel radius in standard deviations."
    )


@register
class GaussianDenoise(Node[GaussianParams]):
    """Isotropic Gaussian smoothing (:func:`skimage.filters.gaussian`), all channels at once."""

    name = "gaussian"
    category = "denoise"
    modifies_input = False
    preserves_finite = True  # weighted means / order statistics of the input
    description = "Gaussian blur: fast linear smoothing that also softens edges."

    def process(self, image: np.ndarray) -> np.ndarray:
        return filters.gaussian(
            image,
            sigma=self.params.sigma,
            truncate=self.params.truncate,
            mode="nearest",
            channel_axis=_channel_axis(image),
        )


class MedianParams(NodeParams):
    radius: int = Field(2, ge=1, le=25, description="Disk radius in pixels.")


@register
class MedianDenoise(Node[MedianParams]):
    """Median over a disk footprint (:func:`scipy.ndimage.median_filter`), per channel."""

    name = "median"
    category = "denoise"
    modifies_input = False
    preserves_finite = True  # weighted means / order statistics of the input
    description = "Median filter over a disk: removes impulse noise, keeps step edges."
    channels = "per_channel"

    def process(self, image: np.ndarray) -> np.ndarray:
        footprint = morphology.disk(self.params.radius).astype(bool)
        return ndimage.median_filter(image, footprint=footprint, mode="nearest")


class BilateralParams(NodeParams):
    sigma_color: float = Field(
        0.2, gt=0.0, le=10.0, description="Intensity standard deviation per channel."
    )
    sigma_spatial: float = Field(
        2.0, gt=0.0, le=50.0, description="Spatial standard deviation in pixels."
    )


@register
class BilateralDenoise(Node[BilateralParams]):
    """Edge-preserving bilateral filter (:func:`cv2.bilateralFilter`).

    OpenCV filters 1- and 3-channel images natively, weighting neighbours by their colour
    distance, so RGB edges stay sharp in all channels together; other channel counts are
    filtered one channel at a time. OpenCV's colour distance is the sum of the absolute
    channel differences, so ``sigma_color`` (a per-channel intensity scale) is multiplied by
    the number of channels filtered together.
    """

    name = "bilateral"
    category = "denoise"
    modifies_input = False
    preserves_finite = True  # weighted means / order statistics of the input
    description = "Bilateral filter: averages neighbours that are close in space and intensity."

    def process(self, image: np.ndarray) -> np.ndarray:
        if image.ndim == 2 or image.shape[2] in (1, 3):
            return self._filter(image).reshape(image.shape)
        return np.stack([self._filter(image[..., c]) for c in range(image.shape[2])], axis=-1)

    def _filter(self, image: np.ndarray) -> np.ndarray:
        """Filter a float32 HxW or HxWx3 image; d=-1 derives the window from sigma_spatial."""
        joint_channels = image.shape[2] if image.ndim == 3 else 1
        return cv2.bilateralFilter(
            np.ascontiguousarray(image),
            d=-1,
            sigmaColor=self.params.sigma_color * joint_channels,
            sigmaSpace=self.params.sigma_spatial,
            borderType=cv2.BORDER_REFLECT,
        )


class NonLocalMeansParams(NodeParams):
    patch_size: int = Field(5, ge=3, le=15, description="Side of the compared patches.")
    patch_distance: int = Field(6, ge=1, le=30, description="Search radius in pixels.")
    h: float | None = Field(
        None, gt=0.0, le=10.0, description="Filter strength; None means 0.6 × sigma."
    )
    sigma: float | None = Field(
        None, ge=0.0, le=10.0, description="Noise standard deviation; None estimates it."
    )


@register
class NonLocalMeansDenoise(Node[NonLocalMeansParams]):
    """Non-local means (:func:`skimage.restoration.denoise_nl_means`), all channels at once.

    With ``sigma`` unset the noise level is estimated; with ``h`` unset the filter strength is
    0.6 × sigma, the value scikit-image recommends for its fast mode with sigma given.
    """

    name = "nl_means"
    category = "denoise"
    description = "Non-local means: averages pixels whose surrounding patches look alike."

    def process(self, image: np.ndarray) -> np.ndarray:
        sigma = _noise_sigma(image, self.params.sigma, _image_source(self))
        h = self.params.h if self.params.h is not None else 0.6 * sigma
        denoised = restoration.denoise_nl_means(
            image,
            patch_size=self.params.patch_size,
            patch_distance=self.params.patch_distance,
            h=max(h, _NOISELESS_SIGMA),  # h must be positive, also for a noiseless image
            sigma=sigma,
            fast_mode=True,
            channel_axis=_channel_axis(image),
        )
        return denoised.reshape(image.shape)  # scikit-image drops a single channel axis


class TVChambolleParams(NodeParams):
    weight: float = Field(
        0.08, gt=0.0, le=10.0, description="Smoothing strength; larger removes more."
    )
    max_num_iter: int = Field(200, ge=1, le=5000, description="Iteration limit.")
    eps: float = Field(2e-4, gt=0.0, le=1.0, description="Relative stopping tolerance.")


@register
class TVChambolleDenoise(Node[TVChambolleParams]):
    """Total-variation denoising by Chambolle's projection algorithm, all channels at once."""

    name = "tv_chambolle"
    category = "denoise"
    description = "Total variation (Chambolle): flattens noise into piecewise-constant regions."

    def process(self, image: np.ndarray) -> np.ndarray:
        return restoration.denoise_tv_chambolle(
            image,
            weight=self.params.weight,
            eps=self.params.eps,
            max_num_iter=self.params.max_num_iter,
            channel_axis=_channel_axis(image),
        )


class TVBregmanParams(NodeParams):
    weight: float = Field(
        8.0, gt=0.0, le=1000.0, description="Data fidelity; smaller removes more."
    )
    max_num_iter: int = Field(100, ge=1, le=5000, description="Iteration limit.")
    eps: float = Field(1e-3, gt=0.0, le=1.0, description="Stopping tolerance.")
    isotropic: bool = Field(True, description="Isotropic (True) or anisotropic TV.")


@register
class TVBregmanDenoise(Node[TVBregmanParams]):
    """Total-variation denoising by split Bregman iterations, all channels at once."""

    name = "tv_bregman"
    category = "denoise"
    description = "Total variation (split Bregman): like tv_chambolle, weight is a data fidelity."

    def process(self, image: np.ndarray) -> np.ndarray:
        denoised = restoration.denoise_tv_bregman(
            image,
            weight=self.params.weight,
            max_num_iter=self.params.max_num_iter,
            eps=self.params.eps,
            isotropic=self.params.isotropic,
            channel_axis=_channel_axis(image),
        )
        return denoised.reshape(image.shape)  # scikit-image drops a single channel axis


class WaveletParams(NodeParams):
    method: Literal["BayesShrink", "VisuShrink"] = Field(
        "BayesShrink", description="Threshold rule: adaptive per subband, or universal."
    )
    wavelet: str = Field("db1", description="Discrete wavelet name known to PyWavelets.")
    mode: Literal["soft", "hard"] = Field("soft", description="Thresholding mode.")
    wavelet_levels: int | None = Field(
        None, ge=1, le=10, description="Decomposition levels; None uses the maximum minus 3."
    )
    sigma: float | None = Field(
        None, ge=0.0, le=10.0, description="Noise standard deviation; None estimates it."
    )
    convert2ycbcr: bool = Field(
        True, description="Denoise RGB images in YCbCr (ignored for other channel counts)."
    )
    max_shifts: int = Field(
        3, ge=0, le=8, description="Cycle-spinning shifts per axis; 0 turns it off."
    )

    @field_validator("wavelet")
    @classmethod
    def _known_wavelet(cls, value: str) -> str:
        if value not in _DISCRETE_WAVELETS:
            raise ValueError(f"unknown discrete wavelet '{value}' (see pywt.wavelist)")
        return value


@register
class WaveletDenoise(Node[WaveletParams]):
    """Wavelet shrinkage (:func:`skimage.restoration.denoise_wavelet`), all channels at once.

    A decimated wavelet transform is not shift invariant, so thresholding leaves blocky
    artefacts; cycle spinning (:func:`skimage.restoration.cycle_spin`) averages the results
    over circular shifts of up to ``max_shifts`` pixels per axis, which removes them and gains
    about 1.5 dB at sigma 0.1, for (max_shifts + 1)² times the cost. With ``sigma`` unset,
    scikit-image estimates it from the finest detail coefficients.
    """

    name = "wavelet"
    category = "denoise"
    description = "Wavelet shrinkage (BayesShrink or VisuShrink) with cycle spinning."

    def process(self, image: np.ndarray) -> np.ndarray:
        if _noise_sigma(image, self.params.sigma, _image_source(self)) < _NOISELESS_SIGMA:
            # Zero thresholds make PyWavelets divide 0 by 0 on flat regions; there is no noise.
            return image
        channel_axis = _channel_axis(image)
        is_rgb = image.ndim == 3 and image.shape[2] == 3
        return restoration.cycle_spin(
            image,
            restoration.denoise_wavelet,
            max_shifts=self.params.max_shifts,
            func_kw={
                "sigma": self.params.sigma,
                "wavelet": self.params.wavelet,
                "mode": self.params.mode,
                "wavelet_levels": self.params.wavelet_levels,
                "convert2ycbcr": self.params.convert2ycbcr and is_rgb,
                "method": self.params.method,
                "rescale_sigma": True,
                "channel_axis": channel_axis,
            },
            channel_axis=channel_axis,
            workers=1,
        )


def _exponential_conduction(gradient: np.ndarray, kappa: float) -> np.ndarray:
    return np.exp(-np.square(gradient / kappa))


def _quadratic_conduction(gradient: np.ndarray, kappa: float) -> np.ndarray:
    return 1.0 / (1.0 + np.square(gradient / kappa))


_CONDUCTION: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "exponential": _exponential_conduction,
    "quadratic": _quadratic_conduction,
}


def perona_malik(
    image: np.ndarray, iterations: int, kappa: float, step: float, conduction: str
) -> np.ndarray:
    """Perona–Malik anisotropic diffusion of a float HxW image, explicit 4-neighbour scheme.

    Each iteration moves ``step`` × the divergence of the flux g(|∇u|)·∇u, where g is the
    ``conduction`` function ("exponential": exp(-(d/kappa)²), "quadratic": 1/(1+(d/kappa)²)).
    Fluxes are computed between neighbouring pixels, and none crosses the border (Neumann
    boundary), so the mean intensity is preserved. The scheme is stable for ``step`` ≤ 0.25.
    """
    conduct = _CONDUCTION[conduction]
    diffused = image.astype(np.float32, copy=True)
    for _ in range(iterations):
        flux_rows = np.diff(diffused, axis=0)
        flux_rows *= conduct(flux_rows, kappa)
        flux_cols = np.diff(diffused, axis=1)
        flux_cols *= conduct(flux_cols, kappa)
        divergence = np.zeros_like(diffused)
        divergence[:-1] += flux_rows
        divergence[1:] -= flux_rows
        divergence[:, :-1] += flux_cols
        divergence[:, 1:] -= flux_cols
        diffused += step * divergence
    return diffused


class AnisotropicDiffusionParams(NodeParams):
    iterations: int = Field(8, ge=1, le=1000, description="Number of diffusion steps.")
    kappa: float = Field(
        0.1, gt=0.0, le=10.0, description="Edge threshold on neighbour differences."
    )
    step: float = Field(0.2, gt=0.0, le=0.25, description="Time step; at most 0.25 for stability.")
    conduction: Literal["exponential", "quadratic"] = Field(
        "quadratic",
        description="exponential favours high-contrast edges, quadratic wide regions.",
    )


@register
class AnisotropicDiffusionDenoise(Node[AnisotropicDiffusionParams]):
    """Perona–Malik anisotropic diffusion, per channel.

    Implemented here (see :func:`perona_malik`) because scikit-image, SciPy and the OpenCV
    wheels in use do not provide it: OpenCV has it only in the contrib ``ximgproc`` module and
    MedPy's version is unmaintained.
    """

    name = "anisotropic_diffusion"
    category = "denoise"
    description = "Perona–Malik diffusion: smooths within regions, stops at strong edges."
    channels = "per_channel"

    def process(self, image: np.ndarray) -> np.ndarray:
        return perona_malik(
            image,
            iterations=self.params.iterations,
            kappa=self.params.kappa,
            step=self.params.step,
            conduction=self.params.conduction,
        )


DeviceName = Literal["auto", "cpu", "cuda"]


def torch_device(node: Node, name: DeviceName) -> torch.device:
    """The torch device a node's ``device`` parameter names; unavailable CUDA is an InputError."""
    try:
        return resolve_device(name)
    except ValueError as error:
        raise InputError(f"node '{node.name}'", str(error)) from None


def _check_bm3d_size(image: np.ndarray, source: str) -> None:
    if min(image.shape[:2]) < BM3D_BLOCK:
        raise InputError(
            source, f"BM3D needs both sides at least {BM3D_BLOCK} pixels, got shape {image.shape}"
        )


class BM3DParams(NodeParams):
    sigma: float | None = Field(
        None, ge=0.0, le=10.0, description="Noise standard deviation; None estimates it."
    )
    stage: Literal["all", "hard"] = Field(
        "all", description="'all': hard thresholding then Wiener; 'hard': first stage only."
    )
    device: DeviceName = Field("auto", description="Where to run: 'auto' uses CUDA if present.")


@register
class BM3DDenoise(Node[BM3DParams]):
    """BM3D collaborative filtering (:func:`pixelwise.restoration.bm3d`, torch), per channel.

    With ``sigma`` unset the noise level of each channel is estimated; sigma 0 returns the
    image unchanged. Within 0.1 dB of the non-commercial ``bm3d`` package on camera,
    astronaut and coffee at sigma 10-50 (bench/bm3d_vs_reference.py).
    """

    name = "bm3d"
    category = "denoise"
    description = "BM3D: filters groups of similar patches jointly in a 3-D transform domain."
    channels = "per_channel"

    def process(self, image: np.ndarray) -> np.ndarray:
        source = _image_source(self)
        _check_bm3d_size(image, source)
        return bm3d(
            image,
            _noise_sigma(image, self.params.sigma, source),
            stage=self.params.stage,
            device=torch_device(self, self.params.device),
        )


class BM3DColorParams(NodeParams):
    sigma: float | None = Field(
        None, ge=0.0, le=10.0, description="Noise standard deviation; None estimates it."
    )
    colorspace: Literal["opp", "YCbCr"] = Field(
        "opp", description="Colour transform applied before filtering."
    )
    device: DeviceName = Field("auto", description="Where to run: 'auto' uses CUDA if present.")


@register
class BM3DColorDenoise(Node[BM3DColorParams]):
    """Colour BM3D (:func:`pixelwise.restoration.bm3d_rgb`, torch): matching on luminance.

    The image is decorrelated into opponent colours (or YCbCr), blocks are matched on the
    luminance channel and every channel is filtered with the same groups. With ``sigma``
    unset the noise level is estimated and averaged over the RGB channels.
    """

    name = "bm3d_color"
    category = "denoise"
    description = "Colour BM3D: matches blocks on luminance, decorrelates colour first."
    channels = "rgb"

    def process(self, image: np.ndarray) -> np.ndarray:
        source = _image_source(self)
        _check_bm3d_size(image, source)
        return bm3d_rgb(
            image,
            _noise_sigma(image, self.params.sigma, source),
            colourspace=self.params.colorspace,
            device=torch_device(self, self.params.device),
        )


def _tv_candidates(strengths: list[float], sigma: float) -> dict[str, list[Any]]:
    """Candidate keyword arguments of :func:`denoise_tv_chambolle`: the weight varies."""
    return {"weight": strengths}


def _nl_means_candidates(strengths: list[float], sigma: float) -> dict[str, list[Any]]:
    """Candidate keyword arguments of :func:`denoise_nl_means`: h varies, patches as the node's."""
    defaults = NonLocalMeansParams()
    return {
        "h": strengths,
        "sigma": [sigma],
        "patch_size": [defaults.patch_size],
        "patch_distance": [defaults.patch_distance],
        "fast_mode": [True],
    }


# base name -> (denoiser, builder of its candidate keyword arguments from strengths and sigma)
_SELF_SUPERVISED_BASES: dict[
    str, tuple[Callable[..., np.ndarray], Callable[[list[float], float], dict[str, list[Any]]]]
] = {
    "tv_chambolle": (restoration.denoise_tv_chambolle, _tv_candidates),
    "nl_means": (restoration.denoise_nl_means, _nl_means_candidates),
}


class Noise2SelfParams(NodeParams):
    base: Literal["tv_chambolle", "nl_means"] = Field(
        "tv_chambolle", description="Denoiser whose strength is calibrated."
    )
    grid_size: int = Field(9, ge=2, le=32, description="Number of candidate strengths.")
    stride: int = Field(4, ge=2, le=16, description="Spacing of the masking grid in pixels.")


@register
class Noise2SelfDenoise(Node[Noise2SelfParams]):
    """Self-supervised calibration of a classical denoiser (Noise2Self, Batson & Royer 2019).

    :func:`skimage.restoration.calibrate_denoiser` scores each candidate strength by the
    J-invariant loss: pixels on a grid are masked, denoised from their neighbours only and
    compared with the noisy values, which estimates the true error up to the noise variance
    without a clean reference. Candidate strengths (TV weight or NL-means h, both proportional
    to the noise level) are the estimated noise sigma times a geometric grid from 1/4 to 4.
    The output is the base denoiser applied to the whole image at the winning strength, which
    is more accurate than the J-invariant denoiser used for scoring.
    """

    name = "noise2self"
    category = "denoise"
    description = "Noise2Self: picks a denoiser's strength by J-invariant self-supervision."

    def process(self, image: np.ndarray) -> np.ndarray:
        denoiser, candidates_for = _SELF_SUPERVISED_BASES[self.params.base]
        sigma = max(_noise_sigma(image, None, _image_source(self)), _NOISELESS_SIGMA)
        strengths = list(sigma * np.geomspace(0.25, 4.0, self.params.grid_size))
        candidates = candidates_for(strengths, sigma)
        candidates["channel_axis"] = [_channel_axis(image)]
        _, (tested, losses) = restoration.calibrate_denoiser(
            image, denoiser, candidates, stride=self.params.stride, extra_output=True
        )
        denoised = denoiser(image, **tested[int(np.argmin(losses))])
        return denoised.reshape(image.shape)  # scikit-image may drop a single channel axis
