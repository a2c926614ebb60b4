"""No-reference image quality: NIQE, the Natural Image Quality Evaluator.

NIQE (Mittal, Soundararajan & Bovik, IEEE SPL 2013) scores an image by how far the statistics
of its locally normalised luminance lie from those of pristine natural photographs; lower is
better, and blur and noise raise it. It is written here because no library usable offline
has it: OpenCV's contrib ``quality`` module (opencv-contrib-python-headless, which overwrites
the headless build's ``cv2`` package) has BRISQUE only, and its wheel lacks the trained model
and range files BRISQUE needs; piq and pyiqa need torchvision and download their models;
scikit-video's NIQE uses ``np.int`` and ``scipy.misc.imresize``, gone from NumPy 2 and SciPy;
the ``brisque`` package fails on NumPy 2 arrays.

Features (36 per patch, on two scales: the image and its 2x2 mean downsample) are the
generalised Gaussian fit (shape, variance) of the mean-subtracted contrast-normalised (MSCN)
coefficients and the asymmetric generalised Gaussian fit (shape, mean, left and right
variances) of the products of horizontally, vertically and diagonally neighbouring MSCN
coefficients. A multivariate Gaussian fitted to the features of the sharpest patches of
pristine images is the model (:func:`fit_pristine_model`; the shipped one comes from
``bench/niqe_pristine.py``, on scikit-image's CC0/public-domain photographs, and records its
provenance); the score is the Mahalanobis-like distance between it and the Gaussian of the
test image's patches.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
from scipy import special

from pixelwise.errors import InputError
from pixelwise.nodes.base import Kind, Node, NodeParams
from pixelwise.nodes.color import luminance
from pixelwise.nodes.registry import register

#: Local mean/deviation window of the MSCN transform: Gaussian, sigma 7/6 over 7x7 pixels.
MSCN_SIGMA = 7.0 / 6.0
_MSCN_WINDOW = 7
#: Stabilising constant of the MSCN division, for luminance on the 0..255 scale of the paper.
_MSCN_C = 1.0
#: Generalised Gaussian shapes searched by the moment-matching fits.
_SHAPES = np.arange(0.2, 10.0, 0.001)
_PAIR_OFFSETS = ((0, 1), (1, 0), (1, 1), (1, -1))  # horizontal, vertical, two diagonals
FEATURES_PER_SCALE = 2 + 4 * len(_PAIR_OFFSETS)
MODEL_FILE = "niqe_pristine.npz"
#: Patches whose mean local deviation (0..255) is below this are flat: they carry no statistics.
_FLAT_SHARPNESS = 1e-3


def _moment_ratio(shape: np.ndarray) -> np.ndarray:
    """E[x²] / E[|x|]² of a zero-mean generalised Gaussian with ``shape``: Γ(1/a)Γ(3/a)/Γ(2/a)²."""
    return np.exp(
        special.gammaln(1 / shape) + special.gammaln(3 / shape) - 2 * special.gammaln(2 / shape)
    )


# The ratio falls with the shape; reversed, it is increasing, as np.interp needs.
_RATIOS = _moment_ratio(_SHAPES)[::-1]
_RATIO_SHAPES = _SHAPES[::-1]


def _shape_from_ratio(ratio: np.ndarray) -> np.ndarray:
    """Invert :func:`_moment_ratio` by table look-up (clamped to the table's shapes)."""
    return np.interp(ratio, _RATIOS, _RATIO_SHAPES)


def mscn(plane: np.ndarray) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients of an HxW luminance on 0..255.

    ``(I - mu) / (sigma + 1)``, with ``mu`` and ``sigma`` the Gaussian-weighted local mean and
    standard deviation. Returns float64 HxW.

    Examples
    --------
    >>> import numpy as np
    >>> coefficients = mscn(np.random.default_rng(0).uniform(0, 255, (32, 32)))
    >>> coefficients.shape, bool(abs(coefficients.mean()) < 0.1)
    ((32, 32), True)
    """
    return _mscn_and_deviation(np.asarray(plane, dtype=np.float64))[0]


def _mscn_and_deviation(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MSCN coefficients of a float64 HxW plane, and its local standard deviation."""
    mean = _local_mean(plane)
    deviation = np.sqrt(np.abs(_local_mean(plane * plane) - mean * mean))
    return (plane - mean) / (deviation + _MSCN_C), deviation


def _local_mean(plane: np.ndarray) -> np.ndarray:
    """Gaussian-weighted local mean over the MSCN window, replicating the border."""
    return cv2.GaussianBlur(
        plane, (_MSCN_WINDOW, _MSCN_WINDOW), MSCN_SIGMA, borderType=cv2.BORDER_REPLICATE
    )


def _ggd_features(samples: np.ndarray) -> np.ndarray:
    """Shape and variance of a zero-mean generalised Gaussian per row of ``samples`` (N, M)."""
    variance = np.mean(samples * samples, axis=1)
    mean_abs = np.mean(np.abs(samples), axis=1)
    shape = _shape_from_ratio(variance / np.maximum(mean_abs * mean_abs, 1e-30))
    return np.stack([shape, variance], axis=1)


def _aggd_features(samples: np.ndarray) -> np.ndarray:
    """Shape, mean, left and right variances of an asymmetric GGD per row of ``samples``."""
    negative, positive = samples < 0, samples > 0
    square = samples * samples
    left = np.sum(square * negative, axis=1) / np.maximum(negative.sum(axis=1), 1)
    right = np.sum(square * positive, axis=1) / np.maximum(positive.sum(axis=1), 1)
    left_std, right_std = np.sqrt(left), np.sqrt(right)
    gamma = left_std / np.maximum(right_std, 1e-30)
    mean_abs = np.mean(np.abs(samples), axis=1)
    r_hat = mean_abs * mean_abs / np.maximum(np.mean(square, axis=1), 1e-30)
    big_r = r_hat * (gamma**3 + 1) * (gamma + 1) / (gamma * gamma + 1) ** 2
    shape = _shape_from_ratio(1.0 / np.maximum(big_r, 1e-30))
    log_g1, log_g2, log_g3 = (special.gammaln(k / shape) for k in (1, 2, 3))
    mean = (right_std - left_std) * np.exp(log_g2 - log_g1 + 0.5 * (log_g1 - log_g3))
    return np.stack([shape, mean, left, right], axis=1)


def _patches(array: np.ndarray, size: int) -> np.ndarray:
    """Non-overlapping ``size``² patches of an HxW array (cropped to whole patches): (N, s, s)."""
    rows, cols = array.shape[0] // size, array.shape[1] // size
    tiled = array[: rows * size, : cols * size].reshape(rows, size, cols, size)
    return tiled.transpose(0, 2, 1, 3).reshape(rows * cols, size, size)


def _scale_features(plane: np.ndarray, patch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The 18 features of every patch of one scale, and each patch's sharpness (mean sigma)."""
    coefficients, deviation = _mscn_and_deviation(plane)
    blocks = _patches(coefficients, patch_size)
    count = blocks.shape[0]
    features = [_ggd_features(blocks.reshape(count, -1))]
    for dy, dx in _PAIR_OFFSETS:
        first = blocks[:, : patch_size - dy, max(-dx, 0) : patch_size - max(dx, 0)]
        second = blocks[:, dy:, max(dx, 0) : patch_size - max(-dx, 0)]
        features.append(_aggd_features((first * second).reshape(count, -1)))
    sharpness = _patches(deviation, patch_size).reshape(count, -1).mean(axis=1)
    return np.concatenate(features, axis=1), sharpness


def patch_features(
    image: np.ndarray, patch_size: int = 96, source: str = "image"
) -> tuple[np.ndarray, np.ndarray]:
    """NIQE features of every ``patch_size``² patch of ``image``, and the patches' sharpness.

    ``image`` is HxW or HxWxC in [0, 1] (colour is reduced to luminance, alpha ignored). It is
    cropped to whole patches; the second scale is its 2x2 mean downsample with half-size
    patches. Returns float64 arrays of shape (N, 36) and (N,): sharpness is the mean local
    standard deviation of a patch, on 0..255. Raises :class:`InputError` naming ``source`` when
    the image holds no whole patch.

    Examples
    --------
    >>> import numpy as np
    >>> features, sharpness = patch_features(np.random.default_rng(0).random((96, 200)))
    >>> features.shape, sharpness.shape
    ((2, 36), (2,))
    """
    plane = np.asarray(luminance(np.asarray(image)), dtype=np.float64) * 255.0
    if min(plane.shape) < patch_size:
        raise InputError(
            source,
            f"image is {plane.shape[0]}x{plane.shape[1]}, smaller than one "
            f"{patch_size}x{patch_size} NIQE patch",
        )
    rows = plane.shape[0] // patch_size * patch_size
    cols = plane.shape[1] // patch_size * patch_size
    plane = plane[:rows, :cols]
    fine, sharpness = _scale_features(plane, patch_size)
    half = cv2.resize(plane, (cols // 2, rows // 2), interpolation=cv2.INTER_AREA)
    coarse, _ = _scale_features(half, patch_size // 2)
    return np.concatenate([fine, coarse], axis=1), sharpness


@dataclass(frozen=True)
class PristineModel:
    """A multivariate Gaussian of NIQE features: mean (36,), covariance (36, 36), patch size."""

    mean: np.ndarray
    covariance: np.ndarray
    patch_size: int
    provenance: str = ""

    def save(self, path: Path) -> None:
        """Write the model as a ``.npz`` (mean, covariance, patch_size, provenance)."""
        np.savez(
            path,
            mean=self.mean,
            covariance=self.covariance,
            patch_size=np.int64(self.patch_size),
            provenance=np.str_(self.provenance),
        )

    @classmethod
    def load(cls, path: Path) -> PristineModel:
        """Read a model written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            return cls(
                mean=data["mean"],
                covariance=data["covariance"],
                patch_size=int(data["patch_size"]),
                provenance=str(data["provenance"]),
            )


def fit_pristine_model(
    images: list[np.ndarray],
    patch_size: int = 96,
    sharpness_fraction: float = 0.75,
    provenance: str = "",
) -> PristineModel:
    """Fit the NIQE pristine model to the sharpest patches of ``images`` (each HxW[xC], [0, 1]).

    Of each image, the patches whose sharpness exceeds ``sharpness_fraction`` times the
    image's sharpest patch are kept, as in the paper, so defocused backgrounds do not count.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> model = fit_pristine_model([rng.random((192, 192)) for _ in range(4)], patch_size=48)
    >>> model.mean.shape, model.covariance.shape
    ((36,), (36, 36))
    """
    selected = []
    for index, image in enumerate(images):
        features, sharpness = patch_features(image, patch_size, f"pristine image {index}")
        selected.append(features[sharpness > sharpness_fraction * sharpness.max()])
    stacked = np.concatenate(selected)
    return PristineModel(
        stacked.mean(axis=0), np.cov(stacked, rowvar=False), patch_size, provenance
    )


@lru_cache(maxsize=1)
def shipped_model() -> PristineModel:
    """The pristine model shipped with pixelwise (fitted by ``bench/niqe_pristine.py``)."""
    with resources.as_file(resources.files("pixelwise.nodes") / "data" / MODEL_FILE) as path:
        return PristineModel.load(path)


def niqe(image: np.ndarray, model: PristineModel | None = None, source: str = "image") -> float:
    """NIQE score of ``image`` (HxW or HxWxC in [0, 1]); lower means more natural.

    The image's patch features (patches with no contrast at all, such as a clipped region,
    carry no statistics and are skipped) are fitted with a Gaussian and compared with
    ``model`` (default: :func:`shipped_model`). One patch gives a zero covariance. Raises
    :class:`InputError` naming ``source`` for an image smaller than one patch or without any
    patch holding contrast (a constant image).

    Examples
    --------
    >>> from skimage import data, filters
    >>> camera = data.camera()[:192, :192] / 255.0
    >>> bool(niqe(filters.gaussian(camera, 2.0)) > niqe(camera))
    True
    """
    model = model or shipped_model()
    features, sharpness = patch_features(image, model.patch_size, source)
    features = features[sharpness > _FLAT_SHARPNESS]
    if features.shape[0] == 0:
        raise InputError(source, "image has no contrast (constant); NIQE is undefined")
    mean = features.mean(axis=0)
    covariance = (
        np.cov(features, rowvar=False) if features.shape[0] > 1 else np.zeros_like(model.covariance)
    )
    difference = model.mean - mean
    pooled = np.linalg.pinv((model.covariance + covariance) / 2.0)
    return float(np.sqrt(max(difference @ pooled @ difference, 0.0)))


@register
class Niqe(Node[NodeParams]):
    """NIQE no-reference quality (see :func:`niqe`); lower is more natural.

    Colour images are scored on their luminance. The image must hold at least one 96x96
    patch. Output: ``{"niqe": ...}``.
    """

    name = "niqe"
    category = "analysis"
    description = "NIQE: no-reference naturalness score (lower is better)."
    outputs: ClassVar[dict[str, Kind]] = {"table": Kind.TABLE}
    modifies_input = False

    def process(self, image: np.ndarray) -> dict[str, float]:
        return {"niqe": niqe(image, source=f"{self.name}.image")}


__all__ = [
    "FEATURES_PER_SCALE",
    "MODEL_FILE",
    "Niqe",
    "PristineModel",
    "fit_pristine_model",
    "mscn",
    "niqe",
    "patch_features",
    "shipped_model",
]
