"""Real-data handling of the seismic app: geometry, streaming, amplitudes, dead traces, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import segyio
import torch
import yaml

from pixelwise.apps.seismic import SeismicConfig, train
from pixelwise.apps.seismic.amplitude import prepare_section, robust_level
from pixelwise.apps.seismic.classical import METHODS, classical_denoise, flag_noisy_traces
from pixelwise.apps.seismic.config import SectionConfig
from pixelwise.apps.seismic.denoise import denoise_file
from pixelwise.apps.seismic.noise import tracewise_noise, white_noise
from pixelwise.apps.seismic.synthetic import synthetic_section
from pixelwise.apps.seismic.train import SeismicNote
from pixelwise.cli import main
from pixelwise.engine import load_checkpoint
from pixelwise.errors import ConfigError
from pixelwise.io.arrays import write_npy
from pixelwise.io.segy import SegyNote, header_values, read_segy
from pixelwise.metrics import snr_db

N_SAMPLES, INLINES, CROSSLINES = 48, 4, 20


def make_cube(path: Path, sample_format: int = 5, dead: tuple[int, ...] = ()) -> np.ndarray:
    """A 3-D cube in a shuffled trace order; returns the samples as stored (file order)."""
    rng = np.random.default_rng(0)
    lines = [synthetic_section(N_SAMPLES, CROSSLINES, seed=k) for k in range(INLINES)]
    cube = np.stack(lines, axis=1) + rng.normal(0, 0.2, (N_SAMPLES, INLINES, CROSSLINES))
    order = rng.permutation(INLINES * CROSSLINES)
    data = cube.reshape(N_SAMPLES, -1)[:, order].astype(np.float32)
    data[:, list(dead)] = 0.0
    spec = segyio.spec()
    spec.samples = np.arange(N_SAMPLES) * 4.0
    spec.format = sample_format
    spec.tracecount = data.shape[1]
    with segyio.create(path, spec) as f:
        f.bin.update({segyio.BinField.Interval: 4000})
        for index, position in enumerate(order):
            f.header[index] = {
                segyio.TraceField.INLINE_3D: 100 + position // CROSSLINES,
                segyio.TraceField.CROSSLINE_3D: 500 + position % CROSSLINES,
                segyio.TraceField.FieldRecord: 7 + position % 2,
                segyio.TraceField.offset: int(position),
                segyio.TraceField.UnassignedInt2: 1234,
            }
        f.trace = np.ascontiguousarray(data.T, dtype=f.dtype)
    return data


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny robust-normalisation model (one short epoch: accuracy is not the point)."""
    root = tmp_path_factory.mktemp("geometry")
    write_npy(root / "train.npy", synthetic_section(32, 48, seed=3))
    config = SeismicConfig.model_validate(
        {
            "data": {
                "train": [str(root / "train.npy")],
                "patch_size": 16,
                "patches_per_epoch": 16,
                "validation_patches": 0,
                "batch_size": 8,
            },
            "masking": {"strategy": "mixed"},
            "model": {"levels": 2, "base_channels": 4},
            "trainer": {"epochs": 1},
            "sections": {"normalization": "robust", "flag_noisy_traces": True},
            "inference": {"window": None},
            "output_dir": str(root / "model"),
        }
    )
    return train(config).last_checkpoint


@pytest.mark.parametrize("geometry", ["inline", "crossline", "gather"])
def test_geometry_sections_come_back_in_file_order_with_every_header(tmp_path, geometry):
    cube, out = tmp_path / "cube.sgy", tmp_path / "out.sgy"
    data = make_cube(cube)
    sections = SectionConfig(geometry=geometry, normalization="robust")
    denoise_file(cube, out, method="median", sections=sections)
    result = read_segy(out)
    key = {"inline": 189, "crossline": 193, "gather": 9}[geometry]
    order = {"inline": 193, "crossline": 189, "gather": 37}[geometry]
    keys, ranks = header_values(cube, key), header_values(cube, order)
    for value in np.unique(keys):  # each section, rebuilt independently of the app
        traces = np.flatnonzero(keys == value)
        traces = traces[np.argsort(ranks[traces], kind="stable")]
        expected = classical_denoise(data[:, traces], "median")
        np.testing.assert_allclose(result[:, traces], expected, atol=1e-6)
    raw_in, raw_out = cube.read_bytes(), out.read_bytes()
    step = 240 + 4 * N_SAMPLES
    for index in range(data.shape[1]):
        start = 3600 + index * step
        assert raw_in[start : start + 240] == raw_out[start : start + 240]


@pytest.mark.parametrize("fill", ["hide", "median"])
def test_streaming_blocks_equal_in_memory_and_stay_bounded(tmp_path, checkpoint, monkeypatch, fill):
    section = synthetic_section(40, 300, seed=5)
    section += np.random.default_rng(1).normal(0, 0.3, section.shape).astype(np.float32)
    section[:, [31, 32, 150, 299]] *= 12  # flagged traces, two at a block edge
    write_npy(tmp_path / "line.npy", section)
    whole = denoise_file(
        tmp_path / "line.npy",
        tmp_path / "whole.npy",
        checkpoint,
        sections=SectionConfig(
            normalization="robust", flag_noisy_traces=True, block_traces=4096, flagged_fill=fill
        ),
    )
    widths: list[int] = []
    from pixelwise.apps.seismic import denoise as module

    original = module.read_traces

    def recording(source, indices):
        widths.append(len(indices))
        return original(source, indices)

    monkeypatch.setattr(module, "read_traces", recording)
    progress: list[tuple[int, int]] = []
    streamed = denoise_file(
        tmp_path / "line.npy",
        tmp_path / "streamed.sgy",
        checkpoint,
        sections=SectionConfig(
            normalization="robust", flag_noisy_traces=True, block_traces=32, flagged_fill=fill
        ),
        progress=lambda done, total: progress.append((done, total)),
    )
    assert max(widths) <= 32 + 2 * module.BLOCK_OVERLAP < section.shape[1]
    assert progress[-1] == (300, 300) and len(progress) == 10  # ceil(300 / 32) blocks
    # One streamed pass of statistics, blocks wider than the receptive field: equal.
    np.testing.assert_allclose(streamed, whole, rtol=1e-5, atol=1e-6)


def test_dead_and_nan_traces_stay_dead_and_are_left_out_of_the_statistics(tmp_path, checkpoint):
    section = synthetic_section(64, 40, seed=2)
    dead = section.copy()
    dead[:, 3] = 0.0
    dead[:, 17] = np.nan  # a NaN trace, and one with a NaN gap: both are dead
    dead[10:20, 18] = np.nan
    prepared = prepare_section(dead, flag_noise=False, balance_traces=True)
    assert np.flatnonzero(prepared.dead).tolist() == [3, 17, 18]
    assert np.isfinite(prepared.values).all() and np.isfinite(prepared.balance).all()
    live = np.setdiff1d(np.arange(40), [3, 17, 18])
    assert prepared.scale == prepare_section(section[:, live], flag_noise=False).scale
    zeros = np.where(np.isnan(dead), 0, dead)
    assert prepared.scale > 1.01 * robust_level(zeros)[1]  # the zeros would lower it
    np.save(tmp_path / "dead.npy", dead)  # write_npy refuses NaN: a recorder does not
    for method in ("learned", *METHODS):
        result = denoise_file(
            tmp_path / "dead.npy", tmp_path / f"{method}.npy", checkpoint, method=method
        )
        # Dead traces come back exactly as they were; no NaN leaks into a live trace.
        np.testing.assert_array_equal(result[:, [3, 17, 18]], dead[:, [3, 17, 18]], method)
        assert np.isfinite(result[:, live]).all(), method
        assert np.abs(result[:, live]).mean() > 0.1 * np.abs(section).mean(), method
    with pytest.warns(SeismicNote, match="3 dead traces .* interpolated"):
        filled = denoise_file(
            tmp_path / "dead.npy",
            tmp_path / "filled.npy",
            checkpoint,
            sections=SectionConfig(normalization="robust", interpolate_dead=True),
        )
    assert np.isfinite(filled).all() and np.abs(filled[:, [3, 17, 18]]).mean() > 0
    with pytest.warns(SeismicNote, match="2 traces with NaN samples were written with zeros"):
        segy = denoise_file(tmp_path / "dead.npy", tmp_path / "out.sgy", method="median")
    assert np.all(segy[:, [3, 17]] == 0) and np.all(segy[:, 18][np.isnan(dead[:, 18])] == 0)


def test_robust_normalisation_and_trace_balancing_invert_exactly():
    rng = np.random.default_rng(7)
    section = (rng.standard_normal((80, 30)) * rng.uniform(0.1, 50, 30) + 3).astype(np.float32)
    prepared = prepare_section(section, balance_traces=True, flag_noise=False)
    np.testing.assert_allclose(prepared.restore(prepared.values), section, rtol=1e-6, atol=1e-5)
    spread = prepared.values.std(axis=0)
    assert spread.max() / spread.min() < 2  # balanced: every trace at one level


def test_amplitude_far_from_training_gives_a_note(tmp_path):
    rng = np.random.default_rng(0)
    write_npy(tmp_path / "a.npy", synthetic_section(32, 32) + rng.normal(0, 0.1, (32, 32)))
    config = SeismicConfig.model_validate(
        {
            "data": {
                "train": [str(tmp_path / "a.npy")],
                "patch_size": 16,
                "patches_per_epoch": 8,
                "validation_patches": 0,
                "batch_size": 8,
            },
            "model": {"levels": 2, "base_channels": 4},
            "trainer": {"epochs": 1},
            "output_dir": str(tmp_path / "m"),
        }
    )
    last = train(config).last_checkpoint
    write_npy(tmp_path / "loud.npy", np.load(tmp_path / "a.npy") * 1000)
    with pytest.warns(SeismicNote, match="amplitude scale .* training data"):
        denoise_file(tmp_path / "loud.npy", tmp_path / "out.npy", last)


def test_small_files_train_with_the_largest_fitting_patch(tmp_path):
    write_npy(tmp_path / "tiny.npy", synthetic_section(24, 10) + 0.1)
    config = SeismicConfig.model_validate(
        {
            "data": {
                "train": [str(tmp_path / "tiny.npy")],
                "patches_per_epoch": 8,
                "validation_patches": 4,
                "batch_size": 4,
            },
            "model": {"levels": 2, "base_channels": 4},
            "trainer": {"epochs": 1},
            "output_dir": str(tmp_path / "m"),
        }
    )
    with pytest.warns(SeismicNote, match="patch size 10 instead"):
        result = train(config)
    stored = load_checkpoint(result.last_checkpoint).app_config
    assert stored["data"]["patch_size"] == 10


def test_cli_set_overrides_and_classical_denoise(tmp_path, capsys):
    noisy = synthetic_section(48, 64, seed=4)
    write_npy(tmp_path / "x.npy", noisy)
    run = tmp_path / "run.yaml"
    run.write_text(
        yaml.safe_dump(
            {
                "data": {
                    "train": ["x.npy"],
                    "patch_size": 16,
                    "patches_per_epoch": 8,
                    "validation_patches": 0,
                    "batch_size": 8,
                },
                "model": {"levels": 2, "base_channels": 4},
                "trainer": {"epochs": 3},
                "output_dir": "m",
            }
        )
    )
    assert (
        _cli(
            "seismic",
            "train",
            run,
            "--set",
            "trainer.epochs=1",
            "--set",
            "sections.normalization=robust",
        )
        == 0
    )
    checkpoint = load_checkpoint(tmp_path / "m" / "last.pt")
    assert len(checkpoint.history) == 1
    assert checkpoint.app_config["sections"]["normalization"] == "robust"
    assert _cli("seismic", "train", run, "--set", "trainer.epoks=1") == 2
    assert "trainer.epoks" in capsys.readouterr().err
    with pytest.raises(ConfigError, match=r"dotted\.key=value"):
        SeismicConfig.from_yaml(run, ["epochs"])
    out = tmp_path / "edited.sgy"
    assert (
        _cli(
            "seismic", "denoise", tmp_path / "x.npy", out, "--method", "trace_edit", "--dt", "0.002"
        )
        == 0
    )
    with segyio.open(out, ignore_geometry=True) as f:
        assert f.bin[segyio.BinField.Interval] == 2000


def _cli(*argv) -> int:
    try:
        main([str(arg) for arg in argv])
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def test_transposed_npy_is_noted_and_read_with_transpose(tmp_path):
    section = synthetic_section(32, 400, seed=1)
    write_npy(tmp_path / "t.npy", section.T.copy())  # stored (n_traces, n_samples)
    write_npy(tmp_path / "short.npy", section[:20])
    with pytest.warns(SeismicNote, match="--transpose"):
        denoise_file(tmp_path / "short.npy", tmp_path / "o.npy", method="median")
    flipped = denoise_file(tmp_path / "t.npy", tmp_path / "o2.npy", method="median", transpose=True)
    np.testing.assert_allclose(flipped, classical_denoise(section, "median"), atol=1e-6)


def test_unsigned_input_is_written_as_float_with_a_note(tmp_path):
    cube = tmp_path / "u16.sgy"
    data = make_cube(cube, sample_format=5)
    raw = read_segy(cube)
    spec = segyio.spec()
    spec.samples, spec.format, spec.tracecount = np.arange(N_SAMPLES) * 4.0, 11, raw.shape[1]
    with segyio.create(cube, spec) as f:
        f.trace = np.ascontiguousarray((raw.T * 100 + 1000).clip(0), dtype=np.uint16)
    with pytest.warns(SegyNote, match="format 5"):
        out = denoise_file(cube, tmp_path / "out.sgy", method="wavelet")
    with segyio.open(tmp_path / "out.sgy", ignore_geometry=True) as f:
        assert f.bin[segyio.BinField.Format] == 5
    assert out.shape == data.shape


def test_trace_editing_and_wavelets_beat_the_noise_they_target():
    clean = synthetic_section(128, 96, seed=6)
    rng = np.random.default_rng(2)
    scale = float(clean.std())
    trace = clean + tracewise_noise(clean.shape, 0.1, 3 * scale, rng, band_hz=(2, 20))
    white = clean + white_noise(clean.shape, 0.5 * scale, rng)
    hit = set(np.flatnonzero(np.abs(trace - clean).max(axis=0) > 0).tolist())
    flagged = set(np.flatnonzero(flag_noisy_traces(trace)).tolist())
    assert len(flagged & hit) >= 0.8 * len(hit) and len(flagged - hit) <= 1
    reference = torch.from_numpy(clean)

    def gain(noisy, method):
        before = snr_db(reference, torch.from_numpy(noisy))
        return snr_db(reference, torch.from_numpy(classical_denoise(noisy, method))) - before

    assert gain(trace, "trace_edit") > 6
    assert gain(white, "wavelet") > 2
    assert gain(white, "fk") > 2
    assert gain(trace + white - clean, "chain") > 4


F3 = (Path(__file__).parents[1] / ".." / "shared" / "data" / "seismic" / "f3.sgy").resolve()


@pytest.mark.skipif(not F3.is_file(), reason="the shared F3 crop is not here")
def test_real_f3_cube_denoises_per_inline_from_the_cli_with_one_note(tmp_path, capsys):
    """F3 (dGB Earth Sciences, CC BY-SA 3.0, via segyio's test data): 23 inlines x 18."""
    out = tmp_path / "f3_edited.sgy"
    code = _cli("seismic", "denoise", F3, out, "--method", "trace_edit", "--geometry", "inline")
    assert code == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "462 samples" in notes[0]
    raw_in, raw_out = F3.read_bytes(), out.read_bytes()
    assert raw_in[:3600] == raw_out[:3600] and len(raw_in) == len(raw_out)
    np.testing.assert_array_equal(header_values(out, 189), header_values(F3, 189))


@pytest.mark.parametrize("fill", ["hide", "median"])
def test_robust_training_with_hidden_traces_is_reproducible(tmp_path, fill):
    noisy = synthetic_section(32, 48, seed=8)
    noisy[:, 5] = 0.0
    noisy[:, 20] *= 10
    write_npy(tmp_path / "x.npy", noisy)
    states = []
    for name in ("a", "b"):
        config = SeismicConfig.model_validate(
            {
                "data": {
                    "train": [str(tmp_path / "x.npy")],
                    "patch_size": 16,
                    "patches_per_epoch": 16,
                    "validation_patches": 8,
                    "batch_size": 8,
                },
                "masking": {"strategy": "mixed"},
                "model": {"levels": 2, "base_channels": 4},
                "trainer": {"epochs": 1},
                "sections": {
                    "normalization": "robust",
                    "flag_noisy_traces": True,
                    "flagged_fill": fill,
                },
                "output_dir": str(tmp_path / name),
            }
        )
        states.append(load_checkpoint(train(config).last_checkpoint))
    first, second = (state.state_dict for state in states)
    assert all(torch.equal(first[key], second[key]) for key in first)
    losses = [[record["train_loss"] for record in state.history] for state in states]
    assert losses[0] == losses[1]


def make_coherent_cube(path: Path, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """A cube like F3: traces alike along inlines, unalike along crosslines; (clean, noisy).

    Neighbouring inlines at one crossline are adjacent traces of one synthetic section,
    neighbouring crosslines are 8 traces apart, so a trace's best predictors lie on the
    inlines beside it. Written inline-major with inline/crossline headers.
    """
    n_samples, n_inlines, n_crosslines = 48, 8, 32
    wide = synthetic_section(n_samples, n_crosslines * n_inlines, seed=4)
    clean = wide.reshape(n_samples, n_crosslines, n_inlines).transpose(0, 2, 1)
    clean = clean.reshape(n_samples, -1)
    noise = np.random.default_rng(0).normal(0, sigma * clean.std(), clean.shape)
    noisy = (clean + noise).astype(np.float32)
    spec = segyio.spec()
    spec.samples = np.arange(n_samples) * 4.0
    spec.format = 5
    spec.tracecount = noisy.shape[1]
    with segyio.create(path, spec) as f:
        for index in range(noisy.shape[1]):
            f.header[index] = {
                segyio.TraceField.INLINE_3D: 10 + index // n_crosslines,
                segyio.TraceField.CROSSLINE_3D: 100 + index % n_crosslines,
            }
        f.trace = np.ascontiguousarray(noisy.T)
    return clean, noisy


def test_a_cube_denoised_as_a_volume_beats_its_butted_inlines(tmp_path, cli):
    clean, _ = make_coherent_cube(tmp_path / "cube.sgy", sigma=1.0)
    results = {}
    for geometry in ("volume", "file"):  # file: the inlines butted together in file order
        config = SeismicConfig.model_validate(
            {
                "data": {
                    "train": [str(tmp_path / "cube.sgy")],
                    "patch_size": 32,
                    "patches_per_epoch": 96,
                    "validation_patches": 0,
                    "batch_size": 8,
                },
                "model": {"levels": 2, "base_channels": 8},
                "trainer": {"epochs": 8, "learning_rate": 3e-3},
                "sections": {"geometry": geometry},
                "output_dir": str(tmp_path / geometry),
            }
        )
        with pytest.warns(SeismicNote, match="random .pixel. masking only"):
            checkpoint = train(config).last_checkpoint
        out = tmp_path / f"{geometry}.sgy"
        assert cli("seismic", "denoise", tmp_path / "cube.sgy", out, "-c", checkpoint).code == 0
        results[geometry] = snr_db(torch.from_numpy(clean), torch.from_numpy(read_segy(out)))
    stored = load_checkpoint(tmp_path / "volume" / "last.pt").app_config
    assert stored["model"]["in_channels"] == 3  # the inline and one neighbour on each side
    # Measured: 7.3 dB as a volume, 6.2 dB butted (noisy: 0.0 dB): the neighbouring
    # inlines carry the same geology under independent noise; 0.5 dB leaves room for
    # platform-dependent float differences.
    assert results["volume"] > results["file"] + 0.5, results
    refused = cli(
        "seismic",
        "denoise",
        tmp_path / "cube.sgy",
        tmp_path / "x.sgy",
        "-c",
        tmp_path / "volume" / "last.pt",
        "--geometry",
        "inline",
    )
    assert refused.code == 2 and "volume" in refused.error_line()
