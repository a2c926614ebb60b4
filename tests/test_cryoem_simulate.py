"""The cryo-EM simulator: CTF physics, reproducibility, odd/even halves, MRC output."""

from __future__ import annotations

import numpy as np
import pytest

from pixelwise.apps.cryoem.ctf import CTFParameters, ctf_2d, electron_wavelength
from pixelwise.apps.cryoem.micrographs import pairs_from_manifest
from pixelwise.apps.cryoem.simulate import SimulationConfig, simulate_dataset, simulate_micrograph
from pixelwise.io.mrc import MrcSource

SMALL = SimulationConfig(shape=(96, 96), frames=6, residues=(200, 300), species=2)


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


def test_simulation_is_reproducible_and_halves_add_up() -> None:
    a = simulate_micrograph(SMALL, seed=3, index=1)
    b = simulate_micrograph(SMALL, seed=3, index=1)
    c = simulate_micrograph(SMALL, seed=3, index=2)
    assert np.array_equal(a.movie, b.movie) and not np.array_equal(a.movie, c.movie)
    assert np.allclose(a.odd + a.even, a.noisy)
    # Shot noise: the noisy sum scatters around the clean expectation with variance = mean.
    residual = a.noisy - a.clean
    assert abs(residual.mean()) < 0.3
    assert residual.var() == pytest.approx(a.clean.mean(), rel=0.1)
    # Ice (400 Å, mean free path 3500 Å) attenuates; carbon and contaminants only darken more
    # (here a thick contaminant darkens much of the small 96² field: mean 0.69 of bright).
    bright = SMALL.dose * np.exp(-400 / 3500)
    assert 0.5 * bright < a.clean.mean() < 1.02 * bright


def test_dataset_writes_mrc_and_manifests(tmp_path) -> None:
    star = simulate_dataset(tmp_path, SMALL, 2, seed=5)
    movie = MrcSource(tmp_path / "movies" / "mic_0001.mrc")
    assert movie.shape == (6, 96, 96) and movie.is_stack and movie.voxel_size[0] == 1.0
    assert movie.dtype == np.uint16
    pairs = pairs_from_manifest(star, "n2n")
    assert len(pairs) == 2 and pairs[0].input.shape == (96, 96)
    assert len(pairs_from_manifest(tmp_path / "micrographs.csv", "paired")) == 2
