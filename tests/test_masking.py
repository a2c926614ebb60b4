"""Blind-spot masking (pixel-wise and trace-wise) and the masked loss."""

from __future__ import annotations

import pytest
import torch

from pixelwise.errors import ConfigError, TrainingError
from pixelwise.losses import masked_mse
from pixelwise.masking import random_pixel_mask, tracewise_mask


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def position_coded(n: int, height: int, width: int) -> torch.Tensor:
    """A batch whose channel 0 holds row * width + col and channel 1 its negative."""
    codes = torch.arange(height * width, dtype=torch.float32).view(1, 1, height, width)
    return torch.cat([codes, -codes], dim=1).repeat(n, 1, 1, 1)


def test_random_pixel_mask_picks_one_pixel_per_grid_cell() -> None:
    x = torch.randn(4, 1, 200, 200, generator=seeded(1))
    corrupted, mask = random_pixel_mask(x, active_fraction=0.01, generator=seeded())
    assert mask.dtype == torch.bool
    assert mask.shape == x.shape
    # cells of side 1 / sqrt(0.01) = 10: exactly one active pixel in each
    per_cell = mask.view(4, 1, 20, 10, 20, 10).sum(dim=(3, 5))
    assert torch.equal(per_cell, torch.ones_like(per_cell))
    assert torch.equal(corrupted[~mask], x[~mask])


def test_random_pixel_mask_fraction_matches_the_request_for_uneven_grids() -> None:
    x = torch.zeros(8, 1, 97, 131)
    _, mask = random_pixel_mask(x, active_fraction=0.002, generator=seeded())
    assert mask.float().mean().item() == pytest.approx(0.002, rel=0.1)


@pytest.mark.parametrize(("size", "fraction", "radius"), [(64, 0.05, 2), (5, 1.0, 1), (6, 0.5, 3)])
def test_replacements_come_from_another_pixel_within_the_radius(
    size: int, fraction: float, radius: int
) -> None:
    x = position_coded(3, size, size)
    corrupted, mask = random_pixel_mask(x, fraction, radius, generator=seeded())
    assert torch.equal(mask[:, 0], mask[:, 1])  # channels are blinded together
    assert torch.equal(corrupted[~mask], x[~mask])
    batch, rows, cols = mask[:, 0].nonzero(as_tuple=True)
    source = corrupted[batch, 0, rows, cols].long()
    assert torch.equal(corrupted[batch, 1, rows, cols], -corrupted[batch, 0, rows, cols])
    source_rows, source_cols = source // size, source % size  # also proves it is in the image
    assert int((source_rows - rows).abs().max()) <= radius
    assert int((source_cols - cols).abs().max()) <= radius
    assert not torch.any((source_rows == rows) & (source_cols == cols))


def test_replacements_cover_the_whole_neighbourhood() -> None:
    x = position_coded(16, 64, 64)[:, :1]
    corrupted, mask = random_pixel_mask(x, 0.05, radius=2, generator=seeded())
    _, _, rows, cols = mask.nonzero(as_tuple=True)
    source = corrupted[mask].long()
    interior = (rows >= 2) & (rows < 62) & (cols >= 2) & (cols < 62)
    offsets = set(
        zip(
            (source // 64 - rows)[interior].tolist(),
            (source % 64 - cols)[interior].tolist(),
            strict=True,
        )
    )
    assert offsets == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)} - {(0, 0)}


def test_masks_are_reproducible_with_a_seeded_generator() -> None:
    x = torch.randn(2, 1, 32, 32, generator=seeded(9))
    for mask_fn in (random_pixel_mask, tracewise_mask):
        first = mask_fn(x, generator=seeded(3))
        again = mask_fn(x, generator=seeded(3))
        other = mask_fn(x, generator=seeded(4))
        assert torch.equal(first[0], again[0])
        assert torch.equal(first[1], again[1])
        assert not torch.equal(first[1], other[1])


def test_tracewise_mask_blinds_whole_columns() -> None:
    x = torch.randn(3, 2, 40, 100, generator=seeded(1))
    corrupted, mask = tracewise_mask(x, trace_fraction=0.05, generator=seeded())
    assert mask.shape == x.shape
    columns = mask[:, :, 0, :]
    assert torch.equal(mask, columns[:, :, None, :].expand_as(mask))
    assert columns.sum(dim=-1).tolist() == [[5, 5]] * 3
    assert torch.equal(corrupted[~mask], x[~mask])
    assert not torch.any(corrupted[mask] == x[mask])


def test_tracewise_mask_blinds_at_least_one_trace() -> None:
    _, mask = tracewise_mask(torch.zeros(2, 1, 8, 10), trace_fraction=0.01, generator=seeded())
    assert mask[:, 0, 0, :].sum(dim=-1).tolist() == [1, 1]


def test_tracewise_replacement_ignores_the_hidden_trace() -> None:
    x = torch.randn(2, 1, 64, 50, generator=seeded(1))
    corrupted, mask = tracewise_mask(x, 0.1, generator=seeded(7))
    changed = torch.where(mask, x * 100 + 42, x)  # rewrite only the hidden traces
    corrupted_again, mask_again = tracewise_mask(changed, 0.1, generator=seeded(7))
    assert torch.equal(mask_again, mask)
    assert torch.equal(corrupted_again, corrupted)
    # the replacement follows the statistics of the visible traces
    visible = x[0][~mask[0]]
    hidden = corrupted[0][mask[0]]
    assert hidden.mean().item() == pytest.approx(visible.mean().item(), abs=0.15)
    assert hidden.std().item() == pytest.approx(visible.std().item(), rel=0.15)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda x: random_pixel_mask(x, active_fraction=0.0), ConfigError),
        (lambda x: random_pixel_mask(x, radius=0), ConfigError),
        (lambda x: tracewise_mask(x, trace_fraction=1.0), ConfigError),
        (lambda x: random_pixel_mask(x[0]), ValueError),
        (lambda x: tracewise_mask(x.long()), ValueError),
    ],
)
def test_masks_reject_bad_arguments(call, error: type[Exception]) -> None:
    with pytest.raises(error):
        call(torch.zeros(2, 1, 8, 8))


def test_masked_mse_counts_only_masked_positions() -> None:
    target = torch.zeros(2, 1, 4, 4)
    mask = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    mask[0, 0, 1, 2] = mask[1, 0, 3, 3] = True
    prediction = torch.full((2, 1, 4, 4), 100.0)
    prediction[0, 0, 1, 2], prediction[1, 0, 3, 3] = 1.0, 3.0
    prediction.requires_grad_(True)
    loss = masked_mse(prediction, target, mask)
    assert loss.item() == pytest.approx((1.0 + 9.0) / 2)
    loss.backward()
    assert torch.equal(prediction.grad != 0, mask)


def test_masked_mse_rejects_an_empty_mask() -> None:
    x = torch.zeros(1, 1, 4, 4)
    with pytest.raises(TrainingError, match="no position"):
        masked_mse(x, x, torch.zeros_like(x, dtype=torch.bool))


def test_median_replacement_is_the_windows_median_without_the_pixel() -> None:
    # N2V2's replacement: position codes make every window's median known exactly.
    x = position_coded(2, 9, 11)
    corrupted, mask = random_pixel_mask(x, 0.05, 1, seeded(3), replacement="median")
    batch, _, rows, cols = torch.nonzero(mask[:, :1], as_tuple=True)
    assert len(rows) > 0
    for b, r, c in zip(batch.tolist(), rows.tolist(), cols.tolist(), strict=True):
        window = x[b, 0, max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2].flatten()
        others = window[window != x[b, 0, r, c]]
        assert corrupted[b, 0, r, c] == others.median()  # lower median, as torch takes it
        assert corrupted[b, 1, r, c] == (-others).median()  # per channel
    assert torch.equal(corrupted[~mask], x[~mask])


def test_n2v2_unet_options_keep_shapes_and_default_weights() -> None:
    from pixelwise.models.unet import UNet, UNetConfig

    x = torch.randn(2, 3, 16, 24)
    plain = UNet(UNetConfig(in_channels=3))
    n2v2 = UNet(UNetConfig(in_channels=3, pooling="blur", top_skip=False))
    assert plain(x).shape == n2v2(x).shape == (2, 1, 16, 24)
    # The defaults are unchanged (OCT and cryo-EM checkpoints load); without the top skip
    # the last decoder takes only the upsampled features, half the input channels.
    assert set(plain.state_dict()) == set(n2v2.state_dict())
    assert plain.decoders[-1][0].in_channels == 2 * n2v2.decoders[-1][0].in_channels
    # Blur-pooling keeps a constant and spreads an impulse over neighbouring outputs
    # (anti-aliasing); max-pooling moves it, whole, to one output.
    pooled = n2v2.pool(torch.ones(1, 1, 8, 8))
    assert pooled.shape == (1, 1, 4, 4) and torch.allclose(pooled, torch.ones_like(pooled))
    impulse = torch.zeros(1, 1, 8, 8)
    impulse[0, 0, 3, 3] = 1.0
    assert (plain.pool(impulse) > 0).sum() == 1 and (n2v2.pool(impulse) > 0).sum() > 1
