"""Sliding-window inference: padding, tiling, exact cropping, N-D and multi-input models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pixelwise.data import Normalization
from pixelwise.engine import predict_array, sliding_window_inference
from pixelwise.errors import InputError
from pixelwise.methods import predict_normalized
from pixelwise.models import UNetConfig, build_model


@pytest.mark.parametrize("shape", [(37, 53), (64, 64), (5, 130)])
def test_any_size_is_padded_predicted_and_cropped_exactly(shape):
    """A size the U-Net cannot take directly gives what the padded input gives, cropped."""
    torch.manual_seed(0)
    config = UNetConfig(levels=3, base_channels=4)
    model = build_model(config).eval()
    image = np.random.default_rng(0).random(shape, dtype=np.float32)
    out = predict_array(model, image, window=None, size_multiple=config.size_multiple)
    assert out.shape == shape and out.dtype == np.float32
    pads = [(-size) % config.size_multiple for size in shape]
    padded = F.pad(torch.from_numpy(image)[None, None], (0, pads[1], 0, pads[0]), mode="replicate")
    with torch.no_grad():
        expected = model(padded)[0, 0, : shape[0], : shape[1]].numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_tiling_with_blending_is_exact_for_a_pointwise_model():
    model = nn.Conv2d(1, 1, kernel_size=1)
    image = torch.randn(1, 1, 70, 90)
    whole = model(image).detach()
    tiled = sliding_window_inference(model, image, size_multiple=4, window=32, overlap=8)
    torch.testing.assert_close(tiled, whole)


def test_tiled_unet_matches_whole_image_prediction_away_from_seams():
    """Tile seams are blended: tiled and whole predictions agree closely everywhere."""
    torch.manual_seed(0)
    config = UNetConfig(levels=2, base_channels=4, norm="none")
    model = build_model(config).eval()
    image = torch.randn(1, 1, 96, 96)
    whole = sliding_window_inference(model, image, size_multiple=2, window=None)
    tiled = sliding_window_inference(model, image, size_multiple=2, window=48, overlap=16)
    error = (tiled - whole).abs().mean() / whole.abs().mean()
    assert error < 0.05


class TwoInOneDict(nn.Module):
    """Takes an image and a depth map; returns a dict of two outputs of different widths."""

    def forward(self, image: Tensor, depth: Tensor) -> dict[str, Tensor]:
        return {"sum": image + depth, "stack": torch.cat([image * 2, depth.repeat(1, 2, 1, 1)], 1)}


def test_several_inputs_and_a_dict_output_are_tiled_consistently():
    image, depth = torch.randn(2, 1, 50, 70), torch.rand(2, 1, 50, 70)
    out = sliding_window_inference(TwoInOneDict(), (image, depth), window=16, overlap=4)
    assert set(out) == {"sum", "stack"} and out["stack"].shape == (2, 3, 50, 70)
    torch.testing.assert_close(out["sum"], image + depth)
    torch.testing.assert_close(out["stack"][:, 1:], depth.repeat(1, 2, 1, 1))
    named = sliding_window_inference(
        lambda image, depth: image - depth, {"image": image, "depth": depth}, window=16
    )
    torch.testing.assert_close(named, image - depth)


def test_three_dimensional_inputs_are_tiled_along_every_axis():
    model = nn.Conv3d(1, 2, kernel_size=1)
    volume = torch.randn(1, 1, 20, 33, 18)
    with torch.no_grad():
        whole = model(volume)
    tiled = sliding_window_inference(model, volume, window=(8, 16, 8), overlap=2)
    torch.testing.assert_close(tiled, whole)


def test_predict_array_returns_every_output_channel():
    model = nn.Conv2d(1, 3, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([1.0, 2.0, 3.0]).view(3, 1, 1, 1))
        model.bias.zero_()
    image = np.random.default_rng(1).random((9, 11), dtype=np.float32)
    probabilities = predict_array(model, image, window=4, overlap=1)
    assert probabilities.shape == (3, 9, 11)
    np.testing.assert_allclose(probabilities[2], 3 * image, rtol=1e-6)
    with pytest.raises(InputError, match="spatial axes"):
        predict_array(model, image[None, None])


def test_outputs_not_aligned_with_the_input_are_refused():
    pooled = nn.AvgPool2d(2)
    with pytest.raises(InputError, match="window=None"):
        sliding_window_inference(pooled, torch.randn(1, 1, 40, 40), window=16)


class Identity(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x


def test_normalised_prediction_undoes_the_normalisation():
    """An identity network must give the input back: normalise -> predict -> invert."""
    image = (np.random.default_rng(2).normal(5.0, 3.0, (40, 50))).astype(np.float32)
    out = predict_normalized(Identity(), image, Normalization(mean=5.0, std=3.0), device="cpu")
    np.testing.assert_allclose(out, image, rtol=1e-5, atol=1e-5)
    shifted = predict_normalized(Identity(), image, Normalization(mean=0.0, std=1.0), device="cpu")
    np.testing.assert_allclose(shifted, image, rtol=1e-6)
