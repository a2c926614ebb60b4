"""Segmentation and boundary losses against hand-computed and torch reference values."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pixelwise.errors import ConfigError, InputError
from pixelwise.losses import boundary_l1, class_label_mask, cross_entropy_dice, dice_loss


def perfect_logits(target: torch.Tensor, n_classes: int) -> torch.Tensor:
    return 50.0 * F.one_hot(target, n_classes).movedim(-1, 1).float()


def random_case(seed: int = 0, n_classes: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, n_classes, 6, 5, generator=generator)
    target = torch.randint(0, n_classes, (3, 6, 5), generator=generator)
    return logits, target


@pytest.mark.parametrize("shape", [(2, 8, 8), (1, 3, 4, 5)])
def test_dice_loss_is_zero_for_perfect_logits(shape: tuple[int, ...]) -> None:
    target = torch.randint(0, 3, shape, generator=torch.Generator().manual_seed(1))
    assert dice_loss(perfect_logits(target, 3), target).item() == pytest.approx(0.0, abs=1e-6)


def test_dice_loss_on_a_tiny_case() -> None:
    # uniform probabilities 1/2; class 0: I = 0.5, |P| = 2, |T| = 1; class 1: I = 1.5, |P| = 2,
    # |T| = 3; Dice = (1/3 + 3/5) / 2
    loss = dice_loss(torch.zeros(1, 2, 4), torch.tensor([[0, 1, 1, 1]]))
    assert loss.item() == pytest.approx(1 - (1 / 3 + 3 / 5) / 2, rel=1e-5)


def test_dice_loss_ignores_ignored_pixels() -> None:
    logits, target = random_case()
    target[0, :2] = 255
    keep = target != 255
    loss = dice_loss(logits.requires_grad_(True), target, ignore_index=255)
    on_labelled_pixels = dice_loss(
        logits.detach().movedim(1, -1)[keep].T.unsqueeze(0), target[keep].unsqueeze(0)
    )
    assert loss.item() == pytest.approx(on_labelled_pixels.item(), rel=1e-6)
    loss.backward()
    assert torch.all(logits.grad.movedim(1, -1)[~keep] == 0)
    assert torch.all(logits.grad.movedim(1, -1)[keep].abs().sum(dim=-1) > 0)


def test_cross_entropy_dice_returns_every_term() -> None:
    logits, target = random_case()
    target[1, 0] = -1
    weights = torch.tensor([1.0, 2.0, 0.5, 1.0])
    terms = cross_entropy_dice(
        logits, target, ce_weight=0.3, dice_weight=0.7, class_weights=weights, ignore_index=-1
    )
    assert sorted(terms) == ["ce", "dice", "loss"]
    assert all(value.ndim == 0 for value in terms.values())
    expected_ce = F.cross_entropy(logits, target, weight=weights, ignore_index=-1)
    assert terms["ce"].item() == pytest.approx(expected_ce.item(), rel=1e-6)
    assert terms["dice"].item() == pytest.approx(dice_loss(logits, target, ignore_index=-1).item())
    assert terms["loss"].item() == pytest.approx(0.3 * terms["ce"].item() + 0.7 * terms["dice"])


def test_cross_entropy_dice_is_finite_when_nothing_is_labelled() -> None:
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    terms = cross_entropy_dice(logits, torch.full((2, 4, 4), 9), ignore_index=9)
    assert terms["ce"].item() == 0.0
    terms["loss"].backward()
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda lg, t: dice_loss(lg, t + 4), InputError),
        (lambda lg, t: dice_loss(lg, t - 1), InputError),
        (lambda lg, t: dice_loss(lg, t.int()), ValueError),
        (lambda lg, t: dice_loss(lg, t[:, :3]), ValueError),
        (lambda lg, t: dice_loss(lg, t, smooth=0.0), ConfigError),
        (lambda lg, t: cross_entropy_dice(lg, t, ce_weight=0.0, dice_weight=0.0), ConfigError),
        (lambda lg, t: cross_entropy_dice(lg, t, class_weights=torch.ones(3)), ConfigError),
        (lambda lg, t: cross_entropy_dice(lg, t, class_weights=-torch.ones(4)), ConfigError),
    ],
)
def test_segmentation_losses_reject_bad_input(call, error: type[Exception]) -> None:
    with pytest.raises(error):
        call(*random_case())


def test_class_label_mask_names_the_bad_labels() -> None:
    with pytest.raises(InputError, match=r"span \[0, 7\] but there are 3 classes"):
        class_label_mask(torch.tensor([0, 7, 255]), 3, ignore_index=255)
    assert class_label_mask(torch.tensor([255, 255]), 3, ignore_index=255).tolist() == [0, 0]


def test_boundary_l1_ignores_unannotated_positions() -> None:
    nan = float("nan")
    target = torch.tensor([[[10.0, nan, 12.0], [nan, 20.0, float("inf")]]])
    prediction = torch.tensor([[[11.0, 99.0, 10.0], [5.0, 23.0, 7.0]]], requires_grad=True)
    loss = boundary_l1(prediction, target)
    assert loss.item() == pytest.approx((1.0 + 2.0 + 3.0) / 3)
    loss.backward()
    assert torch.isfinite(prediction.grad).all()
    assert torch.equal(prediction.grad != 0, torch.isfinite(target))


def test_boundary_l1_without_annotations_is_zero_with_a_gradient() -> None:
    prediction = torch.randn(2, 3, 8, requires_grad=True)
    loss = boundary_l1(prediction, torch.full((2, 3, 8), float("nan")))
    assert loss.item() == 0.0
    assert loss.requires_grad
    loss.backward()
    assert torch.equal(prediction.grad, torch.zeros_like(prediction))


def test_boundary_l1_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="one shape"):
        boundary_l1(torch.zeros(1, 2, 3), torch.zeros(1, 3, 3))
