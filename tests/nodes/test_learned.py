"""The learned nodes: Noise2Void, Deep Image Prior and DnCNN / SCUNet from weights files.

Denoising tests use a 64x64 crop of scikit-image's camera with Gaussian noise of standard
deviation 25/255 (PSNR 20.2 dB). Training runs are kept to a few seconds on a CPU, far from
convergence; PSNR thresholds sit about 1 dB below the gains measured with these settings
(noted beside each), and well above what a broken pipeline (identity: 0 dB, or a network
that is not trained) would give.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from image_measures import psnr
from skimage import color, data, filters

from pixelwise.errors import CheckpointError, ConfigError, InputError
from pixelwise.methods import predict_normalized, seeded_model
from pixelwise.models import DnCNNConfig, SCUNetConfig, UNetConfig, build_model, save_weights
from pixelwise.nodes import create_node
from pixelwise.nodes.learned import (
    DeepImagePriorParams,
    Noise2VoidParams,
    deep_image_prior_model,
    fit_deep_image_prior,
    train_noise2void,
)

SIGMA = 25 / 255
N2V_FAST = {"epochs": 8, "patches_per_epoch": 64, "batch_size": 16, "patch_size": 32}
DIP_FAST = {"iterations": 500, "base_channels": 8, "levels": 4}


def camera_crop(size: int = 64) -> np.ndarray:
    return data.camera()[128 : 128 + size, 192 : 192 + size].astype(np.float32) / 255


def add_noise(clean: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (clean + rng.normal(0.0, SIGMA, clean.shape)).astype(np.float32)


def gain(clean: np.ndarray, noisy: np.ndarray, estimate: np.ndarray) -> float:
    assert estimate.shape == clean.shape and estimate.dtype == np.float32
    return psnr(clean, estimate) - psnr(clean, noisy)


def weights_snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.named_parameters()}


def assert_every_weight_moved(model: torch.nn.Module, before: dict[str, torch.Tensor]) -> None:
    for name, value in model.named_parameters():
        assert not torch.equal(value.detach(), before[name]), f"{name} did not change"


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    return camera_crop()


@pytest.fixture(scope="module")
def noisy(clean: np.ndarray) -> np.ndarray:
    return add_noise(clean)


# Noise2Void -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def noise2void_fit(noisy: np.ndarray):
    """(trained run, weights before training, training history) for ``N2V_FAST``."""
    params = Noise2VoidParams(**N2V_FAST)
    # The recipe seeds before it builds the network, so the same seed rebuilds its start.
    config = UNetConfig(levels=params.levels, base_channels=params.base_channels)
    before = weights_snapshot(seeded_model(config, params.seed))
    run = train_noise2void(noisy, params)
    return run, before, run.result.history


def test_noise2void_training_lowers_the_loss_and_moves_every_weight(noise2void_fit):
    run, before, history = noise2void_fit
    model = run.model
    assert len(history) == N2V_FAST["epochs"]
    # Normalised data: the masked MSE starts near 1 and falls towards the noise share of the
    # variance (0.17 here); measured 0.61 -> 0.24.
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert_every_weight_moved(model, before)


def test_noise2void_node_denoises_reproducibly(
    clean: np.ndarray, noisy: np.ndarray, noise2void_fit
):
    output = create_node("noise2void", **N2V_FAST)(noisy)
    assert gain(clean, noisy, output) > 2.5  # measured +3.7 dB
    # Same seed: the node repeats the fit above exactly.
    run = noise2void_fit[0]
    repeated = predict_normalized(run.model, noisy, run.normalization, device="cpu")
    np.testing.assert_array_equal(output, repeated)
    one_epoch = {**N2V_FAST, "epochs": 1}
    first = create_node("noise2void", **one_epoch, seed=1)(noisy)
    assert not np.array_equal(first, create_node("noise2void", **one_epoch, seed=2)(noisy))


def test_noise2void_handles_colour_small_and_constant_images():
    rng = np.random.default_rng(0)
    image = rng.random((20, 26, 3), dtype=np.float32)  # smaller than the 32-pixel patches
    image[..., 1] = 0.25
    output = create_node("noise2void", epochs=1, patches_per_epoch=4, batch_size=4)(image)
    assert output.shape == image.shape and np.isfinite(output).all()
    np.testing.assert_array_equal(output[..., 1], image[..., 1])
    assert not np.array_equal(output[..., 0], image[..., 0])
    with pytest.raises(ConfigError, match="multiple of 2"):
        create_node("noise2void", patch_size=30, levels=3)


# Deep Image Prior -----------------------------------------------------------------------------


def test_deep_image_prior_lowers_the_loss_and_moves_every_weight(noisy: np.ndarray):
    params = DeepImagePriorParams(iterations=30, levels=2, sigma=1e-3)
    model = deep_image_prior_model(params, channels=1)
    before = weights_snapshot(model)
    fit = fit_deep_image_prior(model, noisy[:32, :32], params)
    # sigma so small that the discrepancy is never met: all 30 steps, checked every 10
    assert [record["step"] for record in fit.history] == [10, 20, 30]
    # The random start is far from the image (MSE ~1); the mean loss of the first ten steps
    # (measured 0.43) falls to the image's variance range over the last ten (0.05).
    assert fit.history[-1]["train_loss"] < 0.2 * fit.history[0]["train_loss"]
    assert_every_weight_moved(model, before)


def test_deep_image_prior_denoises_and_stops_by_the_discrepancy_principle(
    clean: np.ndarray, noisy: np.ndarray
):
    params = DeepImagePriorParams(**DIP_FAST)
    fit = fit_deep_image_prior(deep_image_prior_model(params, 1), noisy, params)
    assert fit.sigma == pytest.approx(SIGMA, rel=0.15)  # estimated from the image
    assert fit.history[-1]["step"] < params.iterations  # stopped by the discrepancy principle
    assert np.mean((fit.estimate - noisy) ** 2) < fit.sigma**2
    assert gain(clean, noisy, fit.estimate) > 4.5  # measured +5.4 dB, 230 steps


def test_deep_image_prior_stops_early_on_a_clean_target():
    smooth = filters.gaussian(camera_crop(32), sigma=1.5).astype(np.float32)
    params = DeepImagePriorParams(iterations=300, levels=2, sigma=0.1)
    fit = fit_deep_image_prior(deep_image_prior_model(params, 1), smooth, params)
    assert fit.history[-1]["step"] < 150  # measured 110 steps (checked every 10)
    assert np.mean((fit.estimate - smooth) ** 2) < 0.1**2


def test_deep_image_prior_is_reproducible_per_seed_and_fits_colour():
    rng = np.random.default_rng(0)
    image = rng.random((18, 22, 3), dtype=np.float32)
    settings = {"iterations": 10, "levels": 2}
    first = create_node("deep_image_prior", **settings)(image)
    assert first.shape == image.shape
    np.testing.assert_array_equal(create_node("deep_image_prior", **settings)(image), first)
    assert not np.array_equal(create_node("deep_image_prior", **settings, seed=1)(image), first)


# DnCNN and SCUNet from weights files ----------------------------------------------------------


@pytest.fixture(scope="module")
def trained_dncnn(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    """A 5-layer DnCNN with BatchNorm trained for 150 steps on noisy crops of another image.

    300 steps at learning rate 2e-3 gain +3.9 dB below; 150 steps at 4e-3 gain +3.6 dB (+4.2 and
    +3.8 with seeds 1 and 2) in half the time.
    """
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    training_image = color.rgb2gray(data.astronaut()).astype(np.float32)
    model = build_model(DnCNNConfig(depth=5, features=16, norm="batch"))
    optimizer = torch.optim.Adam(model.parameters(), lr=4e-3)
    model.train()
    for _ in range(150):
        corners = rng.integers(0, np.array(training_image.shape) - 32, size=(8, 2))
        crops = [training_image[r : r + 32, c : c + 32] for r, c in corners]
        clean = torch.from_numpy(np.stack(crops))[:, None]
        noisy = clean + SIGMA * torch.randn_like(clean)
        loss = torch.nn.functional.mse_loss(model(noisy), clean)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    path = save_weights(tmp_path_factory.mktemp("weights") / "dncnn.safetensors", model)
    return path, model.eval()


def test_dncnn_node_denoises_with_trained_weights_in_tiles(trained_dncnn):
    path, _ = trained_dncnn
    clean = camera_crop(96)[:61, :67]  # odd sizes, larger than a tile
    noisy = add_noise(clean)
    output = create_node("dncnn", weights=path, tile_size=32, overlap=8)(noisy)
    assert output.shape == noisy.shape
    assert gain(clean, noisy, output) > 3.0  # measured +3.6 dB, seeds 0-2 up to +4.2 dB


def test_dncnn_node_runs_the_stored_network_in_eval_mode(trained_dncnn, noisy: np.ndarray):
    path, model = trained_dncnn
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(noisy)[None, None])[0, 0].numpy()
    output = create_node("dncnn", weights=path)(noisy)  # one tile: the whole image
    # BatchNorm in train mode would normalise with this image's statistics instead.
    np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-6)


def test_scunet_node_runs_the_stored_network_on_odd_colour_images(tmp_path: Path):
    torch.manual_seed(0)
    config = SCUNetConfig(in_channels=3, dim=8, levels=2, blocks=2, head_dim=4, window_size=4)
    model = build_model(config).eval()
    path = save_weights(tmp_path / "scunet.safetensors", model)
    image = np.random.default_rng(0).random((21, 30, 3), dtype=np.float32)
    output = create_node("scunet", weights=path)(image)
    assert output.shape == image.shape
    with torch.no_grad():
        expected = model(torch.from_numpy(image).permute(2, 0, 1)[None])[0].permute(1, 2, 0)
    np.testing.assert_allclose(output, expected.numpy(), rtol=1e-5, atol=1e-5)
    with pytest.raises(InputError, match=r"scunet\.image: .* take 3-channel images"):
        create_node("scunet", weights=path)(image[..., 0])


def test_pretrained_nodes_report_bad_weights(tmp_path: Path, trained_dncnn):
    dncnn_path, _ = trained_dncnn
    image = np.zeros((16, 16), np.float32)
    with pytest.raises(CheckpointError, match=r"dncnn\.safetensors: holds a 'dncnn' model"):
        create_node("scunet", weights=dncnn_path)(image)
    with pytest.raises(CheckpointError, match=r"absent\.safetensors: weights file not found"):
        create_node("dncnn", weights=tmp_path / "absent.safetensors")(image)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(dncnn_path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"truncated\.safetensors: not a safetensors"):
        create_node("dncnn", weights=truncated)(image)
    with pytest.raises(InputError, match=r"dncnn\.image: .* take 1-channel images"):
        create_node("dncnn", weights=dncnn_path)(np.zeros((16, 16, 3), np.float32))
    with pytest.raises(ConfigError, match="weights"):
        create_node("dncnn")
