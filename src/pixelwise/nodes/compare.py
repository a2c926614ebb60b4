"""Comparison and automatic-choice nodes built on the denoisers of :mod:`pixelwise.nodes.denoise`.

* ``compare_denoisers`` / ``compare_denoisers_reference`` run several denoisers on one image
  and return a labelled side-by-side grid (the input first) and a table with one row per
  tile, flattened to ``"<tile>/<measure>"`` keys: NIQE (and the residual noise level) without
  a reference, PSNR and SSIM against one;
* ``auto_denoise`` picks and tunes a denoiser from the estimated noise level.

All three are in the ``compare`` category, apart from the plain denoisers they drive.

Tables stay ``dict[str, float]`` so that the pipeline writer (JSON) and the ComfyUI pack (a
JSON string) carry them like any other table.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import cv2
import numpy as np
from pydantic import Field, ValidationError, field_validator, model_validator

from pixelwise.config import describe_validation_error
from pixelwise.errors import InputError
from pixelwise.nodes.analysis import NoiseLevel, Psnr, Ssim
from pixelwise.nodes.base import Kind, Node, NodeParams
from pixelwise.nodes.color import join_alpha, split_alpha
from pixelwise.nodes.denoise import BM3D_BLOCK, DeviceName
from pixelwise.nodes.quality import niqe
from pixelwise.nodes.registry import create_node, get_node_class, register

DenoiserName = Literal[
    "gaussian",
    "median",
    "bilateral",
    "nl_means",
    "tv_chambolle",
    "tv_bregman",
    "wavelet",
    "anisotropic_diffusion",
    "bm3d",
    "bm3d_color",
    "noise2self",
]
#: The label of the grid's first tile, the unprocessed input.
INPUT_LABEL = "input"
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_GAP = 2  # pixels between tiles


def _label_band(text: str, width: int, channels: tuple[int, ...]) -> np.ndarray:
    """A black band ``width`` pixels wide holding ``text`` in white, shrunk to fit."""
    (text_width, text_height), baseline = cv2.getTextSize(text, _FONT, 1.0, 1)
    scale = min(0.5, 0.9 * width / text_width)
    height = max(math.ceil((text_height + baseline) * scale) + 6, 8)
    origin = (max((width - int(text_width * scale)) // 2, 0), height - 3 - int(baseline * scale))
    # OpenCV draws text on 8-bit images only: draw a mask, then give it the tiles' channels.
    mask = np.zeros((height, width), np.uint8)
    cv2.putText(mask, text, origin, _FONT, scale, 255, 1, cv2.LINE_AA)
    band = mask.astype(np.float32) / 255.0
    return np.repeat(band[..., None], channels[0], axis=2) if channels else band


def labelled_grid(tiles: dict[str, np.ndarray], columns: int | None = None) -> np.ndarray:
    """Lay equally shaped images out in a grid, each under a band with its label.

    ``tiles`` maps labels to float32 HxW or HxWxC images of one shape, in display order;
    ``columns`` tiles go in a row (all of them when None). Tiles are separated by black
    gaps; pixel values are kept as they are. Returns float32 of shape
    (rows·(band+H) + gaps, columns·W + gaps[, C]).

    Examples
    --------
    >>> import numpy as np
    >>> grid = labelled_grid({"a": np.ones((20, 30), np.float32), "b": np.zeros((20, 30))})
    >>> grid.shape[1], bool(grid[-20:, :30].min() == 1.0)
    (62, True)
    """
    shapes = {tile.shape for tile in tiles.values()}
    if len(shapes) != 1:
        raise ValueError(f"tiles differ in shape: {sorted(shapes)}")
    height, width, *channels = next(iter(shapes))
    bands = {label: _label_band(label, width, tuple(channels)) for label in tiles}
    band_height = max(band.shape[0] for band in bands.values())
    cell_height = band_height + height
    count = len(tiles)
    columns = min(columns or count, count)
    rows = math.ceil(count / columns)
    grid = np.zeros(
        (rows * cell_height + (rows - 1) * _GAP, columns * width + (columns - 1) * _GAP, *channels),
        np.float32,
    )
    for index, (label, tile) in enumerate(tiles.items()):
        top = (index // columns) * (cell_height + _GAP)
        left = (index % columns) * (width + _GAP)
        band = bands[label]
        grid[top + band_height - band.shape[0] : top + band_height, left : left + width] = band
        grid[top + band_height : top + cell_height, left : left + width] = tile
    return grid


class CompareParams(NodeParams):
    methods: tuple[DenoiserName, ...] = Field(
        ("gaussian", "bilateral", "nl_means", "tv_chambolle", "wavelet", "bm3d"),
        min_length=1,
        description="Denoising nodes to run, in display order.",
    )
    method_params: dict[DenoiserName, dict[str, Any]] = Field(
        default_factory=dict,
        description='Parameters per method, e.g. {"bm3d": {"sigma": 0.1}}; others use defaults.',
    )
    columns: int | None = Field(
        None, ge=1, le=32, description="Tiles per grid row; None puts all in one row."
    )

    @field_validator("methods")
    @classmethod
    def _distinct(cls, methods: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(methods)) != len(methods):
            raise ValueError("methods must be distinct")
        return methods

    @model_validator(mode="after")
    def _valid_method_params(self) -> CompareParams:
        for name, params in self.method_params.items():
            if name not in self.methods:
                raise ValueError(f"method_params names '{name}', which is not in methods")
            try:
                get_node_class(name).Params(**params)
            except ValidationError as error:
                raise ValueError(f"method '{name}': {describe_validation_error(error)}") from None
        return self


class _CompareDenoisers(Node[CompareParams]):
    """Shared work of the comparison nodes: run every method, build the grid and the table."""

    category = "compare"
    outputs: ClassVar[dict[str, Kind]] = {"grid": Kind.IMAGE, "table": Kind.TABLE}
    modifies_input = False

    def _results(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """The input and each method's output, by label, in display order."""
        results = {INPUT_LABEL: image}
        for name in self.params.methods:
            node = create_node(name, **self.params.method_params.get(name, {}))
            results[name] = node.run({"image": image})["image"]
        return results

    def _grid(self, results: dict[str, np.ndarray]) -> np.ndarray:
        return labelled_grid(results, self.params.columns)


@register
class CompareDenoisers(_CompareDenoisers):
    """Run several denoisers on one image: a labelled grid and no-reference scores.

    The table has ``"<tile>/niqe"`` (:func:`pixelwise.nodes.quality.niqe`, lower is more
    natural; the image must hold a 96x96 patch) and ``"<tile>/noise_sigma"`` (the noise
    level left, :class:`~pixelwise.nodes.analysis.NoiseLevel`) for the input and each method.
    NIQE is computed on each tile clipped to [0, 1], the range it is defined on.
    """

    name = "compare_denoisers"
    description = "Run several denoisers on one image: labelled grid and NIQE/noise table."

    def process(self, image: np.ndarray) -> dict[str, Any]:
        results = self._results(image)
        table: dict[str, float] = {}
        for label, result in results.items():
            table[f"{label}/niqe"] = niqe(np.clip(result, 0.0, 1.0), source=f"{self.name}.image")
            table[f"{label}/noise_sigma"] = NoiseLevel().process(result)["sigma"]
        return {"grid": self._grid(results), "table": table}


@register
class CompareDenoisersReference(_CompareDenoisers):
    """Run several denoisers on one image: a labelled grid and PSNR/SSIM against a reference.

    The table has ``"<tile>/psnr"`` (dB) and ``"<tile>/ssim"`` for the input and each method,
    measured as the ``psnr`` and ``ssim`` nodes do (data range 1).
    """

    name = "compare_denoisers_reference"
    description = "Run several denoisers on one image: labelled grid and PSNR/SSIM table."
    inputs: ClassVar[dict[str, Kind]] = {"image": Kind.IMAGE, "reference": Kind.IMAGE}

    def process(self, image: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
        psnr, ssim = Psnr(), Ssim()
        # Check the reference before the (slow) denoisers run.
        psnr.process(image, reference)
        results = self._results(image)
        table: dict[str, float] = {}
        for label, result in results.items():
            table[f"{label}/psnr"] = psnr.process(result, reference)["psnr"]
            table[f"{label}/ssim"] = ssim.process(result, reference)["ssim"]
        return {"grid": self._grid(results), "table": table}


#: What auto_denoise may choose; its table has one "method/<name>" entry per choice.
AUTO_METHODS = ("none", "bm3d", "bm3d_color")


class AutoDenoiseParams(NodeParams):
    texture_sigma: float = Field(
        0.012,
        ge=0.0,
        le=1.0,
        description="What the noise estimate reads on clean photographs from texture alone.",
    )
    device: DeviceName = Field("auto", description="Where BM3D runs: 'auto' uses CUDA if present.")


@register
class AutoDenoise(Node[AutoDenoiseParams]):
    """Denoise with the method and strength chosen from the estimated noise level.

    The rule, from the measurements in ``bench/auto_denoise.py``: the noise level is
    estimated (:class:`~pixelwise.nodes.analysis.NoiseLevel`, wavelet MAD, per channel). On
    clean photographs that estimate reads 1.5-2.5/255 from texture alone, and it adds to the
    noise's in quadrature, so ``texture_sigma`` (3/255 by default) is removed in quadrature:
    ``sigma = sqrt(estimate² - texture_sigma²)``, which gains 0.2-0.7 dB at 5/255. An image
    whose estimate does not exceed ``texture_sigma`` is returned unchanged; otherwise BM3D runs
    with that sigma (colour BM3D on RGB, per-channel BM3D on anything else; alpha passes
    through), the best of the classical denoisers at every level measured. A no-reference
    score (NIQE) was tried as the selector among candidates and rejected: it prefers outputs
    that keep noise-like texture (wavelet shrinkage) and loses up to 3.3 dB to this rule. Output
    table: ``noise_sigma`` (estimated), ``sigma`` (given to the denoiser, 0 for none) and a
    one-hot ``method/<name>`` for ``none``, ``bm3d`` and ``bm3d_color``.
    """

    name = "auto_denoise"
    category = "compare"
    description = "Automatic denoising: BM3D at the estimated noise level, or nothing if clean."
    outputs: ClassVar[dict[str, Kind]] = {"image": Kind.IMAGE, "table": Kind.TABLE}

    def process(self, image: np.ndarray) -> dict[str, Any]:
        colour, alpha = split_alpha(image)
        if min(image.shape[:2]) < BM3D_BLOCK:
            raise InputError(
                f"{self.name}.image",
                f"needs both sides at least {BM3D_BLOCK} pixels, got shape {image.shape}",
            )
        estimate = NoiseLevel().process(colour)["sigma"]
        sigma = math.sqrt(max(estimate**2 - self.params.texture_sigma**2, 0.0))
        if sigma == 0.0:
            method, denoised = "none", image
        else:
            method = "bm3d_color" if colour.ndim == 3 and colour.shape[2] == 3 else "bm3d"
            node = create_node(method, sigma=sigma, device=self.params.device)
            denoised = join_alpha(node.run({"image": colour})["image"], alpha)
        table = {"noise_sigma": estimate, "sigma": sigma}
        table.update({f"method/{name}": float(name == method) for name in AUTO_METHODS})
        return {"image": denoised, "table": table}


__all__ = [
    "AUTO_METHODS",
    "INPUT_LABEL",
    "AutoDenoise",
    "CompareDenoisers",
    "CompareDenoisersReference",
    "CompareParams",
    "DenoiserName",
    "labelled_grid",
]
