"""Training losses: masked regression, multi-class segmentation, layer-boundary regression."""

from pixelwise.losses.boundary import boundary_l1
from pixelwise.losses.masked import masked_mse
from pixelwise.losses.segmentation import (
    class_label_mask,
    cross_entropy_dice,
    dice_loss,
)

__all__ = ["boundary_l1", "class_label_mask", "cross_entropy_dice", "dice_loss", "masked_mse"]
