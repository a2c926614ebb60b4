"""Synthetic sections, noise models and the random patch dataset."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from pixelwise.data.noise import bandlimited_noise, tracewise_noise, white_noise
from pixelwise.data.patches import RandomPatchDataset, estimate_normalization
from pixelwise.data.synthetic import ricker_wavelet, synthetic_section
from pixelwise.errors import ConfigError, InputError
from pixelwise.io.arrays import NpySection
from pixelwise.io.segy import write_segy

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


# --- random patches ---------------------------------------------------------------------

HEIGHT, WIDTH = 48, 40


@pytest.fixture
def ramp_file(tmp_path: Path) -> Path:
    """A section whose values encode their position: value = row * WIDTH + col."""
    path = tmp_path / "ramp.npy"
    np.save(path, np.arange(HEIGHT * WIDTH, dtype=np.float32).reshape(HEIGHT, WIDTH))
    return path


def unflip(patch: np.ndarray) -> tuple[np.ndarray, tuple[bool, bool]]:
    """Undo the flips of a ramp patch; also return which axes were flipped."""
    flipped = (patch[1, 0] < patch[0, 0], patch[0, 1] < patch[0, 0])
    if flipped[0]:
        patch = patch[::-1]
    if flipped[1]:
        patch = patch[:, ::-1]
    return patch, flipped


def test_patches_are_windows_of_the_section(ramp_file: Path) -> None:
    ramp = np.load(ramp_file)
    dataset = RandomPatchDataset([ramp_file], (16, 12), 20, seed=0, augment=False)
    assert len(dataset) == 20
    for patch in dataset:
        assert patch.dtype == torch.float32
        assert patch.shape == (1, 16, 12)
        row0, col0 = divmod(int(patch.min()), WIDTH)
        np.testing.assert_array_equal(patch[0].numpy(), ramp[row0 : row0 + 16, col0 : col0 + 12])


def test_augmentation_only_flips(ramp_file: Path) -> None:
    ramp = np.load(ramp_file)
    dataset = RandomPatchDataset([ramp_file], 16, 64, seed=0)
    seen = set()
    for patch in dataset:
        window, flipped = unflip(patch[0].numpy())
        seen.add(flipped)
        # a transpose would make neighbouring columns differ by WIDTH instead of 1
        row0, col0 = divmod(int(window[0, 0]), WIDTH)
        np.testing.assert_array_equal(window, ramp[row0 : row0 + 16, col0 : col0 + 16])
    assert seen == {(False, False), (False, True), (True, False), (True, True)}


def stack(dataset: RandomPatchDataset, num_workers: int = 0) -> torch.Tensor:
    loader = DataLoader(dataset, batch_size=4, num_workers=num_workers)
    return torch.cat(list(loader))


def test_patches_depend_only_on_seed_epoch_and_index(ramp_file: Path) -> None:
    dataset = RandomPatchDataset([ramp_file], 8, 12, seed=5)
    first = stack(dataset)
    torch.manual_seed(123)
    np.random.seed(123)  # noqa: NPY002 - the global RNG must not matter
    assert torch.equal(stack(dataset, num_workers=2), first)
    assert not torch.equal(stack(RandomPatchDataset([ramp_file], 8, 12, seed=6)), first)
    dataset.set_epoch(1)
    assert not torch.equal(stack(dataset), first)
    dataset.set_epoch(0)
    assert torch.equal(stack(dataset), first)


def test_segy_and_npy_sections_mix_and_survive_worker_processes(
    tmp_path: Path, ramp_file: Path
) -> None:
    segy = tmp_path / "neg.sgy"
    write_segy(segy, -np.load(ramp_file)[:20] - 1)  # 20 x 40, all values negative
    dataset = RandomPatchDataset([ramp_file, segy], 8, 40, seed=0, augment=False)
    patches = stack(dataset, num_workers=2)
    from_segy = patches.amax(dim=(1, 2, 3)) < 0
    assert 0 < int(from_segy.sum()) < 40  # both sections are drawn
    assert torch.equal(patches, stack(dataset))


def test_normalization_is_applied(ramp_file: Path) -> None:
    plain = RandomPatchDataset([ramp_file], 8, 4, seed=1)
    scaled = RandomPatchDataset([ramp_file], 8, 4, seed=1, normalization=(100.0, 4.0))
    assert torch.allclose(scaled[2], (plain[2] - 100.0) / 4.0)


def test_patch_larger_than_a_section_names_the_file(ramp_file: Path) -> None:
    with pytest.raises(InputError, match=r"ramp\.npy: patch size 16x64"):
        RandomPatchDataset([ramp_file], (16, 64), 10)


def test_dataset_streams_from_a_memmap_without_loading_the_file(tmp_path: Path) -> None:
    path = tmp_path / "big.npy"
    big = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(2048, 2048))
    big[:] = 1.0
    big.flush()
    del big
    file_size = path.stat().st_size

    tracemalloc.start()
    dataset = RandomPatchDataset([path], 64, 16, seed=0)
    patches = [dataset[i] for i in range(len(dataset))]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    assert isinstance(dataset.sections[0], NpySection)
    assert isinstance(dataset.sections[0].array, np.memmap)
    assert peak < file_size / 8
    assert all(torch.equal(patch, torch.ones(1, 64, 64)) for patch in patches)


def test_estimate_normalization_matches_the_data(tmp_path: Path) -> None:
    path = tmp_path / "gauss.npy"
    np.save(path, np.random.default_rng(0).normal(3.0, 2.0, (256, 256)).astype(np.float32))
    mean, std = estimate_normalization([path], n_windows=32, window=32)
    assert mean == pytest.approx(3.0, abs=0.05)
    assert std == pytest.approx(2.0, rel=0.03)


def test_estimate_normalization_is_exact_when_windows_cover_the_section(
    tmp_path: Path,
) -> None:
    data = np.random.default_rng(1).normal(-1.0, 5.0, (12, 9))
    path = tmp_path / "small.npy"
    np.save(path, data)
    mean, std = estimate_normalization([path], n_windows=5, window=64)
    assert mean == pytest.approx(data.astype(np.float32).mean(), rel=1e-6)
    assert std == pytest.approx(data.astype(np.float32).std(), rel=1e-6)


def test_estimate_normalization_rejects_constant_data(tmp_path: Path) -> None:
    path = tmp_path / "flat.npy"
    np.save(path, np.zeros((16, 16)))
    with pytest.raises(InputError, match=r"flat\.npy: .*constant"):
        estimate_normalization([path])
