"""Blind-spot masking for self-supervised denoising, and the matching masked loss."""

from pixelwise.masking.blind_spot import masked_mse, random_pixel_mask, tracewise_mask

__all__ = ["masked_mse", "random_pixel_mask", "tracewise_mask"]
