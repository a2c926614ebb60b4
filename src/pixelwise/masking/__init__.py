"""Blind-spot masking for self-supervised denoising (the masked loss is in pixelwise.losses)."""

from pixelwise.masking.blind_spot import hide_traces, random_pixel_mask, tracewise_mask

__all__ = ["hide_traces", "random_pixel_mask", "tracewise_mask"]
