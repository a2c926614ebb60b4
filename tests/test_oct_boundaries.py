"""Boundaries from class probabilities: sub-pixel, ordered, NaN without retina; the baseline."""

from __future__ import annotations

import numpy as np
import torch

from pixelwise.apps.oct.baseline import EdgeBaselineConfig, detect_boundaries
from pixelwise.methods.segmentation import boundaries_from_probabilities


def _probabilities(ilm: np.ndarray, bm: np.ndarray, height: int) -> torch.Tensor:
    """Partial-volume class shares: pixel r covers [r - 0.5, r + 0.5)."""
    rows = np.arange(height)[:, None]
    above_ilm = np.clip(ilm[None] + 0.5 - rows, 0, 1)
    above_bm = np.clip(bm[None] + 0.5 - rows, 0, 1)
    p = np.stack([above_ilm, above_bm - above_ilm, 1 - above_bm])
    return torch.from_numpy(p[None].astype(np.float32))


def test_fractional_boundaries_are_recovered_and_ordered():
    ilm = np.array([3.25, 4.5, 5.875, 10.1])
    bm = np.array([12.75, 13.1, 6.0, 10.6])
    rows = boundaries_from_probabilities(_probabilities(ilm, bm, 24), min_layer_rows=0.1)[0]
    np.testing.assert_allclose(rows[0].numpy(), ilm, atol=1e-5)
    np.testing.assert_allclose(rows[1].numpy(), bm, atol=1e-5)
    # Noisy probabilities stay ordered (cumulative sums of non-negative terms).
    noisy = torch.softmax(torch.randn(2, 3, 24, 16) * 3, dim=1)
    found = boundaries_from_probabilities(noisy, min_layer_rows=0.0)
    assert bool((found[:, 1] >= found[:, 0]).all())


def test_columns_without_retina_are_nan():
    ilm, bm = np.array([5.0, 8.0]), np.array([15.0, 8.5])  # 10 rows of retina, then half a row
    rows = boundaries_from_probabilities(_probabilities(ilm, bm, 24), min_layer_rows=2.0)[0].numpy()
    assert np.isfinite(rows[:, 0]).all()
    assert np.isnan(rows[:, 1]).all()


def test_baseline_finds_clean_steps_to_subpixel():
    image = np.zeros((60, 20), np.float32)
    image[15:40] = 0.5
    image[36:40] = 1.0  # a bright RPE band at the bottom of the retina
    config = EdgeBaselineConfig(sigma_rows=1, sigma_columns=1, median_columns=1)
    rows = detect_boundaries(image, config)
    np.testing.assert_allclose(rows[0], 14.5, atol=0.05)  # the step between rows 14 and 15
    np.testing.assert_allclose(rows[1], 39.5, atol=0.05)
