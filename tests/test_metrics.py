"""Torch metrics against independent references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from pixelwise.metrics import masked_rmse, pearson_r, psnr, rmse, snr_db


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    target = rng.random((32, 32))
    prediction = target + rng.normal(0, 0.05, target.shape)
    return torch.from_numpy(prediction), torch.from_numpy(target)


def test_psnr_matches_skimage_with_explicit_range(pair):
    prediction, target = pair
    expected = peak_signal_noise_ratio(target.numpy(), prediction.numpy(), data_range=1.0)
    assert psnr(prediction, target, data_range=1.0).item() == pytest.approx(expected, rel=1e-9)
    assert psnr(prediction * 255, target * 255, data_range=255).item() == pytest.approx(expected)
    with pytest.raises(ValueError, match="data_range"):
        psnr(prediction, target, data_range=0)


def test_snr_rmse_pearson(pair):
    prediction, target = pair
    error = (prediction - target).numpy()
    assert rmse(prediction, target).item() == pytest.approx(np.sqrt(np.mean(error**2)))
    expected_snr = 10 * np.log10(np.sum(target.numpy() ** 2) / np.sum(error**2))
    assert snr_db(target, prediction).item() == pytest.approx(expected_snr)
    expected_r = np.corrcoef(prediction.numpy().ravel(), target.numpy().ravel())[0, 1]
    assert pearson_r(prediction, target).item() == pytest.approx(expected_r)


def test_masked_rmse_counts_only_masked_positions():
    target = torch.zeros(4, 4)
    prediction = torch.zeros(4, 4)
    prediction[0, 0] = 3.0
    prediction[3, 3] = 100.0  # outside the mask: must not count
    mask = torch.zeros(4, 4, dtype=torch.bool)
    mask[0, :] = True
    assert masked_rmse(prediction, target, mask).item() == pytest.approx(np.sqrt(9 / 4))
    with pytest.raises(ValueError, match="no positions"):
        masked_rmse(prediction, target, torch.zeros_like(mask))
    with pytest.raises(ValueError, match="shape mismatch"):
        rmse(prediction, target[:2])
