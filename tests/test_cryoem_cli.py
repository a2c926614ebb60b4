"""The cryo-EM command line: tiled denoising of any size, headers kept, evaluation flags."""

from __future__ import annotations

import contextlib
import itertools
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


def _linear_cnn(kernel: np.ndarray) -> ThreeLayerCNN:
    """The seed's CNN set to the linear filter ``kernel`` (3x3): relu(x) - relu(-x) = x."""
    net = ThreeLayerCNN(ThreeLayerCNNConfig())
    with torch.no_grad():
        for layer in (net[0], net[2], net[4]):
            layer.weight.zero_()
            layer.bias.zero_()
        net[0].weight[0, 0, 1, 1], net[0].weight[1, 0, 1, 1] = 1.0, -1.0
        net[2].weight[0, 0, 1, 1], net[2].weight[1, 1, 1, 1] = 1.0, 1.0
        net[4].weight[0, 0] = torch.from_numpy(kernel)
        net[4].weight[0, 1] = -torch.from_numpy(kernel)
    return net


def test_evaluation_flags_a_slow_drift_over_epochs_not_only_best_and_last(tmp_path) -> None:
    """Epochs 1..5 of one run drift from the best blend of a 3x3 box blur and the raw input
    (4% raw, MSE-optimal on this data) towards the raw input, in steps each below the 2%
    "worse" share (measured: about +0.4 to +1.4% per step, +4.3% in all), so only comparing
    with the best earlier epoch (not the neighbour) catches it; best.pt (= epoch 1) given
    again is counted once."""
    config = SimulationConfig(shape=(96, 96), frames=4, residues=(200, 300), species=1)
    simulate_dataset(tmp_path / "test", config, 2, seed=2, movies=False)
    pairs = pairs_from_files([tmp_path / "test" / "noisy"], [tmp_path / "test" / "clean"], "paired")
    box, delta = np.full((3, 3), 1 / 9, np.float32), np.zeros((3, 3), np.float32)
    delta[1, 1] = 1.0
    models = {}
    for epoch, share in enumerate((0.04, 0.06, 0.08, 0.1, 0.115), start=1):
        net = _linear_cnn((1 - share) * box + share * delta)
        path = tmp_path / "run" / f"epoch-{epoch:04d}.pt"
        save_checkpoint(
            path,
            Checkpoint(
                APP,
                net.config.model_dump(mode="json"),
                net.state_dict(),
                app_config={"output_dir": "run"},
                epoch=epoch,
            ),
        )
        models[f"epoch {epoch}"] = load_denoiser(path)
    models["best.pt"] = models["epoch 1"]
    with pytest.warns(RuntimeWarning, match="more training made it worse"):
        evaluation = evaluate(models, pairs, device="cpu")
    mse = [evaluation.scores[f"epoch {e}"]["mse"] for e in range(1, 6)]
    steps = [later / earlier for earlier, later in itertools.pairwise(mse)]
    assert all(1 < step < 1.02 for step in steps), steps  # no single step is "worse"
    drift = [flag for flag in evaluation.flags if "more training" in flag]
    assert len(drift) == 1 and "(epoch 5) is worse than epoch 1" in drift[0], drift


@pytest.mark.parametrize("problem", ["a file", "held by another run"])
def test_train_refuses_a_bad_output_folder_before_any_training_step(
    tmp_path, monkeypatch, capsys, problem
) -> None:
    from pixelwise.engine.trainer import Trainer
    from pixelwise.io.atomic import locked_folder

    config = SimulationConfig(shape=(64, 64), frames=2, residues=(50, 60), species=1)
    simulate_dataset(tmp_path / "data", config, 2, seed=1, movies=False)
    out = tmp_path / "model"
    if problem == "a file":
        out.write_text("my notes")
        expected = "exists and is not a folder"
    else:
        out.mkdir()
        expected = "another pixelwise run"
    (tmp_path / "run.yaml").write_text(
        "data: {input: [data/noisy], target: [data/clean], patch_size: 32,\n"
        "       patches_per_epoch: 16, batch_size: 8, validation_fraction: 0,\n"
        "       test_fraction: 0, validation_patches: 0}\n"
        "model: {name: cnn3}\ntrainer: {epochs: 1, precision: '32'}\noutput_dir: model\n"
    )

    def no_step(*args, **kwargs):
        raise AssertionError("a training step ran before the output folder was checked")

    monkeypatch.setattr(Trainer, "_train_epoch", no_step)
    with contextlib.ExitStack() as stack:
        if problem != "a file":
            stack.enter_context(locked_folder(out))
        status = _cli(["cryoem", "train", str(tmp_path / "run.yaml")])
    error = capsys.readouterr().err.strip()
    assert status != 0 and error.count("\n") == 0, error
    assert str(out) in error and expected in error, error
    if problem == "a file":
        assert out.read_text() == "my notes"


def test_denoise_reports_progress_per_file_and_per_tile(tmp_path) -> None:
    from pixelwise.apps.cryoem.denoise import denoise_files

    class Recorder:
        def __init__(self) -> None:
            self.events: list[tuple[str, str, int | None]] = []

        def start(self, phase: str, total: int | None, description: str) -> None:
            self.events.append(("start", phase, total))

        def advance(self, phase: str, metrics: dict[str, float] | None = None) -> None:
            self.events.append(("advance", phase, None))

        def finish(self, phase: str) -> None:
            self.events.append(("finish", phase, None))

    checkpoint = _save(tmp_path / "cnn.pt", ThreeLayerCNN(ThreeLayerCNNConfig()))
    rng = np.random.default_rng(1)
    inputs = []
    for name in ("a.mrc", "b.mrc"):
        write_mrc(tmp_path / name, rng.poisson(20, (64, 96)).astype(np.float32))
        inputs.append(tmp_path / name)
    recorder, written = Recorder(), []
    denoise_files(
        inputs,
        tmp_path / "out",
        checkpoint,
        patch_size=32,
        device="cpu",
        progress=recorder,
        on_written=lambda path, done, total: written.append((path.name, done, total)),
    )
    assert written == [("a.mrc", 1, 2), ("b.mrc", 2, 2)]
    assert recorder.events[0] == ("start", "files", 2)
    per_file = [e for e in recorder.events if e[1] == "file"]
    # each file: start with 2 x 3 tiles of 32², one advance per tile, finish
    one = [("start", "file", 6), *[("advance", "file", None)] * 6, ("finish", "file", None)]
    assert per_file == one * 2
    assert recorder.events.count(("advance", "files", None)) == 2
