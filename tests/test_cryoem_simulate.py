"""The cryo-EM simulator: CTF and exit-wave physics, reproducibility, shot noise, odd/even
halves, MRC output."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from pixelwise.apps.cryoem.ctf import (
    CTFParameters,
    ctf_2d,
    electron_wavelength,
    interaction_constant,
    spatial_frequencies,
)
from pixelwise.apps.cryoem.micrographs import pairs_from_manifest
from pixelwise.apps.cryoem.simulate import (
    SimulationConfig,
    form_image,
    simulate_dataset,
    simulate_micrograph,
)
from pixelwise.io.mrc import MrcSource

SMALL = SimulationConfig(shape=(96, 96), frames=6, residues=(200, 300), species=2)
TYPICAL = CTFParameters(defocus_u_a=15000, defocus_v_a=15000, bfactor=60.0)


def test_ctf_zero_crossing_and_sign() -> None:
    """First zero of sin(chi) at k = 1/sqrt(lambda df) (Cs and amplitude contrast off);
    underfocus makes low-frequency contrast negative (dark protein)."""
    df = 20000.0
    params = CTFParameters(defocus_u_a=df, defocus_v_a=df, cs_mm=0.0, amplitude_contrast=0.0)
    ctf = ctf_2d((1, 4096), 0.25, params)[0, :2048]
    k = np.fft.fftfreq(4096, d=0.25)[:2048]
    first_zero = k[1:][np.argmax(np.diff(np.sign(ctf[1:])) != 0)]
    step = k[1]  # the zero lies between two samples
    assert first_zero == pytest.approx(1 / np.sqrt(electron_wavelength(300) * df), abs=step)
    assert ctf[1:5].max() < 0  # -sin(chi) < 0 just above zero frequency


def test_astigmatism_makes_the_ctf_anisotropic() -> None:
    params = CTFParameters(defocus_u_a=12000, defocus_v_a=8000, astigmatism_angle_deg=0)
    ctf = ctf_2d((256, 256), 1.0, params)
    assert not np.allclose(ctf[0, 1:60], ctf[1:60, 0])  # along x vs along y
    assert np.allclose(
        ctf_2d((256, 256), 1.0, CTFParameters())[0, 1:60],
        ctf_2d((256, 256), 1.0, CTFParameters())[1:60, 0],
    )


def test_weak_object_image_is_the_ctf_image() -> None:
    """A weak object's exit-wave image is 1 + 2 CTF * phase / sqrt(1 - A^2): its spectrum
    follows the CTF, zeros of sin(chi) included, with the CTF module's sign convention."""
    rng = np.random.default_rng(0)
    shape = (128, 128)
    potential = rng.normal(size=shape)  # V Å: a phase of 0.00065 rad std
    image = form_image(potential, np.zeros(shape), 1.0, TYPICAL)
    phase = interaction_constant(300.0) * (potential - potential.mean())
    amplitude = TYPICAL.amplitude_contrast
    predicted = np.fft.ifft2(np.fft.fft2(phase) * ctf_2d(shape, 1.0, TYPICAL)).real
    predicted = 1.0 + 2.0 * predicted / math.sqrt(1.0 - amplitude**2)
    # Second-order terms are ~phase^2 ~ 4e-7, against a first-order contrast of ~1e-3.
    assert np.abs(image - predicted).max() < 1e-3 * np.abs(predicted - 1).max()
    spectrum = np.abs(np.fft.fft2(image - image.mean())) / np.abs(np.fft.fft2(phase))
    ctf = np.abs(ctf_2d(shape, 1.0, TYPICAL))
    near_zero, near_peak = ctf < 0.02 * ctf.max(), ctf > 0.5 * ctf.max()
    assert near_zero.sum() > 50 and near_peak.sum() > 50
    assert spectrum[near_zero].max() < 0.2 * spectrum[near_peak].min()


def test_protein_is_darker_than_ice_and_strong_objects_are_not_clipped() -> None:
    """At 1.5 µm underfocus a 150 Å particle (100 Å thick, 3.4 V over ice) comes out dark at
    low resolution; a thick ice contaminant (1000 Å, 3 rad) is imaged without clipping: the
    phase-contrast part conserves the beam (Parseval, B = 0), where the weak-phase formula
    1 + 2 CTF * phase would go far below zero."""
    shape = (256, 256)
    y, x = np.indices(shape) - 128.0
    disc = (np.hypot(x, y) < 75.0).astype(float)
    image = form_image(100.0 * 3.4 * disc, np.zeros(shape), 1.0, TYPICAL)
    smooth = gaussian_filter(image, 10.0)
    assert smooth[disc > 0].mean() < smooth[disc == 0].mean() - 0.01
    sharp = CTFParameters(defocus_u_a=15000, defocus_v_a=15000, amplitude_contrast=0.0)
    contaminant = 1000.0 * 4.6 * (np.hypot(x, y) < 40.0)
    image = form_image(contaminant, np.zeros(shape), 1.0, sharp)
    assert image.min() >= 0.0 and image.mean() == pytest.approx(1.0, abs=1e-9)
    phase = interaction_constant(300.0) * (contaminant - contaminant.mean())
    weak = 1.0 + 2.0 * np.fft.ifft2(np.fft.fft2(phase) * ctf_2d(shape, 1.0, sharp)).real
    assert weak.min() < -1.0


def test_amorphous_ice_shows_the_water_ring() -> None:
    """Ice alone (no particles, carbon or contaminants): the clean image's radially averaged
    power peaks near 1/3.7 Å⁻¹ over its flanks (the water ring of amorphous ice)."""
    config = SimulationConfig(
        shape=(256, 256), particle_fraction=0, carbon_probability=0, contaminants_per_um2=0
    )
    clean = simulate_micrograph(config, seed=4).clean
    power = np.abs(np.fft.fft2(clean - clean.mean())) ** 2
    k, _ = spatial_frequencies(clean.shape, 1.0)

    def band(centre: float) -> float:
        return float(power[np.abs(k - centre) < 0.01].mean())

    assert band(1 / 3.7) > 2.0 * max(band(0.20), band(0.36))


def test_simulation_is_reproducible_and_halves_add_up() -> None:
    a = simulate_micrograph(SMALL, seed=3, index=1)
    b = simulate_micrograph(SMALL, seed=3, index=1)
    c = simulate_micrograph(SMALL, seed=3, index=2)
    assert np.array_equal(a.movie, b.movie) and not np.array_equal(a.movie, c.movie)
    assert np.allclose(a.odd + a.even, a.noisy)
    # Shot noise: the noisy sum scatters around the clean expectation with variance = mean,
    # and the odd and even halves' noise is independent (|r| of 9216 pixels: std 0.01).
    residual = a.noisy - a.clean
    assert abs(residual.mean()) < 0.3
    assert residual.var() == pytest.approx(a.clean.mean(), rel=0.1)
    odd_noise, even_noise = a.odd - a.clean / 2, a.even - a.clean / 2
    assert abs(np.corrcoef(odd_noise.ravel(), even_noise.ravel())[0, 1]) < 0.04
    # Ice (250-600 Å, mean free path 3500 Å) attenuates; carbon and contaminants only darken.
    low, high = (SMALL.dose * np.exp(-t / 3500) for t in (600, 250))
    assert 0.6 * low < a.clean.mean() < 1.02 * high


def test_dataset_writes_mrc_and_manifests(tmp_path) -> None:
    star = simulate_dataset(tmp_path, SMALL, 2, seed=5)
    movie = MrcSource(tmp_path / "movies" / "mic_0001.mrc")
    assert movie.shape == (6, 96, 96) and movie.is_stack and movie.voxel_size[0] == 1.0
    assert movie.dtype == np.uint16
    pairs = pairs_from_manifest(star, "n2n")
    assert len(pairs) == 2 and pairs[0].input.shape == (96, 96)
    assert len(pairs_from_manifest(tmp_path / "micrographs.csv", "paired")) == 2
