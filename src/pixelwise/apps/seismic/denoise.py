"""Denoising seismic sections with a trained checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from pixelwise.apps.seismic.config import SeismicConfig
from pixelwise.apps.seismic.train import APP
from pixelwise.config import validate_config
from pixelwise.engine import load_checkpoint, predict_array
from pixelwise.engine.trainer import resolve_device
from pixelwise.errors import CheckpointError, InputError
from pixelwise.io.arrays import read_section, write_npy
from pixelwise.io.segy import write_segy, write_segy_like

SEGY_SUFFIXES = (".sgy", ".segy")


def load_denoiser(checkpoint: str | Path) -> tuple[nn.Module, SeismicConfig]:
    """Rebuild the exact trained network and its run config from a checkpoint file."""
    stored = load_checkpoint(checkpoint, app=APP)
    config = validate_config(SeismicConfig, stored.app_config, f"{checkpoint} (stored config)")
    if config.normalization is None:
        raise CheckpointError(f"{checkpoint}: stored config lacks the training normalization")
    return stored.build_model().eval(), config


def denoise_section(
    model: nn.Module, config: SeismicConfig, section: np.ndarray, device: str = "auto"
) -> np.ndarray:
    """Denoise one section, float32 (n_samples, n_traces) -> float32 of the same shape.

    Any size works: the section is edge-padded to the network's size multiple and, beyond
    ``config.tile_size``, processed in overlapping blended tiles.
    """
    if section.ndim != 2:
        raise InputError(
            "section", f"expected a 2-D (n_samples, n_traces) array, got {section.shape}"
        )
    assert config.normalization is not None
    mean, std = config.normalization
    target = resolve_device(device)
    model = model.to(target)
    normalized = (np.asarray(section, dtype=np.float32) - mean) / std
    with torch.inference_mode():
        prediction = predict_array(
            model,
            normalized,
            size_multiple=config.model.size_multiple,
            tile_size=config.tile_size,
            overlap=config.tile_overlap,
            device=target,
        )
    return (prediction * std + mean).astype(np.float32)


def denoise_file(
    input_path: str | Path, output_path: str | Path, checkpoint: str | Path, device: str = "auto"
) -> np.ndarray:
    """Denoise ``input_path`` (.sgy/.segy/.npy) into ``output_path`` and return the result.

    A SEG-Y output from a SEG-Y input keeps the input's textual, binary and trace headers.
    The output is written atomically; nothing is written if anything fails.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    output_suffix = output_path.suffix.lower()
    if output_suffix not in (*SEGY_SUFFIXES, ".npy"):
        raise InputError(output_path, "unsupported output format; use .sgy, .segy or .npy")
    model, config = load_denoiser(checkpoint)
    denoised = denoise_section(model, config, read_section(input_path), device=device)
    if output_suffix == ".npy":
        write_npy(output_path, denoised)
    elif input_path.suffix.lower() in SEGY_SUFFIXES:
        write_segy_like(input_path, denoised, output_path)
    else:
        write_segy(output_path, denoised)
    return denoised
