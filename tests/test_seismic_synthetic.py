"""The seismic app's synthetic sections and noise models."""

from __future__ import annotations

import numpy as np
import pytest

from pixelwise.apps.seismic.noise import bandlimited_noise, tracewise_noise, white_noise
from pixelwise.apps.seismic.synthetic import ricker_wavelet, synthetic_section
from pixelwise.errors import ConfigError

# --- synthetic sections -----------------------------------------------------------------


def test_ricker_wavelet_is_a_centred_zero_mean_pulse() -> None:
    wavelet = ricker_wavelet(25.0, 0.004, 0.12)
    assert wavelet.dtype == np.float32
    assert wavelet.shape == (31,)
    assert wavelet[15] == pytest.approx(1.0)
    assert wavelet.argmax() == 15
    np.testing.assert_allclose(wavelet, wavelet[::-1])
    assert abs(wavelet.sum()) < 1e-3
    # first zero crossings at t = +-1 / (sqrt(2) pi f) = +-9.0 ms, between samples 2 and 3
    assert wavelet[15 + 2] > 0 > wavelet[15 + 3]


def test_ricker_wavelet_rejects_frequencies_above_nyquist() -> None:
    with pytest.raises(ConfigError, match="Nyquist"):
        ricker_wavelet(200.0, 0.004, 0.1)


def test_synthetic_section_is_deterministic_and_unit_peak() -> None:
    section = synthetic_section(96, 80, seed=3)
    assert section.dtype == np.float32
    assert section.shape == (96, 80)
    assert np.abs(section).max() == 1.0
    np.testing.assert_array_equal(section, synthetic_section(96, 80, seed=3))
    assert not np.allclose(section, synthetic_section(96, 80, seed=4))


def test_synthetic_section_has_a_fault_discontinuity() -> None:
    # Without the fault, neighbouring traces differ only by the small dips; the fault's
    # throw breaks the reflectors, so some neighbouring samples jump by much more.
    for seed in range(3):
        faulted = synthetic_section(seed=seed)
        unfaulted = synthetic_section(seed=seed, fault=False)
        jump = np.abs(np.diff(faulted, axis=1)).max()
        smooth = np.abs(np.diff(unfaulted, axis=1)).max()
        assert jump > 3 * smooth


def test_synthetic_section_is_band_limited_around_the_dominant_frequency() -> None:
    section = synthetic_section(512, 32, dominant_frequency=20.0, dt=0.002)
    power = (np.abs(np.fft.rfft(section, axis=0)) ** 2).sum(axis=1)
    freqs = np.fft.rfftfreq(512, 0.002)
    assert 12 < freqs[power.argmax()] < 30


# --- noise ------------------------------------------------------------------------------


def test_white_noise_has_the_requested_sigma() -> None:
    noise = white_noise((256, 256), 0.3, np.random.default_rng(0))
    assert noise.dtype == np.float32
    assert noise.shape == (256, 256)
    assert noise.std() == pytest.approx(0.3, rel=0.02)
    assert abs(noise.mean()) < 0.005
    np.testing.assert_array_equal(noise, white_noise((256, 256), 0.3, np.random.default_rng(0)))


def test_bandlimited_noise_has_sigma_and_stays_in_band() -> None:
    dt, low, high = 0.004, 10.0, 30.0
    noise = bandlimited_noise((512, 64), 0.5, low, high, dt, np.random.default_rng(0))
    assert noise.dtype == np.float32
    assert noise.std() == pytest.approx(0.5, rel=1e-5)
    power = (np.abs(np.fft.rfft(noise, axis=0)) ** 2).sum(axis=1)
    freqs = np.fft.rfftfreq(512, dt)
    far_outside = (freqs < low / 2) | (freqs > 1.5 * high)
    assert power[far_outside].sum() < 0.01 * power.sum()
    assert power[(freqs >= low) & (freqs <= high)].sum() > 0.9 * power.sum()


def test_bandlimited_noise_rejects_a_band_past_nyquist() -> None:
    with pytest.raises(ConfigError, match="Nyquist"):
        bandlimited_noise((64, 4), 1.0, 10.0, 200.0, 0.004, np.random.default_rng(0))


def test_tracewise_noise_hits_whole_traces_only() -> None:
    noise = tracewise_noise((128, 200), 0.1, 2.0, np.random.default_rng(0))
    assert noise.dtype == np.float32
    hit = np.flatnonzero(np.abs(noise).sum(axis=0))
    assert hit.size == 20
    assert np.all(noise[:, hit] != 0)
    assert noise[:, hit].std() == pytest.approx(2.0, rel=0.05)
    assert np.count_nonzero(noise) == 128 * 20
    assert not tracewise_noise((8, 10), 0.0, 2.0, np.random.default_rng(0)).any()


def test_band_limited_tracewise_noise_is_coherent_along_the_trace() -> None:
    rng = np.random.default_rng(3)
    noise = tracewise_noise((256, 50), 0.2, 1.5, rng, band_hz=(2.0, 20.0), dt=0.004)
    hit = np.flatnonzero(np.abs(noise).sum(axis=0) > 0)
    assert hit.size == 10
    assert noise[:, hit].std() == pytest.approx(1.5, rel=1e-4)
    column = noise[:, hit[0]]
    lag_one = np.corrcoef(column[:-1], column[1:])[0, 1]
    assert lag_one > 0.8, "band-passed trace noise must be smooth along time"
    white = tracewise_noise((256, 50), 0.2, 1.5, rng)
    white_column = white[:, np.flatnonzero(np.abs(white).sum(axis=0))[0]]
    assert abs(np.corrcoef(white_column[:-1], white_column[1:])[0, 1]) < 0.2


@pytest.mark.parametrize(("fraction", "sigma"), [(1.5, 1.0), (0.1, -1.0)])
def test_tracewise_noise_rejects_bad_parameters(fraction: float, sigma: float) -> None:
    with pytest.raises(ConfigError):
        tracewise_noise((8, 10), fraction, sigma, np.random.default_rng(0))
