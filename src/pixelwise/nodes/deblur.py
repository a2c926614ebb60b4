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
import torch
from pydantic import Field
from scipy import ndimage
from skimage.restoration import estimate_sigma, unsupervised_wiener, wiener

from pixelwise.errors import InputError
from pixelwise.nodes.base import ChannelPolicy, Kind, Node, NodeParams, P
from pixelwise.nodes.denoise import DeviceName, torch_device
from pixelwise.nodes.registry import register
from pixelwise.restoration import bm3d_deblur, richardson_lucy

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


class _KernelNode(Node[P]):
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


class _DeconvolutionNode(_KernelNode[P]):
    """A deconvolution run on the blur-consistently extended image, cropped back to its size."""

    def _apply(self, image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        extended, inside = extend_consistently(image, kernel)
        return self._deconvolve(extended, kernel, image)[inside]

    @abstractmethod
    def _deconvolve(
        self, extended: np.ndarray, kernel: np.ndarray, image: np.ndarray
    ) -> np.ndarray:
        """Deconvolve ``extended`` (``image`` with its extension); return an array of its shape."""


class ConvolveParams(NodeParams):
    mode: Literal["reflect", "nearest", "mirror", "wrap", "constant"] = Field(
        "reflect",
        description="Boundary handling (scipy.ndimage): how the image extends past its edges.",
    )


@register
class Convolve(_KernelNode[ConvolveParams]):
    """Blur by :func:`scipy.ndimage.convolve` (true convolution: the kernel is flipped)."""

    name = "convolve"
    description = "Blur an image with a PSF (simulates optical, motion or defocus blur)."

    def _apply(self, image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        return ndimage.convolve(image, kernel, mode=self.params.mode)


class RichardsonLucyParams(NodeParams):
    iterations: int = Field(
        30, ge=1, le=1000, description="More iterations sharpen more but amplify noise."
    )
    device: DeviceName = Field("auto", description="Where to run: 'auto' uses CUDA if present.")


@register
class RichardsonLucy(_DeconvolutionNode[RichardsonLucyParams]):
    """Richardson–Lucy deconvolution (:func:`pixelwise.restoration.richardson_lucy`, torch).

    Computes what :func:`skimage.restoration.richardson_lucy` computes (to ~1e-12 in float64
    on the CPU, float32 on CUDA), with the PSD's transforms computed once.
    """

    name = "richardson_lucy"
    description = "Richardson-Lucy deconvolution (iterative, Poisson noise model)."

    def _deconvolve(
        self, extended: np.ndarray, kernel: np.ndarray, image: np.ndarray
    ) -> np.ndarray:
        # Richardson-Lucy assumes non-negative intensities; noise may dip below zero.
        device = torch_device(self, self.params.device)
        return richardson_lucy(
            np.clip(extended, 0, None),
            kernel,
            self.params.iterations,
            device=device,
            dtype=torch.float32 if device.type == "cuda" else torch.float64,
        )


class WienerParams(NodeParams):
    balance: float = Field(
        0.02, gt=0, le=100, description="Regularisation: larger is smoother, less noisy."
    )


@register
class Wiener(_DeconvolutionNode[WienerParams]):
    """Deconvolution by :func:`skimage.restoration.wiener`."""

    name = "wiener"
    description = "Wiener-Hunt deconvolution with a Laplacian smoothness prior."

    def _deconvolve(
        self, extended: np.ndarray, kernel: np.ndarray, image: np.ndarray
    ) -> np.ndarray:
        return wiener(extended, kernel, self.params.balance, clip=False)


class UnsupervisedWienerParams(NodeParams):
    seed: int = Field(0, ge=0, description="Seed of the Gibbs sampler (for repeatability).")


@register
class UnsupervisedWiener(_DeconvolutionNode[UnsupervisedWienerParams]):
    """Deconvolution by :func:`skimage.restoration.unsupervised_wiener` (seeded)."""

    name = "unsupervised_wiener"
    description = "Wiener-Hunt deconvolution with noise and prior levels estimated by sampling."

    def _deconvolve(
        self, extended: np.ndarray, kernel: np.ndarray, image: np.ndarray
    ) -> np.ndarray:
        restored, _ = unsupervised_wiener(extended, kernel, clip=False, rng=self.params.seed)
        return restored


class Bm3dDeblurParams(NodeParams):
    sigma: float | None = Field(
        None, gt=0, le=1, description="Noise standard deviation; estimated when omitted."
    )
    engine: Literal["torch", "reference"] = Field(
        "torch",
        description=(
            "'torch': pixelwise's BSD implementation (CPU or CUDA), within 0.3 dB of the "
            "reference (bench/bm3d_vs_reference.py); 'reference': the bm3d package "
            "(non-commercial licence; install the 'reference' extra)."
        ),
    )
    device: DeviceName = Field("auto", description="Torch engine only: where to run.")


def _reference_bm3d_deblurring(
    node: Node, image: np.ndarray, sigma: float, kernel: np.ndarray
) -> np.ndarray:
    """:func:`bm3d.bm3d_deblurring` of an HxW image (the package is imported on first use)."""
    try:
        from bm3d import bm3d_deblurring
    except ImportError:
        raise InputError(
            f"node '{node.name}'",
            "engine 'reference' needs the non-commercial bm3d package: "
            "pip install 'pixelwise[reference]', or use engine 'torch'",
        ) from None

    # bm4d 4.2.5 (bm3d's backend for coloured noise) still calls np.trapz, removed in NumPy
    # 2.4; np.trapezoid is the same function under its new name.
    if not hasattr(np, "trapz"):
        np.trapz = np.trapezoid  # type: ignore[attr-defined]  # noqa: NPY201  (bm4d needs it)
    # bm3d 4.0.3 only accepts a single channel as HxWx1; it returns HxW.
    return bm3d_deblurring(image[..., np.newaxis], sigma, kernel)


@register
class Bm3dDeblur(_DeconvolutionNode[Bm3dDeblurParams]):
    """BM3D deblurring: regularised inverse, then BM3D on its coloured noise.

    ``engine`` picks :func:`pixelwise.restoration.bm3d_deblur` (torch, the default) or the
    non-commercial :func:`bm3d.bm3d_deblurring`. Sigma comes from ``estimate_sigma`` if unset.
    """

    name = "bm3d_deblur"
    description = "BM3D deblurring: regularised inversion followed by BM3D denoising."

    def _deconvolve(
        self, extended: np.ndarray, kernel: np.ndarray, image: np.ndarray
    ) -> np.ndarray:
        sigma = self.params.sigma
        if sigma is None:
            sigma = max(float(estimate_sigma(image)), _MIN_NOISE_SIGMA)
        if self.params.engine == "reference":
            return _reference_bm3d_deblurring(self, extended, sigma, kernel)
        return bm3d_deblur(extended, sigma, kernel, device=torch_device(self, self.params.device))
