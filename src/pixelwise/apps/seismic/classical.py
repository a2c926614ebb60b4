"""The classical seismic denoising toolbox, as first-class methods beside the learned one.

Every method maps a float32 section ``(n_samples, n_traces)`` (time down the rows, one trace
per column) to a float32 section of the same shape, and never changes dead (all-zero or NaN)
traces. They are the baselines a geophysicist already has, so the learned denoiser is
measured against them (``bench/seismic_real.py``) and offered beside them
(``pixelwise seismic denoise --method``):

* ``bandpass``: zero-phase Butterworth band-pass along time, band picked from the section's
  own amplitude spectrum;
* ``fk``: f-k (frequency-wavenumber) Wiener-style shrinkage: coherent events concentrate in a
  few f-k coefficients, random noise spreads evenly, so coefficients near the noise floor
  (estimated robustly from the median magnitude) are attenuated;
* ``median``: 2-D median filter;
* ``wavelet``: BayesShrink wavelet thresholding (scikit-image / PyWavelets);
* ``trace_edit``: flag traces whose RMS is a robust outlier among their neighbours
  (:func:`flag_noisy_traces`) and replace them by the lateral median of live neighbours;
* ``chain``: ``trace_edit`` then ``fk`` then ``wavelet``.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.ndimage import median_filter
from scipy.signal import butter, sosfiltfilt
from skimage.restoration import denoise_wavelet

from pixelwise.errors import ConfigError

#: Robust z-score above which a trace's log-RMS flags it as noisy.
TRACE_Z_THRESHOLD = 3.5
#: Smallest spread of log-RMS residuals assumed (about 10% RMS variation between traces).
MIN_LOG_RMS_SCALE = 0.1
#: Traces on each side used for the local RMS reference and for lateral medians.
LATERAL_HALF_WIDTH = 5


def dead_traces(section: np.ndarray) -> np.ndarray:
    """Bool ``(n_traces,)``: True where a trace is all zero (or not finite anywhere).

    >>> dead_traces(np.array([[0.0, 1.0], [0.0, 2.0]])).tolist()
    [True, False]
    """
    finite = np.isfinite(section)
    return ~finite.all(axis=0) | ~np.any(np.where(finite, section, 0) != 0, axis=0)


def keeps_dead_traces(method: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """Run ``method(section, dt, ...)`` on live traces only and pass dead traces through.

    Dead traces (all zero, or not finite anywhere: :func:`dead_traces`) enter the method as
    zeros, so a NaN never spreads through a filter, and come out exactly as they went in
    (zeros stay zeros, NaNs stay NaNs).
    """

    @functools.wraps(method)
    def wrapped(section: np.ndarray, dt: float = 0.004, *args: Any, **kwargs: Any) -> np.ndarray:
        section = np.asarray(section, dtype=np.float32)
        dead = dead_traces(section)
        live = np.where(dead, np.float32(0), section) if dead.any() else section
        result = np.array(method(live, dt, *args, **kwargs), dtype=np.float32)
        result[:, dead] = section[:, dead]
        return result

    return wrapped


def flag_noisy_from_rms(
    rms: np.ndarray,
    dead: np.ndarray,
    z_threshold: float = TRACE_Z_THRESHOLD,
    half_width: int = LATERAL_HALF_WIDTH,
) -> np.ndarray:
    """Bool ``(n_traces,)``: traces whose ``rms`` is a robust outlier against their neighbours.

    Each live trace's log-RMS is compared with the median log-RMS of the live traces within
    ``half_width`` on either side; the residuals' scale is 1.4826 x their median absolute
    value over the section, at least :data:`MIN_LOG_RMS_SCALE` (so that on very uniform data
    a trace needs about 1.4 x its neighbours' RMS). Traces more than ``z_threshold`` scales
    above their local level are flagged (too weak ones are not: weak traces are geology or
    gain, not noise). Dead
    traces are never flagged and never enter the statistics.
    """
    live = ~dead & (rms > 0)
    if live.sum() < 3:
        return np.zeros(len(rms), dtype=bool)
    log_rms = np.where(live, np.log(np.where(live, rms, 1.0)), np.nan)
    padded = np.pad(log_rms, half_width, constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half_width + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows among dead traces
        local = np.nanmedian(windows, axis=1)
    residual = log_rms - local
    scale = max(1.4826 * float(np.nanmedian(np.abs(residual[live]))), MIN_LOG_RMS_SCALE)
    return live & (np.nan_to_num(residual, nan=-np.inf) > z_threshold * scale)


def flag_noisy_traces(section: np.ndarray, z_threshold: float = TRACE_Z_THRESHOLD) -> np.ndarray:
    """Bool ``(n_traces,)``: the traces of ``section`` that :func:`flag_noisy_from_rms` flags.

    >>> section = np.random.default_rng(0).standard_normal((100, 40))
    >>> section[:, 7] *= 20
    >>> np.flatnonzero(flag_noisy_traces(section)).tolist()
    [7]
    """
    rms = np.sqrt(np.mean(np.square(section, dtype=np.float64), axis=0))
    return flag_noisy_from_rms(rms, dead_traces(section), z_threshold)


def lateral_median(section: np.ndarray, replace: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Replace traces ``replace`` by the per-sample median of the nearest ``usable`` traces.

    Up to :data:`LATERAL_HALF_WIDTH` usable traces on each side are used; a trace with no
    usable neighbour is left as it is. Returns a float32 copy.
    """
    result = np.array(section, dtype=np.float32)
    good = np.flatnonzero(usable)
    if good.size == 0:
        return result
    for trace in np.flatnonzero(replace):
        left = good[good < trace][-LATERAL_HALF_WIDTH:]
        right = good[good > trace][:LATERAL_HALF_WIDTH]
        neighbours = np.concatenate([left, right])
        result[:, trace] = np.median(section[:, neighbours], axis=1)
    return result


@keeps_dead_traces
def trace_edit(section: np.ndarray, dt: float = 0.004) -> np.ndarray:
    """Flag noisy traces by robust RMS z-score and replace them by a lateral median.

    >>> section = np.random.default_rng(1).standard_normal((50, 30)).astype(np.float32)
    >>> section[:, 4] *= 30.0
    >>> bool(np.abs(trace_edit(section)[:, 4]).max() < 3)
    True
    """
    flagged = flag_noisy_traces(section)
    return lateral_median(section, flagged, ~flagged & ~dead_traces(section))


@keeps_dead_traces
def bandpass(section: np.ndarray, dt: float = 0.004) -> np.ndarray:
    """Zero-phase Butterworth band-pass along time; the band holds 99% of the signal power.

    The band edges are the 0.5% and 99.5% points of the cumulative mean power spectrum of the
    live traces, widened by 10% of their width, so only what lies clearly outside the
    section's band is removed.
    """
    n_samples = section.shape[0]
    if n_samples < 16:
        return np.array(section, dtype=np.float32)
    live = ~dead_traces(section)
    power = np.mean(np.abs(np.fft.rfft(section[:, live], axis=0)) ** 2, axis=1)
    frequency = np.fft.rfftfreq(n_samples, dt)
    cumulative = np.cumsum(power) / max(power.sum(), 1e-30)
    low, high = np.interp([0.005, 0.995], cumulative, frequency)
    nyquist = 0.5 / dt
    margin = 0.1 * (high - low)
    low, high = max(low - margin, 0.0), min(high + margin, 0.98 * nyquist)
    if low <= 0.01 * nyquist:
        sos = butter(4, high, btype="lowpass", fs=1 / dt, output="sos")
    else:
        sos = butter(4, [low, high], btype="bandpass", fs=1 / dt, output="sos")
    padlen = min(3 * (2 * len(sos) + 1), n_samples - 1)
    return sosfiltfilt(sos, section, axis=0, padlen=padlen)


@keeps_dead_traces
def fk_filter(section: np.ndarray, dt: float = 0.004, strength: float = 1.5) -> np.ndarray:
    """f-k domain Wiener-style shrinkage of incoherent energy.

    Coefficients ``X`` of the 2-D FFT are scaled by ``max(0, 1 - (strength * s)**2 / |X|**2)``,
    with the noise magnitude ``s`` estimated as median(|X|) / sqrt(ln 2) (the median of a
    Rayleigh-distributed magnitude), since most coefficients hold only noise.
    """
    if strength < 0:
        raise ConfigError(f"fk strength must be >= 0, got {strength}")
    spectrum = np.fft.rfft2(section.astype(np.float64))
    magnitude = np.abs(spectrum)
    noise = np.median(magnitude) / np.sqrt(np.log(2.0))
    gain = np.clip(1.0 - (strength * noise) ** 2 / np.maximum(magnitude**2, 1e-30), 0.0, 1.0)
    return np.fft.irfft2(spectrum * gain, s=section.shape)


@keeps_dead_traces
def median_2d(section: np.ndarray, dt: float = 0.004, size: int = 3) -> np.ndarray:
    """2-D median filter of ``size`` x ``size`` samples (reflected at the borders)."""
    return median_filter(section.astype(np.float32), size=size, mode="reflect")


@keeps_dead_traces
def wavelet(section: np.ndarray, dt: float = 0.004) -> np.ndarray:
    """BayesShrink soft wavelet thresholding (db4, noise level estimated from the data)."""
    values = section.astype(np.float64)
    scale = float(np.abs(values).max()) or 1.0
    result = denoise_wavelet(values / scale, wavelet="db4", method="BayesShrink", mode="soft")
    return result * scale


@keeps_dead_traces
def chain(section: np.ndarray, dt: float = 0.004) -> np.ndarray:
    """Trace editing, then f-k shrinkage, then wavelet thresholding."""
    return wavelet(fk_filter(trace_edit(section, dt), dt), dt)


Method = Callable[..., np.ndarray]
#: Every classical method by its ``--method`` name.
METHODS: dict[str, Method] = {
    "bandpass": bandpass,
    "fk": fk_filter,
    "median": median_2d,
    "wavelet": wavelet,
    "trace_edit": trace_edit,
    "chain": chain,
}


def classical_denoise(section: np.ndarray, method: str, dt: float = 0.004) -> np.ndarray:
    """Apply the classical ``method`` (a key of :data:`METHODS`) to one section.

    >>> section = np.random.default_rng(0).standard_normal((64, 32)).astype(np.float32)
    >>> sorted(METHODS) == sorted(["bandpass", "chain", "fk", "median", "trace_edit", "wavelet"])
    True
    >>> classical_denoise(section, "median").shape
    (64, 32)
    """
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return METHODS[method](np.asarray(section, dtype=np.float32), dt)
