"""Sharpening nodes.

``unsharp_mask`` is the classic filter (:func:`skimage.filters.unsharp_mask`), applied to each
channel. ``smart_sharpen`` restricts it to edges and suppresses its halos: it sharpens only
where the Sobel gradient magnitude exceeds a threshold (so flat, noisy areas are left exactly
as they were) and clamps the result to the minimum and maximum of a small neighbourhood of the
input (so edges get steeper without the bright and dark overshoot rims). On colour images it
sharpens the Lab lightness only, so hues and saturations do not shift.

The other sharpeners work on lightness the same way (:func:`sharpen_lightness`):
``guided_sharpen`` adds back the detail a self-guided :func:`guided_filter` removes (strong
edges are kept in its base, so they are hardly boosted), ``edge_directional_sharpen`` steepens
edges across their structure-tensor direction only, ``laplacian_sharpen`` gives each
Laplacian-pyramid level its own gain, and ``auto_sharpen`` picks one of these three from the
image's noise level and edge density and says which in its table output.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, model_validator
from scipy import ndimage
from skimage.color import lab2rgb, rgb2lab
from skimage.feature import structure_tensor
from skimage.filters import sobel, unsharp_mask
from skimage.transform import pyramid_reduce, resize

from pixelwise.nodes.analysis import NoiseLevel
from pixelwise.nodes.base import ChannelPolicy, Kind, Node, NodeParams
from pixelwise.nodes.color import luminance
from pixelwise.nodes.registry import register

_LAB_LIGHTNESS_MAX = 100.0
"""Lab L of white; L is divided by it so that thresholds are in [0, 1] image units."""

_TENSOR_EPS = 1e-12
"""Added to the structure tensor's trace so flat (all-zero tensor) areas get coherence 0."""


def sharpen_lightness(image: np.ndarray, sharpen: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply ``sharpen`` (HxW -> HxW) to gray levels, or to the Lab lightness of RGB.

    Lightness is scaled to [0, 1] for ``sharpen`` so that its thresholds are in image units;
    a 2nd or 4th channel is alpha and is kept as is. Pixels whose lightness ``sharpen``
    leaves unchanged keep their exact RGB values rather than a Lab round trip's.

    Parameters
    ----------
    image : ndarray
        HxW or HxWxC float32 image, C in 1..4.
    sharpen : callable
        Maps an HxW float array to a sharpened one of the same shape.

    Returns
    -------
    ndarray
        The sharpened image, shape and dtype of ``image``.

    Examples
    --------
    >>> import numpy as np
    >>> rgb = np.full((4, 4, 3), 0.5, np.float32)
    >>> brighter = sharpen_lightness(rgb, lambda lightness: lightness + 0.1)
    >>> brighter.shape, bool(np.allclose(brighter[..., 0], brighter[..., 2], atol=1e-3))
    ((4, 4, 3), True)
    """
    if image.ndim == 2:
        return sharpen(image).astype(image.dtype, copy=False)
    result = image.copy()
    if image.shape[2] < 3:
        result[..., 0] = sharpen(image[..., 0])
        return result
    rgb = image[..., :3]
    lab = rgb2lab(rgb)
    lightness = lab[..., 0] / _LAB_LIGHTNESS_MAX
    sharpened = sharpen(lightness)
    lab[..., 0] = sharpened * _LAB_LIGHTNESS_MAX
    changed = (sharpened != lightness)[..., np.newaxis]
    with warnings.catch_warnings():
        # Steeper edges of saturated colours can leave the sRGB gamut; lab2rgb clips them.
        warnings.filterwarnings("ignore", "Conversion from CIE-LAB", UserWarning)
        result[..., :3] = np.where(changed, lab2rgb(lab), rgb)
    return result


class UnsharpMaskParams(NodeParams):
    """Parameters of ``unsharp_mask``, shared by ``smart_sharpen``."""

    radius: float = Field(1.0, gt=0, le=50, description="Gaussian sigma of the blur subtracted.")
    amount: float = Field(1.0, ge=0, le=10, description="Strength: detail is added amount times.")


@register
class UnsharpMask(Node[UnsharpMaskParams]):
    """Per-channel :func:`skimage.filters.unsharp_mask`, unclipped."""

    name = "unsharp_mask"
    category = "sharpen"
    modifies_input = False
    preserves_finite = True  # a linear filter of gain at most 1 + 2 amount
    description = "Unsharp masking: add back the difference between the image and its blur."
    channels: ClassVar[ChannelPolicy] = "per_channel"

    def process(self, image: np.ndarray) -> np.ndarray:
        return unsharp_mask(
            image, radius=self.params.radius, amount=self.params.amount, preserve_range=True
        )


class SmartSharpenParams(UnsharpMaskParams):
    threshold: float = Field(
        0.02,
        ge=0,
        le=1,
        description=(
            "Sharpen only where the Sobel gradient magnitude (skimage.filters.sobel; a unit "
            "step scores 0.71) exceeds this; 0 sharpens everywhere."
        ),
    )
    halo_radius: int = Field(
        1,
        ge=0,
        le=10,
        description=(
            "Clamp the result to the input's min/max over a (2r+1)^2 neighbourhood; "
            "0 disables halo control."
        ),
    )


@register
class SmartSharpen(Node[SmartSharpenParams]):
    """Edge-masked, halo-clamped unsharp masking of gray levels or Lab lightness."""

    name = "smart_sharpen"
    category = "sharpen"
    description = "Edge-aware unsharp masking with halo control, on lightness for colour images."
    channels: ClassVar[ChannelPolicy] = "any"

    def process(self, image: np.ndarray) -> np.ndarray:
        """Sharpen HxW or HxWxC float32; a 2nd or 4th channel is alpha and is kept as is."""
        return sharpen_lightness(image, self._sharpen)

    def _sharpen(self, channel: np.ndarray) -> np.ndarray:
        """Edge-masked, halo-clamped unsharp mask of one HxW channel."""
        params = self.params
        sharpened = unsharp_mask(
            channel, radius=params.radius, amount=params.amount, preserve_range=True
        )
        if params.halo_radius:
            size = 2 * params.halo_radius + 1
            sharpened = np.clip(
                sharpened,
                ndimage.minimum_filter(channel, size=size),
                ndimage.maximum_filter(channel, size=size),
            )
        return np.where(sobel(channel) > params.threshold, sharpened, channel)


def guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Edge-preserving smoothing of ``source`` steered by ``guide`` (He, Sun & Tang 2013).

    In each (2r+1)^2 window the output is the linear function ``a * guide + b`` that best fits
    ``source`` with the ridge penalty ``eps a²``; the coefficients are averaged over the
    windows covering a pixel. Where the guide varies much more than ``eps`` (variance), the
    output follows it, so edges stay; where it varies less, the output is the local mean.
    Box means are :func:`scipy.ndimage.uniform_filter` with mirrored borders, so any image
    size works (OpenCV's ``ximgproc.guidedFilter`` needs the contrib build, which is not
    installed beside the headless one).

    Parameters
    ----------
    guide, source : ndarray
        HxW float arrays of the same shape.
    radius : int
        Window radius in pixels, at least 1.
    eps : float
        Regularisation, in squared image units (a variance), positive.

    Returns
    -------
    ndarray
        HxW float64 filtered ``source``.

    Examples
    --------
    >>> import numpy as np
    >>> step = np.repeat([[0.0] * 4 + [1.0] * 4], 8, axis=0)
    >>> smoothed = guided_filter(step, step, radius=2, eps=1e-4)
    >>> bool(np.abs(smoothed - step).max() < 0.01)  # the edge is kept
    True
    >>> flat = guided_filter(step, step, radius=2, eps=10.0)  # eps >> variance
    >>> round(float(flat[0, 3]), 2)  # nearly the 5x5 box mean there, 0.4
    0.39
    """
    size = 2 * radius + 1
    guide = guide.astype(np.float64)
    source = source.astype(np.float64)

    def mean(values: np.ndarray) -> np.ndarray:
        return ndimage.uniform_filter(values, size=size, mode="mirror")

    mean_guide, mean_source = mean(guide), mean(source)
    covariance = mean(guide * source) - mean_guide * mean_source
    variance = np.maximum(mean(guide * guide) - mean_guide**2, 0.0)
    slope = covariance / (variance + eps)
    offset = mean_source - slope * mean_guide
    return mean(slope) * guide + mean(offset)


class GuidedSharpenParams(NodeParams):
    radius: int = Field(2, ge=1, le=32, description="Guided-filter window radius in pixels.")
    eps: float = Field(
        0.01,
        gt=0,
        le=1,
        description=(
            "Guided-filter regularisation (a variance): edges whose local variance is well "
            "above it count as structure and are hardly boosted (no halos there)."
        ),
    )
    amount: float = Field(1.5, ge=0, le=10, description="Strength: detail is added amount times.")


@register
class GuidedSharpen(Node[GuidedSharpenParams]):
    """Guided-filter sharpening: boost the detail a self-guided filter removes.

    The base layer is :func:`guided_filter` of the image by itself; the detail
    ``image - base`` is added back ``amount`` times. Unsharp masking is linear: every edge
    gets the same relative boost and strong edges the largest halos. The guided base keeps
    edges whose local variance is far above ``eps``, so strong edges are left nearly as they
    are while low-contrast detail is lifted (on a blurred step of contrast 0.05 the slope
    rises 1.6x, of contrast 0.8 not at all). Colour: Lab lightness only.
    """

    name = "guided_sharpen"
    category = "sharpen"
    description = "Guided-filter sharpening: lift faint detail over an edge-keeping base."
    modifies_input = False

    def process(self, image: np.ndarray) -> np.ndarray:
        params = self.params

        def sharpen(plane: np.ndarray) -> np.ndarray:
            base = guided_filter(plane, plane, params.radius, params.eps)
            return plane + params.amount * (plane - base)

        return sharpen_lightness(image, sharpen)


class EdgeDirectionalParams(NodeParams):
    sigma: float = Field(
        1.0, gt=0, le=10, description="Scale in pixels of the second derivative that sharpens."
    )
    tensor_sigma: float = Field(
        2.0, gt=0, le=20, description="Integration scale in pixels of the structure tensor."
    )
    amount: float = Field(1.5, ge=0, le=10, description="Strength of the directional boost.")


@register
class EdgeDirectionalSharpen(Node[EdgeDirectionalParams]):
    """Edge-directional sharpening: steepen edges across their direction only.

    The structure tensor (:func:`skimage.feature.structure_tensor`) gives each pixel its
    dominant gradient direction ``n`` and a coherence ``((l1 - l2) / (l1 + l2))²`` (1 on a
    straight edge, near 0 in isotropic noise or flat areas). The image is sharpened by
    subtracting its Gaussian second derivative along ``n``:
    ``image - amount sigma² coherence d²I/dn²``, a one-dimensional unsharp mask across the
    edge that leaves the edge's own direction (and so its noise) alone. Flat, noisy regions
    have low coherence and are barely touched. Colour: Lab lightness only. An image one
    pixel high or wide has no 2-D direction and is returned as it is.
    """

    name = "edge_directional_sharpen"
    category = "sharpen"
    description = "Sharpen across edges only, weighted by structure-tensor coherence."
    modifies_input = False

    def process(self, image: np.ndarray) -> np.ndarray:
        return sharpen_lightness(image, self._sharpen)

    def _sharpen(self, plane: np.ndarray) -> np.ndarray:
        params = self.params
        if min(plane.shape) < 2:  # a single row or column: no 2-D structure tensor
            return plane
        values = plane.astype(np.float64)
        t_rr, t_rc, t_cc = structure_tensor(values, sigma=params.tensor_sigma, order="rc")
        spread = np.hypot(t_rr - t_cc, 2.0 * t_rc)  # l1 - l2
        coherence = (spread / (t_rr + t_cc + _TENSOR_EPS)) ** 2
        angle = 0.5 * np.arctan2(2.0 * t_rc, t_rr - t_cc)  # of n, in (row, col) axes
        cos, sin = np.cos(angle), np.sin(angle)
        derivative = {
            order: ndimage.gaussian_filter(values, params.sigma, order=order, mode="mirror")
            for order in ((2, 0), (1, 1), (0, 2))
        }
        along_n = (
            cos**2 * derivative[(2, 0)]
            + 2.0 * cos * sin * derivative[(1, 1)]
            + sin**2 * derivative[(0, 2)]
        )
        return values - params.amount * params.sigma**2 * coherence * along_n


class LaplacianSharpenParams(NodeParams):
    gains: tuple[float, ...] = Field(
        (1.8, 1.4, 1.2),
        min_length=1,
        max_length=8,
        description="Detail gain of each Laplacian-pyramid level, finest first.",
    )
    coring: float = Field(
        0.005,
        ge=0,
        le=0.5,
        description=(
            "Detail smaller than about this (image units) keeps gain 1, so faint noise is "
            "not amplified; 0 boosts all detail."
        ),
    )

    @model_validator(mode="after")
    def _in_range(self) -> LaplacianSharpenParams:
        if not all(0 <= gain <= 10 for gain in self.gains):
            raise ValueError("every gain must be in [0, 10]")
        return self


def laplacian_pyramid(plane: np.ndarray, levels: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Laplacian pyramid of ``plane``: up to ``levels`` detail layers (finest first), residual.

    Each level halves the size (:func:`skimage.transform.pyramid_reduce`, Gaussian
    anti-aliasing) and keeps the detail ``finer - expand(coarser)``, ``expand`` being
    bilinear upsampling to the finer shape; the pyramid stops early once a side would fall
    below 2 pixels. :func:`collapse_laplacian_pyramid` inverts it exactly.

    Parameters
    ----------
    plane : ndarray
        HxW float image.
    levels : int
        Most detail layers to make.

    Returns
    -------
    details : list of ndarray
        float64 detail layers, finest (HxW) first.
    residual : ndarray
        The coarsest float64 low-pass image.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.random.default_rng(0).random((20, 13))
    >>> details, residual = laplacian_pyramid(image, 3)
    >>> [detail.shape for detail in details], residual.shape
    ([(20, 13), (10, 7), (5, 4)], (3, 2))
    >>> bool(np.allclose(collapse_laplacian_pyramid(details, residual), image))
    True
    """
    details = []
    current = plane.astype(np.float64)
    for _ in range(levels):
        if min(current.shape) < 4:
            break
        coarse = pyramid_reduce(current, downscale=2, preserve_range=True)
        details.append(current - _expand(coarse, current.shape))
        current = coarse
    return details, current


def collapse_laplacian_pyramid(details: list[np.ndarray], residual: np.ndarray) -> np.ndarray:
    """Rebuild the image from :func:`laplacian_pyramid`'s layers (see its example).

    Parameters
    ----------
    details : list of ndarray
        Detail layers, finest first.
    residual : ndarray
        The coarsest low-pass image.

    Returns
    -------
    ndarray
        float64 image of the finest layer's shape.

    Examples
    --------
    >>> import numpy as np
    >>> collapse_laplacian_pyramid([], np.ones((2, 2))).shape
    (2, 2)
    """
    current = residual
    for detail in reversed(details):
        current = _expand(current, detail.shape) + detail
    return current


def _expand(coarse: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Bilinear upsampling of ``coarse`` to ``shape`` (no smoothing, values kept)."""
    return resize(coarse, shape, order=1, mode="edge", anti_aliasing=False, preserve_range=True)


@register
class LaplacianSharpen(Node[LaplacianSharpenParams]):
    """Multi-scale Laplacian sharpening: a detail gain per Laplacian-pyramid level.

    Detail ``d`` of level ``k`` becomes ``d (1 + (g_k - 1)(1 - exp(-(d / coring)²)))``: gain
    ``g_k`` for clear detail, gain 1 for detail at the noise floor. Boosting several scales
    sharpens fine texture and raises local contrast at once; the pyramid is rebuilt exactly,
    so gains of 1 give the image back. Images too small for every level use the levels they
    have. Colour: Lab lightness only.
    """

    name = "laplacian_sharpen"
    category = "sharpen"
    description = "Multi-scale sharpening: detail gains per Laplacian-pyramid level."
    modifies_input = False

    def process(self, image: np.ndarray) -> np.ndarray:
        return sharpen_lightness(image, self._sharpen)

    def _sharpen(self, plane: np.ndarray) -> np.ndarray:
        gains, coring = self.params.gains, self.params.coring
        details, residual = laplacian_pyramid(plane, len(gains))
        boosted = []
        for gain, detail in zip(gains, details, strict=False):
            weight = 1.0 - np.exp(-((detail / coring) ** 2)) if coring > 0 else 1.0
            boosted.append(detail * (1.0 + (gain - 1.0) * weight))
        return collapse_laplacian_pyramid(boosted, residual)


AUTO_METHODS: tuple[type[Node[Any]], ...] = (
    GuidedSharpen,
    EdgeDirectionalSharpen,
    LaplacianSharpen,
)
"""The sharpeners ``auto_sharpen`` chooses from; its table's ``method`` is an index here."""


class AutoSharpenParams(NodeParams):
    noise_threshold: float = Field(
        0.015,
        gt=0,
        le=1,
        description="Estimated noise sigma above which only edges are sharpened.",
    )
    edge_threshold: float = Field(
        0.05,
        gt=0,
        le=1,
        description="Sobel magnitude above which a pixel counts as edge or texture.",
    )
    density_threshold: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="Share of edge pixels above which an image counts as textured.",
    )


@register
class AutoSharpen(Node[AutoSharpenParams]):
    """Advanced sharpening that picks its method from the image (on luminance).

    The rule, in order:

    1. noise sigma (``noise_level``'s wavelet estimate) above ``noise_threshold``:
       ``edge_directional_sharpen``, which sharpens coherent edges and leaves noise alone;
    2. else, share of pixels whose Sobel magnitude exceeds ``edge_threshold`` (edge density)
       above ``density_threshold``, a textured image: ``laplacian_sharpen``, which lifts
       detail at every scale;
    3. else, a clean image of smooth areas and sparse edges: ``guided_sharpen``, which
       lifts the faint detail and leaves the few strong edges nearly as they are.

    Each runs with its default parameters. The table output says what was chosen:
    ``method`` (0 ``guided_sharpen``, 1 ``edge_directional_sharpen``, 2
    ``laplacian_sharpen``: the index into :data:`AUTO_METHODS`), and the measured
    ``noise_sigma`` and ``edge_density``.
    """

    name = "auto_sharpen"
    category = "sharpen"
    description = "Pick a sharpener from noise level and edge density, and apply it."
    outputs: ClassVar[dict[str, Kind]] = {"image": Kind.IMAGE, "table": Kind.TABLE}
    modifies_input = False

    def process(self, image: np.ndarray) -> dict[str, Any]:
        params = self.params
        luma = luminance(image)
        # A constant image has neither noise nor edges (the wavelet estimate would be 0 / 0).
        noise_sigma = NoiseLevel().process(luma)["sigma"] if np.ptp(luma) > 0 else 0.0
        edge_density = float(np.mean(sobel(luma) > params.edge_threshold))
        if noise_sigma > params.noise_threshold:
            method: type[Node[Any]] = EdgeDirectionalSharpen
        elif edge_density > params.density_threshold:
            method = LaplacianSharpen
        else:
            method = GuidedSharpen
        table = {
            "method": float(AUTO_METHODS.index(method)),
            "noise_sigma": noise_sigma,
            "edge_density": edge_density,
        }
        return {"image": method().process(image), "table": table}
