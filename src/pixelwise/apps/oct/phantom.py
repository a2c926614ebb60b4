"""Synthetic retinal B-scans with exact ILM and BM ground truth.

No annotated OCT ships offline, so the demo, the tests and the benchmarks train on phantoms:
a curved, tilted retina with a foveal pit and ten layers of different reflectivity above
Bruch's membrane, a textured choroid and a fading sclera below it, vessel shadows,
multiplicative gamma speckle with an additive Rayleigh noise floor, lateral intensity drift
and vignetting, log compression (32 dB shown) and 8-bit quantisation. Optional pathology:
drusen (the RPE lifted off an unmoved BM, hyporeflective material in between) and
intraretinal fluid pockets.

Every pixel is rendered with its partial volume (the share of the pixel each layer covers),
so boundaries are sub-pixel in the image as in the ground truth. Scan ``i`` of a set with
seed ``s`` depends on ``(s, i)`` only.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.ndimage import gaussian_filter, gaussian_filter1d

from pixelwise.apps.oct.layout import OctData

#: Reflectivity of the retinal layers from the ILM down to the RPE (RNFL, GCL, IPL, INL, OPL,
#: ONL, ELM/IS, IS/OS, OS, RPE), and the share of the retina's thickness each takes away from
#: the fovea. The inner four thin out in the foveal pit.
_LAYERS = np.array([0.85, 0.45, 0.6, 0.25, 0.55, 0.15, 0.5, 0.8, 0.3, 0.95])
_SHARES = np.array([0.12, 0.13, 0.11, 0.09, 0.07, 0.2, 0.05, 0.06, 0.08, 0.09])
_INNER = 4
_VITREOUS, _DRUSEN, _FLUID = 0.02, 0.35, 0.03


class PhantomConfig(BaseModel):
    """Size, scale, anatomy variation, noise and pathology of synthetic B-scans."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    height: int = Field(496, ge=32, le=4096, description="rows (Spectralis / Duke DME: 496)")
    width: int = Field(768, ge=32, le=8192, description="columns (A-scans)")
    scale_axial_um: float = Field(3.87, gt=0, description="µm per row")
    scale_lateral_um: float = Field(11.3, gt=0, description="µm per column at this width")
    thickness: tuple[float, float] = Field(
        (0.22, 0.32), description="retinal thickness range, as a share of the height"
    )
    tilt: float = Field(0.15, ge=0, le=1, description="largest BM rise across the scan / height")
    curvature: float = Field(0.2, ge=0, le=1, description="largest BM bow / height")
    fovea_probability: float = Field(0.7, ge=0, le=1)
    vessels: tuple[int, int] = Field((0, 4), description="range of vessel shadows per scan")
    speckle_shape: tuple[float, float] = Field(
        (1.5, 3.0), description="gamma shape of the speckle (lower: stronger speckle)"
    )
    noise_floor: tuple[float, float] = Field((0.01, 0.04), description="Rayleigh floor sigma")
    vignetting: float = Field(0.35, ge=0, lt=1, description="largest edge dimming")
    drift: float = Field(0.15, ge=0, lt=1, description="lateral gain variation (std)")
    drusen_probability: float = Field(0.3, ge=0, le=1)
    drusen_height: tuple[float, float] = Field(
        (0.01, 0.04), description="drusen height range, as a share of the height"
    )
    fluid_probability: float = Field(0.0, ge=0, le=1)


def _covered(edge: np.ndarray, height: int) -> np.ndarray:
    """Share of each pixel ``(H, W)`` lying above the per-column row ``edge`` ``(W,)``."""
    rows = np.arange(height, dtype=np.float64)[:, None]
    return np.clip(edge[None, :] - rows + 0.5, 0.0, 1.0)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Zero-mean, unit-std Gaussian-filtered noise."""
    field = gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return field / max(float(field.std()), 1e-12)


def _bump(x: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - centre) / width) ** 2)


def simulate_bscan(
    config: PhantomConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One B-scan uint8 ``(H, W)`` and its ILM and BM rows float32 ``(2, W)``.

    Examples
    --------
    >>> image, rows = simulate_bscan(PhantomConfig(height=64, width=48), np.random.default_rng(0))
    >>> image.dtype, image.shape, bool((rows[0] < rows[1]).all())
    (dtype('uint8'), (64, 48), True)
    """
    h, w = config.height, config.width
    x = (np.arange(w) - (w - 1) / 2) / w  # -0.5 .. 0.5
    # Bruch's membrane: tilted, bowed, gently undulating.
    bm = (
        rng.uniform(0.58, 0.68) * h
        + rng.uniform(-1, 1) * config.tilt * h * x
        + rng.uniform(-0.5, 1) * config.curvature * h * (x**2 - 1 / 12)
        + 0.01 * h * gaussian_filter1d(rng.standard_normal(w), w / 10, mode="nearest") * 3
    )
    total = rng.uniform(*config.thickness) * h
    pit = np.zeros(w)
    if rng.random() < config.fovea_probability:
        pit = _bump(x, rng.uniform(-0.2, 0.2), rng.uniform(0.04, 0.09))
    shares = _SHARES * rng.uniform(0.8, 1.2, size=_SHARES.size)
    shares /= shares.sum()
    thickness = np.outer(np.full(w, total), shares)  # (W, layers)
    thickness[:, :_INNER] *= (1 - 0.92 * pit)[:, None]  # the pit: inner layers thin out
    lift = np.zeros(w)
    if rng.random() < config.drusen_probability:
        for _ in range(int(rng.integers(1, 4))):
            lift += (
                rng.uniform(*config.drusen_height)
                * h
                * _bump(x, rng.uniform(-0.4, 0.4), rng.uniform(0.015, 0.05))
            )
    rpe_bottom = bm - lift
    # Layer edges from the RPE's bottom upwards; edges[0] is the ILM.
    edges = rpe_bottom[None, :] - np.cumsum(thickness[:, ::-1], axis=1).T[::-1]
    edges = np.vstack([edges, rpe_bottom[None, :]])
    ilm = edges[0]
    choroid_bottom = bm + rng.uniform(0.1, 0.18) * h
    # Partial-volume rendering: sum of reflectivity x covered share, layer by layer.
    above = [_covered(edge, h) for edge in edges]
    signal = _VITREOUS * above[0]
    for k, reflectivity in enumerate(_LAYERS):
        signal += reflectivity * (above[k + 1] - above[k])
    bm_cover = _covered(bm, h)
    signal += _DRUSEN * (bm_cover - above[-1])
    choroid_cover = _covered(choroid_bottom, h)
    texture = np.clip(0.9 + 0.45 * _smooth_noise(rng, (h, w), 2.5), 0.2, 2.0)
    signal += 0.55 * texture * (choroid_cover - bm_cover)
    depth = np.arange(h)[:, None] - choroid_bottom[None, :]
    signal += 0.3 * np.exp(-np.clip(depth, 0, None) / (0.08 * h)) * (1 - choroid_cover)
    rows = np.arange(h)[:, None]
    if rng.random() < config.fluid_probability:
        centre_col = rng.uniform(0.15, 0.85) * w
        col = int(np.clip(centre_col, 0, w - 1))
        centre_row = 0.5 * (edges[3, col] + edges[6, col])  # INL to ONL
        radius_r = max(0.45 * (edges[6, col] - edges[3, col]), 1.5)
        radius_c = rng.uniform(0.03, 0.08) * w
        inside = ((rows - centre_row) / radius_r) ** 2 + (
            (np.arange(w)[None, :] - centre_col) / radius_c
        ) ** 2
        weight = np.clip(1.5 - inside, 0.0, 1.0)
        signal = signal * (1 - weight) + _FLUID * weight
    # Vessel shadows: a bright vessel in the inner retina, everything below attenuated.
    gain_map = np.ones((h, w))
    for _ in range(int(rng.integers(config.vessels[0], config.vessels[1] + 1))):
        column = rng.uniform(0, w)
        profile = _bump(np.arange(w), column, rng.uniform(1.0, 3.5))
        col = int(np.clip(column, 0, w - 1))
        vessel_row = edges[1, col] + 1.0
        below = 1 / (1 + np.exp(-(rows - vessel_row)))
        gain_map *= 1 - rng.uniform(0.5, 0.8) * profile[None, :] * below
    signal *= gain_map
    # Depth attenuation below the ILM, lateral drift and vignetting.
    signal *= np.exp(-np.clip(rows - ilm[None, :], 0, None) / (rng.uniform(0.6, 1.2) * h))
    lateral = 1 + config.drift * gaussian_filter1d(rng.standard_normal(w), w / 8, mode="wrap") * 3
    lateral *= 1 - rng.uniform(0, config.vignetting) * (2 * x) ** 2
    signal *= np.clip(lateral, 0.3, 2.0)[None, :] * rng.uniform(0.75, 1.15)
    shape = rng.uniform(*config.speckle_shape)
    speckled = signal * rng.gamma(shape, 1 / shape, size=(h, w))
    floor = rng.rayleigh(rng.uniform(*config.noise_floor), size=(h, w))
    # Log compression: -32 dB of the brightest layer and below is black.
    intensity = (np.log10(speckled + floor + 1e-6) + 1.6) / 1.7
    image = np.clip(np.rint(255 * intensity), 0, 255).astype(np.uint8)
    return image, np.stack([ilm, bm]).astype(np.float32)


def simulate(config: PhantomConfig, count: int, seed: int = 0) -> OctData:
    """``count`` phantom B-scans with exact ILM/BM rows, scale attributes set.

    Examples
    --------
    >>> data = simulate(PhantomConfig(height=64, width=48), count=2, seed=3)
    >>> data.shape, data.boundaries.shape, data.scale_axial_um
    ((2, 64, 48), (2, 2, 48), 3.87)
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    scans = [simulate_bscan(config, np.random.default_rng([seed, index])) for index in range(count)]
    return OctData(
        np.stack([image for image, _ in scans]),
        np.stack([rows for _, rows in scans]),
        config.scale_axial_um,
        config.scale_lateral_um * 768 / config.width,
        source=f"phantom(seed={seed})",
    )
