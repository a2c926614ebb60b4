"""Deconvolution nodes that take an image and a PSF.

Every node here takes an ``image`` (float32 HxW or HxWxC; colour is processed channel by
channel) and a ``kernel`` (float32 PSF with odd sides, unit sum, non-negative, no larger than
the image). ``convolve`` simulates the blur; the others invert it.

Boundaries: the deconvolution libraries assume the blur wraps around (FFT-based Wiener and
BM3D) or that the scene is zero outside the frame (Richardson-Lucy), while the border pixels of
a real photograph mix in scene content from outside it. Deconvolving the bare image therefore
rings from its borders inwards, badly so for motion blur, whose transfer function has zeros.
The deconvolution nodes thus work on the image extended by two kernel sizes on each side, the
extension filled so that it agrees with the blur model (see :func:`extend_consistently`), and
crop the result back.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar, Literal

import numpy as np
from bm3d import bm3d_deblurring
from pydantic import Field
from scipy import ndimage
from skimage.restoration import estimate_sigma, richardson_lucy, unsupervised_wiener, wiener

from pixelwise.errors import InputError
from pixelwise.nodes.base import ChannelPolicy, Kind, Node, NodeParams
from pixelwise.nodes.registry import register

# bm4d 4.2.5 (bm3d's backend for coloured noise, which bm3d_deblurring produces) still calls
# np.trapz, removed in NumPy 2.4; np.trapezoid is the same function under its new name.
if not hasattr(np, "trapz"):
    np.trapz = np.trapezoid  # noqa: NPY201  (restores the alias bm4d needs)

_MIN_NOISE_SIGMA = 1e-3
"""Floor on an estimated noise level: BM3D's regularised inverse is unstable at sigma = 0."""

_EXTENSION_KERNELS = 2
"""Width of the boundary extension on each side, in kernel sizes."""
_EXTENSION_ITERATIONS = 5
"""Deconvolve/re-blur rounds filling the extension (measured: 5 suffice for motion blur)."""
_EXTENSION_BALANCE = 0.02
"""Wiener regularisation of the rough estimate used to fill the extension."""


def extend_consistently(
    image: np.ndarray, kernel: np.ndarray
) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Extend a blurred HxW ``image`` so that the whole array is consistent with a circular blur.

    Starts from edge replication, then alternates a rough Wiener deconvolution of the extended
    array with a circular re-blur, each time keeping the re-blurred values outside the image
    and the observed ones inside (alternating projections onto "blurred by ``kernel``" and
    "agrees with the observation"). Returns the float64 extended array and the slices of the
    original image within it.
    """
    pad_rows, pad_cols = (_EXTENSION_KERNELS * side for side in kernel.shape)
    extended = np.pad(
        image.astype(np.float64), ((pad_rows, pad_rows), (pad_cols, pad_cols)), mode="edge"
    )
    inside = (
        slice(pad_rows, pad_rows + image.shape[0]),
        slice(pad_cols, pad_cols + image.shape[1]),
    )
    for _ in range(_EXTENSION_ITERATIONS):
        estimate = wiener(extended, kernel, _EXTENSION_BALANCE, clip=False)
        extended = ndimage.convolve(estimate, kernel, mode="wrap")
        extended[inside] = image
    return extended, inside


class _KernelNode(Node):
    """A node applying a PSF to an image; checks that the PSF fits the image."""

    category = "deblur"
    inputs: ClassVar[dict[str, Kind]] = {"image": Kind.IMAGE, "kernel": Kind.KERNEL}
    channels: ClassVar[ChannelPolicy] = "per_channel"

    def process(self, image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        if any(side % 2 == 0 for side in kernel.shape):
            raise InputError(
                f"{self.name}.kernel",
                f"kernel sides must be odd so that it has a centre pixel, got {kernel.shape}",
            )
        if (kernel < 0).any():
            raise InputError(f"{self.name}.kernel", "kernel has negative values")
        if kernel.shape[0] > image.shape[0] or kernel.shape[1] > image.shape[1]:
            raise InputError(
                f"{self.name}.kernel",
                f"kernel {kernel.shape} is larger than the image {image.shape[:2]}",
            )
        return self._apply(image, kernel)

    @abstractmethod
    def _apply(self, image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        """Process one validated HxW float32 channel with a validated kernel."""


class _DeconvolutionNode(_KernelNode):
    """A deconvolution run on the blur-consistently extended image, cropped back to its size."""

    def _apply(self, image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        extended, inside = extend_consistently(image, kernel)
        return self._deconvolve(extended, kernel, image)[inside]

    @abstractmethod
    def _deconvolve(
        self, extended: np.ndarray, kernel: np.ndarray, image: np.ndarray
    ) -> np.ndarray:
        """Deconvolve ``extended`` (``image`` with its extension); return an array of its shape."""


@register
class Convolve(_KernelNode):
    """Blur by :func:`scipy.ndimage.convolve` (true convolution: the kernel is flipped)."""

    name = "convolve"
    description = "Blur an image with a PSF (simulates optical, motion or defocus blur)."

    class Params(NodeParams):
        mode: Literal["reflect", "nearest", "mirror", "wrap", "constant"] = Field(
            "reflect",
            description="Boundary handling (scipy.ndimage): how the image extends past its edges.",
        )

    def _apply(self, image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        return ndimage.convolve(image, kernel, mode=self.params.mode)


@register
class RichardsonLucy(_DeconvolutionNode):
    """Deconvolution by :func:`skimage.restoration.richardson_lucy`."""

    name = "richardson_lucy"
    description = "Richardson-Lucy deconvolution (iterative, Poisson noise model)."

    class Params(NodeParams):
        iterations: int = Field(
            30, ge=1, le=1000, description="More iterations sharpen more but amplify noise."
        )

    def _deconvolve(
        self, extended: np.ndarray, kernel: np.ndarray, image: np.ndarray
    ) -> np.ndarray:
        # Richardson-Lucy assumes non-negative intensities; noise may dip below zero.
        return richardson_lucy(
            np.clip(extended, 0, None), kernel, num_iter=self.params.iterations, clip=False
        )


@register
class Wiener(_DeconvolutionNode):
    """Deconvolution by :func:`skimage.restoration.wiener`."""

    name = "wiener"
    description = "Wiener-Hunt deconvolution with a Laplacian smoothness prior."

    class Params(NodeParams):
        balance: float = Field(
            0.02, gt=0, le=100, description="Regularisation: larger is smoother, less noisy."
        )

    def _deconvolve(
        self, extended: np.ndarray, kernel: np.ndarray, image: np.ndarray
    ) -> np.ndarray:
        return wiener(extended, kernel, self.params.balance, clip=False)


@register
class UnsupervisedWiener(_DeconvolutionNode):
    """Deconvolution by :func:`skimage.restoration.unsupervised_wiener` (seeded)."""

    name = "unsupervised_wiener"
    description = "Wiener-Hunt deconvolution with noise and prior levels estimated by sampling."

    class Params(NodeParams):
        seed: int = Field(0, ge=0, description="Seed of the Gibbs sampler (for repeatability).")

    def _deconvolve(
        self, extended: np.ndarray, kernel: np.ndarray, image: np.ndarray
    ) -> np.ndarray:
        restored, _ = unsupervised_wiener(extended, kernel, clip=False, rng=self.params.seed)
        return restored


@register
class Bm3dDeblur(_DeconvolutionNode):
    """Deconvolution by :func:`bm3d.bm3d_deblurring`; sigma from ``estimate_sigma`` if unset."""

    name = "bm3d_deblur"
    description = "BM3D deblurring: regularised inversion followed by BM3D denoising."

    class Params(NodeParams):
        sigma: float | None = Field(
            None,
            gt=0,
            le=1,
            description="Noise standard deviation (bm3d's sigma_psd); estimated when omitted.",
        )

    def _deconvolve(
        self, extended: np.ndarray, kernel: np.ndarray, image: np.ndarray
    ) -> np.ndarray:
        sigma = self.params.sigma
        if sigma is None:
            sigma = max(float(estimate_sigma(image)), _MIN_NOISE_SIGMA)
        # bm3d 4.0.3 only accepts a single channel as HxWx1 (an HxW array fails in its final
        # stage); it returns HxW.
        return bm3d_deblurring(extended[..., np.newaxis], sigma, kernel)
