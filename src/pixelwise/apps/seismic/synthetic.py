"""Synthetic seismic sections: layered reflectivity with a normal fault, convolved with a Ricker.

Used by the demo and the tests as clean ground truth. Sections follow the package
convention: float32 ``(n_samples, n_traces)``, time down the rows, one trace per column.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve

from pixelwise.errors import ConfigError


def ricker_wavelet(frequency_hz: float, dt_s: float, length_s: float) -> np.ndarray:
    """Zero-phase Ricker wavelet ``(1 - 2 (pi f t)^2) exp(-(pi f t)^2)``, peak 1 at the centre.

    Returns float32 of shape ``(n,)`` with ``n`` the odd sample count nearest ``length_s / dt_s``
    (at least 1), so the peak falls on the middle sample.
    """
    if dt_s <= 0 or length_s <= 0:
        raise ConfigError(f"ricker_wavelet: dt_s and length_s must be > 0, got {dt_s}, {length_s}")
    nyquist = 0.5 / dt_s
    if not 0 < frequency_hz < nyquist:
        raise ConfigError(
            f"ricker_wavelet: frequency {frequency_hz} Hz must lie in (0, {nyquist:g}) Hz, "
            f"the Nyquist range for dt = {dt_s} s"
        )
    half = round(length_s / dt_s) // 2
    t = np.arange(-half, half + 1) * dt_s
    arg = (np.pi * frequency_hz * t) ** 2
    return ((1.0 - 2.0 * arg) * np.exp(-arg)).astype(np.float32)


def _interfaces(
    rng: np.random.Generator, shape: tuple[int, int], n_layers: int, max_dip: float, top: float
) -> np.ndarray:
    """Interface depths in samples, float64 ``(n_layers, n_traces)``.

    Interfaces share a regional dip and a gentle fold (so they rarely cross) and each gets a
    small dip of its own; their depths at the centre trace are spread over ``[top, n_samples)``.
    """
    n_samples, n_traces = shape
    x = np.arange(n_traces) - (n_traces - 1) / 2
    regional_dip = rng.uniform(-max_dip, max_dip)
    own_dip = rng.uniform(-0.25 * max_dip, 0.25 * max_dip, size=(n_layers, 1))
    dips = np.clip(regional_dip + own_dip, -max_dip, max_dip)
    wavelength = rng.uniform(1.0, 3.0) * n_traces
    fold = np.sin(2 * np.pi * x / wavelength + rng.uniform(0, 2 * np.pi))
    fold_amplitude = 0.04 * n_samples * rng.uniform(0.5, 1.0, size=(n_layers, 1))
    depths = np.sort(rng.uniform(top, n_samples, size=(n_layers, 1)), axis=0)
    return depths + dips * x + fold_amplitude * fold


def _add_spikes(reflectivity: np.ndarray, depths: np.ndarray, amplitudes: np.ndarray) -> None:
    """Add one reflection per (layer, trace) at fractional depths, split over two samples."""
    n_samples = reflectivity.shape[0]
    upper = np.floor(depths)
    weight_lower = depths - upper
    cols = np.broadcast_to(np.arange(reflectivity.shape[1]), depths.shape)
    for row, weight in ((upper, 1.0 - weight_lower), (upper + 1, weight_lower)):
        inside = (row >= 0) & (row < n_samples) & np.isfinite(depths)
        np.add.at(
            reflectivity,
            (row[inside].astype(np.intp), cols[inside]),
            (np.broadcast_to(amplitudes, depths.shape) * weight)[inside],
        )


def synthetic_section(
    n_samples: int = 256,
    n_traces: int = 256,
    *,
    seed: int = 0,
    dominant_frequency: float = 25.0,
    dt: float = 0.004,
    n_layers: int = 24,
    max_dip: float = 0.3,
    fault: bool = True,
) -> np.ndarray:
    """A clean synthetic seismic section, float32 ``(n_samples, n_traces)`` with max |value| 1.

    Layered reflectivity with dipping, gently folded interfaces (``max_dip`` is the largest
    linear dip, in samples per trace), optionally cut by a dipping normal fault whose hanging
    wall is displaced downwards, convolved trace by trace with a Ricker wavelet of
    ``dominant_frequency`` Hz sampled every ``dt`` seconds. Deterministic given ``seed``.
    """
    if n_samples < 2 or n_traces < 2:
        raise ConfigError(
            f"synthetic_section: need at least 2x2 samples, got {n_samples}x{n_traces}"
        )
    if n_layers < 1 or max_dip < 0:
        raise ConfigError(
            f"synthetic_section: need n_layers >= 1 and max_dip >= 0, got {n_layers}, {max_dip}"
        )
    wavelet = ricker_wavelet(dominant_frequency, dt, 3.0 / dominant_frequency)
    rng = np.random.default_rng(seed)
    # Everything is drawn whether or not ``fault`` is set, so the same seed without the fault
    # gives the same layers, unbroken.
    throw = rng.uniform(0.08, 0.15) * n_samples
    slope = rng.uniform(0.2, 0.6) * rng.choice([-1.0, 1.0])  # traces per sample
    x0 = rng.uniform(n_traces / 3, 2 * n_traces / 3)
    # Interfaces start above the section by the throw so the lowered hanging wall stays full.
    depths = _interfaces(rng, (n_samples, n_traces), n_layers, max_dip, top=-throw)
    amplitudes = rng.uniform(0.2, 1.0, size=(n_layers, 1)) * rng.choice([-1.0, 1.0], (n_layers, 1))
    reflectivity = np.zeros((n_samples, n_traces))
    if fault:
        # The fault crosses depth z at trace x0 + slope * (z - n_samples / 2); its hanging
        # wall is the block above the plane, on the side the plane dips towards.
        cols = np.arange(n_traces)

        def in_hanging_wall(z: np.ndarray) -> np.ndarray:
            return np.sign(slope) * (cols - (x0 + slope * (z - n_samples / 2))) > 0

        lowered = depths + throw
        _add_spikes(reflectivity, np.where(in_hanging_wall(depths), np.nan, depths), amplitudes)
        _add_spikes(reflectivity, np.where(in_hanging_wall(lowered), lowered, np.nan), amplitudes)
    else:
        _add_spikes(reflectivity, depths, amplitudes)
    section = fftconvolve(reflectivity, wavelet[:, None].astype(np.float64), mode="same", axes=0)
    peak = np.abs(section).max()
    if peak == 0:
        raise ConfigError(
            f"synthetic_section: no reflector falls inside {n_samples}x{n_traces}; "
            "use more samples or layers"
        )
    return (section / peak).astype(np.float32)
