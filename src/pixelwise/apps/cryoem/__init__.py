"""Cryo-EM micrograph denoising: paired and Noise2Noise training from MRC, evaluation with
red-flag checks, weight exchange with a known-answer self-check, and a simulator."""

from pixelwise.apps.cryoem.config import CryoConfig, CryoDataConfig
from pixelwise.apps.cryoem.denoise import denoise_array, denoise_files, load_denoiser
from pixelwise.apps.cryoem.simulate import SimulationConfig, simulate_dataset, simulate_micrograph
from pixelwise.apps.cryoem.train import train

__all__ = [
    "CryoConfig",
    "CryoDataConfig",
    "SimulationConfig",
    "denoise_array",
    "denoise_files",
    "load_denoiser",
    "simulate_dataset",
    "simulate_micrograph",
    "train",
]
