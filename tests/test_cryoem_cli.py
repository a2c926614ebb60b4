"""The cryo-EM command line: tiled denoising of any size, headers kept, evaluation flags."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pixelwise.apps.cryoem.denoise import denoise_array, load_denoiser
from pixelwise.apps.cryoem.evaluate import evaluate
from pixelwise.apps.cryoem.micrographs import pairs_from_files
from pixelwise.apps.cryoem.simulate import SimulationConfig, simulate_dataset
from pixelwise.apps.cryoem.train import APP
from pixelwise.cli.main import main
from pixelwise.engine import Checkpoint, save_checkpoint
from pixelwise.io.mrc import MrcSource, write_mrc
from pixelwise.models import ThreeLayerCNN, ThreeLayerCNNConfig, UNet, UNetConfig


def _cli(args: list[str]) -> int:
    """Run ``pixelwise ARGS`` in-process; return its exit status."""
    try:
        main(args)
    except SystemExit as done:
        return int(done.code or 0)
    return 0


def _save(path, model) -> str:
    save_checkpoint(path, Checkpoint(APP, model.config.model_dump(mode="json"), model.state_dict()))
    return str(path)


def test_denoise_any_size_tiles_without_seams_and_keeps_the_header(tmp_path) -> None:
    torch.manual_seed(0)
    checkpoint = _save(tmp_path / "unet.pt", UNet(UNetConfig(levels=2, base_channels=4)))
    image = np.random.default_rng(0).poisson(30, (150, 230)).astype(np.float32)
    write_mrc(tmp_path / "in.mrc", image, voxel_size=1.3)
    status = _cli(
        [
            "cryoem",
            "denoise",
            str(tmp_path / "in.mrc"),
            "-o",
            str(tmp_path / "out.mrc"),
            "-c",
            checkpoint,
            "--patch-size",
            "64",
            "--dtype",
            "float16",
            "--device",
            "cpu",
        ]
    )
    assert status == 0
    out = MrcSource(tmp_path / "out.mrc")
    assert out.shape == (150, 230) and out.dtype == np.float16
    assert out.voxel_size[0] == pytest.approx(1.3)
    whole = denoise_array(load_denoiser(checkpoint), image, patch_size=512, device="cpu")
    tiled = out.read((slice(0, 150), slice(0, 230))).astype(np.float32)
    assert np.abs(tiled - whole).max() < 2e-3 * np.abs(whole).max()  # float16 rounding only
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temporary left


def test_evaluation_flags_an_inverted_model_and_marks_the_report(tmp_path) -> None:
    config = SimulationConfig(shape=(96, 96), frames=4, residues=(200, 300), species=1)
    simulate_dataset(tmp_path / "test", config, 2, seed=2, movies=False)
    pairs = pairs_from_files([tmp_path / "test" / "noisy"], [tmp_path / "test" / "clean"], "paired")
    torch.manual_seed(0)
    inverted = ThreeLayerCNN(ThreeLayerCNNConfig())
    with torch.no_grad():
        for layer in (inverted[0], inverted[2], inverted[4]):
            layer.weight.uniform_(0.0, 0.05)
            layer.bias.zero_()
        inverted[4].weight.neg_()
    trained = load_denoiser(_save(tmp_path / "bad.pt", inverted))
    with pytest.warns(RuntimeWarning, match="negative correlation"):
        evaluation = evaluate({"bad": trained}, pairs, device="cpu")
    assert any("Gaussian" in flag for flag in evaluation.flags)
    from pixelwise.apps.cryoem.evaluate import write_report

    report = write_report(evaluation, tmp_path / "report", "test")
    assert "warnings-banner" in report.read_text()
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["methods"]["bad"]["pearson_r"] < 0 and metrics["red_flags"]


def test_cli_errors_are_one_line(tmp_path, capsys) -> None:
    (tmp_path / "w.bin").write_bytes(b"\0" * 64)
    assert _cli(["cryoem", "import", str(tmp_path / "w.bin"), "-o", str(tmp_path / "x.pt")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "w.bin" in error and "sidecar" in error
    assert not (tmp_path / "x.pt").exists()
