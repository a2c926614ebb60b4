"""Weight exchange: round trips of every format, the known-answer self-check, and refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pixelwise.apps.cryoem import exchange
from pixelwise.apps.cryoem.denoise import denoise_array, load_denoiser
from pixelwise.apps.cryoem.train import APP
from pixelwise.engine import Checkpoint, save_checkpoint
from pixelwise.errors import CheckpointError, InputError
from pixelwise.models import ThreeLayerCNN, ThreeLayerCNNConfig, UNet, UNetConfig


def _smoother() -> ThreeLayerCNN:
    """A CNN with positive weights: a smoother whose output correlates with its input."""
    torch.manual_seed(0)
    net = ThreeLayerCNN(ThreeLayerCNNConfig())
    with torch.no_grad():
        for layer in (net[0], net[2], net[4]):
            layer.weight.uniform_(0.0, 0.05)
            layer.bias.zero_()
    return net


def _checkpoint(tmp_path, model) -> str:
    path = tmp_path / "model.pt"
    save_checkpoint(
        path,
        Checkpoint(APP, model.config.model_dump(mode="json"), model.state_dict()),
    )
    return str(path)


def _image() -> np.ndarray:
    return np.random.default_rng(0).poisson(20, (48, 40)).astype(np.float32)


@pytest.mark.parametrize(
    ("suffix", "options"),
    [
        (".safetensors", {}),
        (".bin", {"layout": "OIHW", "order": "C"}),
        (".bin", {"layout": "HWIO", "order": "F", "dtype": "float64"}),
    ],
)
def test_round_trip_reproduces_the_denoiser(tmp_path, suffix, options) -> None:
    model = UNet(UNetConfig(levels=2, base_channels=4))
    source = _checkpoint(tmp_path, model)
    exchange.export_weights(source, tmp_path / f"w{suffix}", **options)
    done = exchange.import_weights(tmp_path / f"w{suffix}", tmp_path / "imported.pt")
    before = denoise_array(load_denoiser(source), _image(), device="cpu")
    after = denoise_array(load_denoiser(done["checkpoint"]), _image(), device="cpu")
    assert np.allclose(before, after, atol=1e-5)


def test_onnx_export_matches_torch(tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    done = exchange.export_weights(_checkpoint(tmp_path, _smoother()), tmp_path / "w.onnx")
    assert done["max_abs_diff"] < 1e-4 and (tmp_path / "w.onnx").stat().st_size > 0


def test_probe_passes_and_scrambled_layouts_fail() -> None:
    kernels = torch.from_numpy(exchange.probe_kernels())
    exchange.check_probe(kernels, "ok")  # the known answer reproduces itself
    for scrambled in (kernels.transpose(2, 3), kernels.flip(3), kernels.permute(1, 0, 2, 3)):
        with pytest.raises(CheckpointError, match="self-check failed"):
            exchange.check_probe(scrambled.contiguous(), "scrambled")


@pytest.mark.parametrize("lie", [{"layout": "OIHW"}, {"order": "F"}])
def test_a_transposed_raw_file_is_caught(tmp_path, lie) -> None:
    """Bytes written one way, sidecar claiming another: the probe decodes wrongly."""
    path = tmp_path / "w.bin"
    exchange.export_raw(path, _smoother(), layout="HWIO", order="C")
    sidecar = exchange.sidecar_of(path)
    meta = json.loads(sidecar.read_text())
    meta.update(lie)
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="self-check failed"):
        exchange.import_raw(path)
    assert not (tmp_path / "out.pt").exists()


def test_raw_without_sidecar_or_with_wrong_size_is_refused(tmp_path) -> None:
    path = tmp_path / "w.bin"
    exchange.export_raw(path, _smoother())
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(InputError, match="sizes disagree"):
        exchange.import_weights(path, tmp_path / "out.pt")
    exchange.sidecar_of(path).unlink()
    with pytest.raises(InputError, match="sidecar") as caught:
        exchange.import_weights(path, tmp_path / "out.pt")
    assert "w.bin" in str(caught.value) and not (tmp_path / "out.pt").exists()


def test_a_sign_flipped_model_is_flagged(tmp_path) -> None:
    good = _smoother()
    bad = _smoother()
    with torch.no_grad():
        bad[4].weight.neg_()
    for model, negative in ((good, False), (bad, True)):
        exchange.export_raw(tmp_path / "w.bin", model)
        done = exchange.import_weights(tmp_path / "w.bin", tmp_path / "out.pt")
        assert (done["flag"] is not None) == negative
        assert (done["reference_r"] < 0) == negative
