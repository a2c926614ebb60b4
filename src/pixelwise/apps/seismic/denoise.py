"""Denoising seismic sections with a trained checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pixelwise.apps.seismic.config import SeismicConfig
from pixelwise.apps.seismic.train import APP
from pixelwise.config import validate_config
from pixelwise.errors import CheckpointError, InputError
from pixelwise.io.arrays import read_section, write_npy
from pixelwise.io.segy import write_segy, write_segy_like
from pixelwise.methods import TrainedModel, load_trained, predict_normalized

SEGY_SUFFIXES = (".sgy", ".segy")


def load_denoiser(checkpoint: str | Path) -> tuple[TrainedModel, SeismicConfig]:
    """Rebuild the exact trained network, its statistics and its run config from a checkpoint."""
    trained = load_trained(checkpoint, app=APP)
    config = validate_config(
        SeismicConfig, trained.checkpoint.app_config, f"{checkpoint} (stored config)"
    )
    if trained.normalization is None:
        raise CheckpointError(f"{checkpoint}: the checkpoint lacks the training normalization")
    return trained, config


def denoise_section(
    trained: TrainedModel, config: SeismicConfig, section: np.ndarray, device: str = "auto"
) -> np.ndarray:
    """Denoise one section, float32 ``(n_samples, n_traces)`` -> float32 of the same shape.

    Any size works: the section is normalised with the training statistics, edge-padded to
    the network's size multiple and, beyond ``config.inference.window``, processed in
    overlapping blended windows; the normalisation is undone on the output.
    """
    if section.ndim != 2:
        raise InputError(
            "section", f"expected a 2-D (n_samples, n_traces) array, got {section.shape}"
        )
    return predict_normalized(
        trained, section, trained.normalization, inference=config.inference, device=device
    )


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
    trained, config = load_denoiser(checkpoint)
    denoised = denoise_section(trained, config, read_section(input_path), device=device)
    if output_suffix == ".npy":
        write_npy(output_path, denoised)
    elif input_path.suffix.lower() in SEGY_SUFFIXES:
        write_segy_like(input_path, denoised, output_path)
    else:
        write_segy(output_path, denoised)
    return denoised
