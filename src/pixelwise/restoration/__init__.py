"""Classical restoration algorithms in torch (CPU and CUDA): BM3D, Richardson–Lucy, BM3D deblurring.

These are the engines behind the ``bm3d``, ``bm3d_color``, ``bm3d_deblur`` and
``richardson_lucy`` nodes, usable on their own on NumPy arrays.
"""

from pixelwise.restoration.bm3d_torch import BM3DSettings, bm3d, bm3d_rgb, resolve_device, white_psd
from pixelwise.restoration.deconvolution import bm3d_deblur, richardson_lucy

__all__ = [
    "BM3DSettings",
    "bm3d",
    "bm3d_deblur",
    "bm3d_rgb",
    "resolve_device",
    "richardson_lucy",
    "white_psd",
]
