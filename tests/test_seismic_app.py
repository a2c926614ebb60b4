"""The seismic application end to end: config, train, denoise, CLI and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import segyio
import torch
import yaml

from pixelwise.apps.seismic import SeismicConfig, denoise_file
from pixelwise.apps.seismic.synthetic import synthetic_section
from pixelwise.cli import main
from pixelwise.config import validate_config
from pixelwise.engine import load_checkpoint, save_checkpoint
from pixelwise.errors import ConfigError
from pixelwise.io.arrays import write_npy
from pixelwise.io.segy import read_segy, write_segy
from pixelwise.metrics import snr_db


def run_cli(*argv: str | Path) -> int:
    try:
        main([str(arg) for arg in argv])
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def tiny_config(train_file: Path, output_dir: Path) -> dict:
    return {
        "data": {
            "train": [str(train_file)],
            "patch_size": 32,
            "patches_per_epoch": 64,
            "validation_patches": 8,
            "batch_size": 8,
        },
        "masking": {"strategy": "random", "active_fraction": 0.02},
        "model": {"levels": 2, "base_channels": 8},
        "trainer": {"epochs": 4, "learning_rate": 4e-3},
        "output_dir": str(output_dir),
        "inference": {"window": 48, "overlap": 8},
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """A tiny model trained through the CLI on a noisy SEG-Y section."""
    root = tmp_path_factory.mktemp("seismic")
    rng = np.random.default_rng(0)
    clean = synthetic_section(64, 80, seed=1)
    section = clean + rng.normal(0, 0.3, (64, 80)).astype(np.float32)
    segy = root / "noisy.sgy"
    write_segy(segy, section)
    config = root / "run.yaml"
    config.write_text(yaml.safe_dump(tiny_config(segy, root / "model")))
    assert run_cli("seismic", "train", config) == 0
    return {
        "root": root,
        "segy": segy,
        "clean": clean,
        "config": config,
        "checkpoint": root / "model" / "last.pt",
    }


def test_denoise_cli_writes_segy_keeping_every_header(trained, capsys):
    out = trained["root"] / "denoised.sgy"
    assert (
        run_cli("seismic", "denoise", trained["segy"], out, "--checkpoint", trained["checkpoint"])
        == 0
    )
    with (
        segyio.open(trained["segy"], ignore_geometry=True) as src,
        segyio.open(out, ignore_geometry=True) as dst,
    ):
        assert src.text[0] == dst.text[0]
        assert src.bin == dst.bin
        assert all(src.header[i] == dst.header[i] for i in range(src.tracecount))
    denoised, noisy = read_segy(out), read_segy(trained["segy"])
    assert denoised.shape == (64, 80)
    # Denoising must bring the section closer to the clean one (the CLI's whole purpose);
    # 4 tiny epochs at noise 0.3 give about +3 dB, so +1.5 dB leaves room for noise.
    clean = torch.from_numpy(trained["clean"])
    gain = snr_db(clean, torch.from_numpy(denoised)) - snr_db(clean, torch.from_numpy(noisy))
    assert gain > 1.5


def test_training_from_the_cli_is_reproducible(trained, tmp_path):
    """Two identical runs give bit-identical weights (the model is built after seeding)."""
    settings = yaml.safe_load(trained["config"].read_text())
    settings["trainer"]["epochs"] = 1
    checkpoints = []
    for name in ("a", "b"):
        run = tmp_path / f"{name}.yaml"
        run.write_text(yaml.safe_dump({**settings, "output_dir": str(tmp_path / name)}))
        assert run_cli("seismic", "train", run) == 0
        checkpoints.append(load_checkpoint(tmp_path / name / "last.pt"))
    first, second = (checkpoint.state_dict for checkpoint in checkpoints)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[key], second[key]) for key in first)
    assert checkpoints[0].learned_state == checkpoints[1].learned_state


def test_denoise_handles_any_size_and_npy_output(trained):
    odd = trained["root"] / "odd.npy"
    write_npy(
        odd, synthetic_section(50, 131, seed=2)
    )  # not multiples of 2**levels, wider than a tile
    out = trained["root"] / "odd_denoised.npy"
    result = denoise_file(odd, out, trained["checkpoint"])
    assert result.shape == (50, 131)
    assert np.load(out).shape == (50, 131)


def test_config_errors_list_every_problem_with_the_file_name(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {"data": {"train": [], "patch_size": 3}, "trainer": {"epochs": 0}, "unknown": 1}
        )
    )
    with pytest.raises(ConfigError) as error:
        SeismicConfig.from_yaml(bad)
    message = str(error.value)
    assert message.startswith(str(bad))
    for field in ("data.train", "data.patch_size", "trainer.epochs", "unknown"):
        assert field in message


def test_config_sections_compose_and_legacy_tile_fields_still_load(tmp_path):
    data = tiny_config(tmp_path / "x.npy", tmp_path)
    del data["inference"]
    legacy = validate_config(SeismicConfig, {**data, "tile_size": 96, "tile_overlap": 4}, "old")
    assert (legacy.inference.window, legacy.inference.overlap) == (96, 4)
    relative = tmp_path / "run.yaml"
    relative.write_text(yaml.safe_dump({**data, "data": {**data["data"], "train": ["x.npy"]}}))
    loaded = SeismicConfig.from_yaml(relative)
    assert loaded.data.train == [tmp_path / "x.npy"]
    with pytest.raises(ValueError, match="frozen"):
        loaded.data.patch_size = 8  # type: ignore[misc]


def test_patch_size_must_fit_the_network(tmp_path):
    data = tiny_config(tmp_path / "x.npy", tmp_path)
    data["data"]["patch_size"] = 36
    data["model"]["levels"] = 4
    with pytest.raises(ConfigError, match="multiple of 8"):
        validate_config(SeismicConfig, data, "run.yaml")


def _expect_clean_failure(capsys, argv, out: Path, *fragments: str) -> None:
    assert run_cli(*argv) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1, error
    assert "Traceback" not in error
    for fragment in fragments:
        assert fragment in error, error
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}*")), "a temporary file was left behind"


def test_bad_inputs_fail_with_one_clear_line_and_no_output(trained, capsys, tmp_path):
    checkpoint = trained["checkpoint"]
    out = tmp_path / "out.sgy"
    denoise = ("seismic", "denoise")

    _expect_clean_failure(
        capsys, (*denoise, tmp_path / "missing.sgy", out, "-c", checkpoint), out, "missing.sgy"
    )

    truncated = tmp_path / "truncated.sgy"
    data = trained["segy"].read_bytes()
    truncated.write_bytes(data[: 3600 + (len(data) - 3600) // 2 + 7])
    _expect_clean_failure(
        capsys, (*denoise, truncated, out, "-c", checkpoint), out, "truncated.sgy"
    )

    not_segy = tmp_path / "random.sgy"
    not_segy.write_bytes(np.random.default_rng(0).bytes(5000))
    _expect_clean_failure(capsys, (*denoise, not_segy, out, "-c", checkpoint), out, "random.sgy")

    # NaN samples are no longer an error: their traces are dead traces (test_seismic_geometry).

    cube = tmp_path / "cube.npy"
    np.save(cube, np.zeros((4, 32, 32), np.float32))
    _expect_clean_failure(capsys, (*denoise, cube, out, "-c", checkpoint), out, "cube.npy")

    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(checkpoint.read_bytes()[:1000])
    _expect_clean_failure(
        capsys, (*denoise, trained["segy"], out, "-c", corrupt), out, "corrupt.pt"
    )

    foreign = tmp_path / "foreign.pt"
    stored = load_checkpoint(checkpoint)
    stored.app = "cryoem"
    save_checkpoint(foreign, stored)
    _expect_clean_failure(
        capsys, (*denoise, trained["segy"], out, "-c", foreign), out, "foreign.pt", "cryoem"
    )

    missing_config = tmp_path / "nope.yaml"
    _expect_clean_failure(capsys, ("seismic", "train", missing_config), out, "nope.yaml")
