"""Denoising nodes: classical filters, BM3D and self-supervised J-invariant denoising.

Each node wraps the library made for the job (scikit-image, SciPy, OpenCV, bm3d); only
Perona–Malik anisotropic diffusion is written here, because no maintained library exposes it.
Default parameters are tuned for additive Gaussian noise of standard deviation about 0.1
on images in [0, 1]. Where a node needs the noise level and none is given, it is estimated
with :func:`skimage.restoration.estimate_sigma` (a robust wavelet-based estimate, reliable
for white Gaussian noise).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import bm3d
import cv2
import numpy as np
import pywt
from pydantic import Field, field_validator
from scipy import ndimage
from skimage import filters, morphology, restoration

from pixelwise.errors import InputError
from pixelwise.nodes.base import Node, NodeParams
from pixelwise.nodes.registry import register

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


@register
class GaussianDenoise(Node):
    """Isotropic Gaussian smoothing (:func:`skimage.filters.gaussian`), all channels at once."""

    name = "gaussian"
    category = "denoise"
    description = "Gaussian blur: fast linear smoothing that also softens edges."

    class Params(NodeParams):
        sigma: float = Field(1.0, gt=0.0, le=50.0, description="Standard deviation in pixels.")
        truncate: float = Field(
            4.0, ge=1.0, le=8.0, description="Kernel radius in standard deviations."
        )

    def process(self, image: np.ndarray) -> np.ndarray:
        return filters.gaussian(
            image,
            sigma=self.params.sigma,
            truncate=self.params.truncate,
            mode="nearest",
            channel_axis=_channel_axis(image),
        )


@register
class MedianDenoise(Node):
    """Median over a disk footprint (:func:`scipy.ndimage.median_filter`), per channel."""

    name = "median"
    category = "denoise"
    description = "Median filter over a disk: removes impulse noise, keeps step edges."
    channels = "per_channel"

    class Params(NodeParams):
        radius: int = Field(2, ge=1, le=25, description="Disk radius in pixels.")

    def process(self, image: np.ndarray) -> np.ndarray:
        footprint = morphology.disk(self.params.radius).astype(bool)
        return ndimage.median_filter(image, footprint=footprint, mode="nearest")


@register
class BilateralDenoise(Node):
    """Edge-preserving bilateral filter (:func:`cv2.bilateralFilter`).

    OpenCV filters 1- and 3-channel images natively, weighting neighbours by their colour
    distance, so RGB edges stay sharp in all channels together; other channel counts are
    filtered one channel at a time. OpenCV's colour distance is the sum of the absolute
    channel differences, so ``sigma_color`` (a per-channel intensity scale) is multiplied by
    the number of channels filtered together.
    """

    name = "bilateral"
    category = "denoise"
    description = "Bilateral filter: averages neighbours that are close in space and intensity."

    class Params(NodeParams):
        sigma_color: float = Field(
            0.2, gt=0.0, le=10.0, description="Intensity standard deviation per channel."
        )
        sigma_spatial: float = Field(
            2.0, gt=0.0, le=50.0, description="Spatial standard deviation in pixels."
        )

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


@register
class NonLocalMeansDenoise(Node):
    """Non-local means (:func:`skimage.restoration.denoise_nl_means`), all channels at once.

    With ``sigma`` unset the noise level is estimated; with ``h`` unset the filter strength is
    0.6 × sigma, the value scikit-image recommends for its fast mode with sigma given.
    """

    name = "nl_means"
    category = "denoise"
    description = "Non-local means: averages pixels whose surrounding patches look alike."

    class Params(NodeParams):
        patch_size: int = Field(5, ge=3, le=15, description="Side of the compared patches.")
        patch_distance: int = Field(6, ge=1, le=30, description="Search radius in pixels.")
        h: float | None = Field(
            None, gt=0.0, le=10.0, description="Filter strength; None means 0.6 × sigma."
        )
        sigma: float | None = Field(
            None, ge=0.0, le=10.0, description="Noise standard deviation; None estimates it."
        )

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


@register
class TVChambolleDenoise(Node):
    """Total-variation denoising by Chambolle's projection algorithm, all channels at once."""

    name = "tv_chambolle"
    category = "denoise"
    description = "Total variation (Chambolle): flattens noise into piecewise-constant regions."

    class Params(NodeParams):
        weight: float = Field(
            0.08, gt=0.0, le=10.0, description="Smoothing strength; larger removes more."
        )
        max_num_iter: int = Field(200, ge=1, le=5000, description="Iteration limit.")
        eps: float = Field(2e-4, gt=0.0, le=1.0, description="Relative stopping tolerance.")

    def process(self, image: np.ndarray) -> np.ndarray:
        return restoration.denoise_tv_chambolle(
            image,
            weight=self.params.weight,
            eps=self.params.eps,
            max_num_iter=self.params.max_num_iter,
            channel_axis=_channel_axis(image),
        )


@register
class TVBregmanDenoise(Node):
    """Total-variation denoising by split Bregman iterations, all channels at once."""

    name = "tv_bregman"
    category = "denoise"
    description = "Total variation (split Bregman): like tv_chambolle, weight is a data fidelity."

    class Params(NodeParams):
        weight: float = Field(
            8.0, gt=0.0, le=1000.0, description="Data fidelity; smaller removes more."
        )
        max_num_iter: int = Field(100, ge=1, le=5000, description="Iteration limit.")
        eps: float = Field(1e-3, gt=0.0, le=1.0, description="Stopping tolerance.")
        isotropic: bool = Field(True, description="Isotropic (True) or anisotropic TV.")

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


@register
class WaveletDenoise(Node):
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

    class Params(NodeParams):
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


@register
class AnisotropicDiffusionDenoise(Node):
    """Perona–Malik anisotropic diffusion, per channel.

    Implemented here (see :func:`perona_malik`) because scikit-image, SciPy and the OpenCV
    wheels in use do not provide it: OpenCV has it only in the contrib ``ximgproc`` module and
    MedPy's version is unmaintained.
    """

    name = "anisotropic_diffusion"
    category = "denoise"
    description = "Perona–Malik diffusion: smooths within regions, stops at strong edges."
    channels = "per_channel"

    class Params(NodeParams):
        iterations: int = Field(8, ge=1, le=1000, description="Number of diffusion steps.")
        kappa: float = Field(
            0.1, gt=0.0, le=10.0, description="Edge threshold on neighbour differences."
        )
        step: float = Field(
            0.2, gt=0.0, le=0.25, description="Time step; at most 0.25 for stability."
        )
        conduction: Literal["exponential", "quadratic"] = Field(
            "quadratic",
            description="exponential favours high-contrast edges, quadratic wide regions.",
        )

    def process(self, image: np.ndarray) -> np.ndarray:
        return perona_malik(
            image,
            iterations=self.params.iterations,
            kappa=self.params.kappa,
            step=self.params.step,
            conduction=self.params.conduction,
        )


# The bm3d 4.0.3 profiles by name; "refilter" is left out because it fails on a scalar sigma.
_BM3D_PROFILES: dict[str, type[bm3d.BM3DProfile]] = {
    "np": bm3d.BM3DProfile,
    "vn": bm3d.BM3DProfileVN,
    "vn_old": bm3d.BM3DProfileVNOld,
    "high": bm3d.BM3DProfileHigh,
    "deb": bm3d.BM3DProfileDeb,
}
_BM3DProfileName = Literal["np", "vn", "vn_old", "high", "deb"]

_BM3D_STAGES = {"all": bm3d.BM3DStages.ALL_STAGES, "hard": bm3d.BM3DStages.HARD_THRESHOLDING}


def _bm3d_profile(name: str, image: np.ndarray, source: str) -> bm3d.BM3DProfile:
    """The bm3d profile called ``name``, once ``image`` (HxW[xC]) is known to fit its blocks.

    bm3d crashes the interpreter (segmentation fault) when a side of the image is not larger
    than its block size, so such images are refused with an :class:`InputError`.
    """
    profile = _BM3D_PROFILES[name]()
    block = max(profile.bs_ht, profile.bs_wiener)
    if min(image.shape[:2]) <= block:
        raise InputError(
            source,
            f"BM3D profile '{name}' needs both sides larger than {block} pixels, "
            f"got shape {image.shape}",
        )
    return profile


@register
class BM3DDenoise(Node):
    """BM3D collaborative filtering (:func:`bm3d.bm3d`), per channel.

    With ``sigma`` unset the noise level of each channel is estimated.
    """

    name = "bm3d"
    category = "denoise"
    description = "BM3D: filters groups of similar patches jointly in a 3-D transform domain."
    channels = "per_channel"

    class Params(NodeParams):
        sigma: float | None = Field(
            None, ge=0.0, le=10.0, description="Noise standard deviation; None estimates it."
        )
        profile: _BM3DProfileName = Field("np", description="bm3d parameter profile.")
        stage: Literal["all", "hard"] = Field(
            "all", description="'all': hard thresholding then Wiener; 'hard': first stage only."
        )

    def process(self, image: np.ndarray) -> np.ndarray:
        return bm3d.bm3d(
            image,
            sigma_psd=_noise_sigma(image, self.params.sigma, _image_source(self)),
            profile=_bm3d_profile(self.params.profile, image, _image_source(self)),
            stage_arg=_BM3D_STAGES[self.params.stage],
        )


@register
class BM3DColorDenoise(Node):
    """Colour BM3D (:func:`bm3d.bm3d_rgb`): block matching on luminance, filtering per channel.

    With ``sigma`` unset the noise level is estimated and averaged over the RGB channels.
    bm3d rescales each decorrelated channel by its range, so an image with a constant one
    (such as a noise-free gray image stored as RGB) is refused rather than turned into NaN.
    """

    name = "bm3d_color"
    category = "denoise"
    description = "Colour BM3D: matches blocks on luminance, decorrelates colour first."
    channels = "rgb"

    class Params(NodeParams):
        sigma: float | None = Field(
            None, ge=0.0, le=10.0, description="Noise standard deviation; None estimates it."
        )
        profile: _BM3DProfileName = Field("np", description="bm3d parameter profile.")
        colorspace: Literal["opp", "YCbCr"] = Field(
            "opp", description="Colour transform applied before filtering."
        )

    def process(self, image: np.ndarray) -> np.ndarray:
        source = _image_source(self)
        profile = _bm3d_profile(self.params.profile, image, source)
        with np.errstate(divide="ignore", invalid="ignore"):
            _, channel_max, channel_min, _, _ = bm3d.rgb_to(image, self.params.colorspace)
        if np.any(channel_max <= channel_min):
            raise InputError(
                source,
                f"a {self.params.colorspace} channel is constant (a gray image stored as RGB?); "
                "use the 'bm3d' node",
            )
        return bm3d.bm3d_rgb(
            image,
            sigma_psd=_noise_sigma(image, self.params.sigma, source),
            profile=profile,
            colorspace=self.params.colorspace,
        )


def _tv_candidates(strengths: list[float], sigma: float) -> dict[str, list[Any]]:
    """Candidate keyword arguments of :func:`denoise_tv_chambolle`: the weight varies."""
    return {"weight": strengths}


def _nl_means_candidates(strengths: list[float], sigma: float) -> dict[str, list[Any]]:
    """Candidate keyword arguments of :func:`denoise_nl_means`: h varies, patches as the node's."""
    defaults = NonLocalMeansDenoise.Params()
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


@register
class Noise2SelfDenoise(Node):
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

    class Params(NodeParams):
        base: Literal["tv_chambolle", "nl_means"] = Field(
            "tv_chambolle", description="Denoiser whose strength is calibrated."
        )
        grid_size: int = Field(9, ge=2, le=32, description="Number of candidate strengths.")
        stride: int = Field(4, ge=2, le=16, description="Spacing of the masking grid in pixels.")

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
