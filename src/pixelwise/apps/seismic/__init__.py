"""Seismic blind-spot denoising: Noise2Void with random and trace-wise masking, SEG-Y in and out."""

from pixelwise.apps.seismic.config import SeismicConfig, SeismicDataConfig
from pixelwise.apps.seismic.denoise import denoise_file, denoise_section, load_denoiser
from pixelwise.apps.seismic.train import train

__all__ = [
    "SeismicConfig",
    "SeismicDataConfig",
    "denoise_file",
    "denoise_section",
    "load_denoiser",
    "train",
]
