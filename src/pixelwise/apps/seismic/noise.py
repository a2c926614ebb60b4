"""Additive noise for seismic sections, drawn from a caller-supplied ``numpy.random.Generator``.

Every function returns float32 noise of the requested shape; the caller adds it to a clean
section of shape ``(n_samples, n_traces)`` (time down the rows, one trace per column).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfiltfilt

from pixelwise.errors import ConfigError

#: Butterworth order of the band-pass; filtfilt doubles the effective roll-off.
BANDPASS_ORDER = 4


def _check_sigma(sigma: float) -> None:
    if not sigma >= 0:
        raise ConfigError(f"noise sigma must be >= 0, got {sigma}")


def white_noise(shape: tuple[int, ...], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Independent Gaussian noise with standard deviation ``sigma``, float32 of ``shape``."""
    _check_sigma(sigma)
    return rng.normal(0.0, sigma, size=shape).astype(np.float32)


def bandlimited_noise(
    shape: tuple[int, ...],
    sigma: float,
    low_hz: float,
    high_hz: float,
    dt: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Gaussian noise band-passed to ``[low_hz, high_hz]`` along time (axis 0), std ``sigma``.

    White noise is filtered forwards and backwards (zero phase) with a Butterworth band-pass
    and rescaled so that its standard deviation over the whole array is exactly ``sigma``.
    Models band-limited coherent-looking noise such as swell or ground roll.
    """
    _check_sigma(sigma)
    nyquist = 0.5 / dt if dt > 0 else 0.0
    if not 0 < low_hz < high_hz < nyquist:
        raise ConfigError(
            f"band-limited noise needs 0 < low_hz < high_hz < Nyquist ({nyquist:g} Hz for "
            f"dt = {dt} s), got low_hz = {low_hz}, high_hz = {high_hz}"
        )
    sos = butter(BANDPASS_ORDER, [low_hz, high_hz], btype="bandpass", fs=1.0 / dt, output="sos")
    try:
        noise = sosfiltfilt(sos, rng.standard_normal(shape), axis=0)
    except ValueError as err:  # fewer samples than the filter's edge padding
        raise ConfigError(f"band-limited noise: {shape[0]} samples are too few: {err}") from err
    spread = noise.std()
    return (noise * (sigma / spread if spread > 0 else 0.0)).astype(np.float32)


def tracewise_noise(
    shape: tuple[int, int],
    fraction: float,
    sigma: float,
    rng: np.random.Generator,
    *,
    band_hz: tuple[float, float] | None = None,
    dt: float = 0.004,
) -> np.ndarray:
    """Strong Gaussian noise (std ``sigma``) on a random ``fraction`` of whole traces.

    ``shape`` is ``(n_samples, n_traces)``; ``round(fraction * n_traces)`` distinct columns are
    hit over their full length and every other sample is zero. With ``band_hz=None`` the noise
    is white along each hit trace (dead-receiver spikes, bad channels). With
    ``band_hz=(low, high)`` it is band-passed along time, so it is coherent along the trace, as
    swell or a ringing geophone is: a pixel-wise blind spot can then predict it from the same
    trace, which is what trace-wise masking is for.
    """
    _check_sigma(sigma)
    if len(shape) != 2:
        raise ConfigError(f"trace-wise noise needs a 2-D (n_samples, n_traces) shape, got {shape}")
    if not 0 <= fraction <= 1:
        raise ConfigError(f"trace-wise noise fraction must be in [0, 1], got {fraction}")
    n_samples, n_traces = shape
    hit = rng.choice(n_traces, size=round(fraction * n_traces), replace=False)
    noise = np.zeros(shape, dtype=np.float32)
    if band_hz is None:
        noise[:, hit] = rng.normal(0.0, sigma, size=(n_samples, hit.size))
    elif hit.size:
        noise[:, hit] = bandlimited_noise((n_samples, hit.size), sigma, *band_hz, dt, rng)
    return noise
