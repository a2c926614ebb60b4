"""The embedded seismic demo: synthesise, corrupt, train briefly, denoise, report.

Everything is generated (no download): a layered section with dips and a fault convolved with
a Ricker wavelet, plus random noise and trace-wise noise that is coherent along each hit trace
(the kind that plain pixel masking cannot remove). The run writes the noisy and denoised SEG-Y
files, before/after/difference figures (with the best classical baseline beside N2V) and a
metrics JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from pixelwise.apps.seismic.classical import METHODS, classical_denoise
from pixelwise.apps.seismic.config import SeismicConfig, SeismicDataConfig
from pixelwise.apps.seismic.denoise import denoise_file
from pixelwise.apps.seismic.noise import tracewise_noise, white_noise
from pixelwise.apps.seismic.synthetic import synthetic_section
from pixelwise.apps.seismic.train import train
from pixelwise.engine import ProgressReporter, TrainerConfig
from pixelwise.errors import TrainingError
from pixelwise.io.arrays import write_npy
from pixelwise.io.atomic import write_text_atomic
from pixelwise.io.segy import read_segy, write_segy
from pixelwise.methods.n2v import MaskingConfig
from pixelwise.metrics import psnr, snr_db
from pixelwise.models import UNetConfig
from pixelwise.report.figures import save_panels


class DemoConfig(BaseModel):
    """The demo's synthetic data, noise and training budget."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_samples: int = Field(256, ge=64)
    n_traces: int = Field(256, ge=64)
    dt: float = Field(0.004, gt=0, description="sample interval in seconds")
    seed: int = Field(0, ge=0)
    random_noise: float = Field(
        0.5, ge=0, description="white noise std, relative to the signal std"
    )
    trace_fraction: float = Field(0.1, ge=0, le=1, description="share of traces hit by trace noise")
    trace_noise: float = Field(2.0, ge=0, description="trace noise std, relative to the signal std")
    trace_band_hz: tuple[float, float] = Field((2.0, 20.0), description="band of the trace noise")
    masking: Literal["mixed", "tracewise", "random"] = Field(
        "mixed",
        description="mixed (the default recipe's: pixel and trace masks, pixel only when the "
        "flagged noisy traces are edited first), tracewise or random",
    )
    epochs: int = Field(10, ge=1)
    patches_per_epoch: int = Field(192, ge=1)
    patch_size: int = Field(64, ge=16)
    batch_size: int = Field(16, ge=1)
    base_channels: int = Field(16, ge=4)
    learning_rate: float = Field(2e-3, gt=0)


def make_noisy_section(config: DemoConfig) -> tuple[np.ndarray, np.ndarray]:
    """Return (clean, noisy) float32 sections of shape (n_samples, n_traces)."""
    clean = synthetic_section(config.n_samples, config.n_traces, seed=config.seed, dt=config.dt)
    rng = np.random.default_rng(config.seed + 1000)
    scale = float(clean.std())
    noise = white_noise(clean.shape, config.random_noise * scale, rng) + tracewise_noise(
        clean.shape,
        config.trace_fraction,
        config.trace_noise * scale,
        rng,
        band_hz=config.trace_band_hz,
        dt=config.dt,
    )
    return clean, (clean + noise).astype(np.float32)


def seismic_run_config(config: DemoConfig, train_file: Path, output_dir: Path) -> SeismicConfig:
    """The training run the demo performs on ``train_file``."""
    masking = MaskingConfig(strategy=config.masking, active_fraction=0.02)
    return SeismicConfig(
        data=SeismicDataConfig(
            train=[train_file],
            patch_size=config.patch_size,
            patches_per_epoch=config.patches_per_epoch,
            validation_patches=max(config.batch_size, config.patches_per_epoch // 8),
            batch_size=config.batch_size,
        ),
        masking=masking,
        model=UNetConfig(levels=3, base_channels=config.base_channels),
        trainer=TrainerConfig(
            epochs=config.epochs, learning_rate=config.learning_rate, seed=config.seed
        ),
        output_dir=output_dir,
    )


def run_demo(
    output_dir: str | Path,
    config: DemoConfig | None = None,
    *,
    progress: ProgressReporter | None = None,
) -> dict[str, Any]:
    """Run the whole demo into ``output_dir`` and return its metrics (also in metrics.json).

    Beside the N2V result, every classical method is run on the same noisy section and the
    best one (by SNR) is reported (``best_classical``, ``snr_best_classical_db``) and shown.
    """
    config = config or DemoConfig()
    output_dir = Path(output_dir)
    clean, noisy = make_noisy_section(config)
    write_npy(output_dir / "clean.npy", clean)
    write_segy(output_dir / "noisy.sgy", noisy, sample_interval_us=round(config.dt * 1e6))
    train_file = output_dir / "noisy.npy"
    write_npy(train_file, noisy)
    result = train(seismic_run_config(config, train_file, output_dir / "model"), progress=progress)
    if result.last_checkpoint is None:  # only under torchrun, on a process other than rank 0
        raise TrainingError("the demo runs in one process; start it without torchrun")
    denoise_file(
        output_dir / "noisy.sgy",
        output_dir / "denoised.sgy",
        result.last_checkpoint,
        return_result=False,
    )
    denoised = read_segy(output_dir / "denoised.sgy")
    baseline, baselines = best_classical(clean, noisy, config.dt)
    clip = float(np.percentile(np.abs(clean), 99))
    save_panels(
        output_dir / "before_after.png",
        {
            "clean": clean,
            "noisy": noisy,
            "denoised (N2V)": denoised,
            f"best classical ({baseline})": classical_denoise(noisy, baseline, config.dt),
            "removed (noisy - denoised)": noisy - denoised,
        },
        clip=clip,
    )
    save_panels(output_dir / "difference.png", {"denoised - clean": denoised - clean}, clip=clip)
    metrics = section_metrics(clean, noisy, denoised)
    metrics.update(
        best_classical=baseline,
        snr_best_classical_db=baselines[baseline],
        snr_classical_db=baselines,
        masking=config.masking,
        epochs=len(result.history),
        train_seconds=sum(record["seconds"] for record in result.history),
        checkpoint=str(result.last_checkpoint),
    )
    write_text_atomic(output_dir / "metrics.json", json.dumps(metrics, indent=2))
    return metrics


def best_classical(clean: np.ndarray, noisy: np.ndarray, dt: float) -> tuple[str, dict[str, float]]:
    """The classical method with the best SNR on ``noisy``, and every method's SNR (dB)."""
    reference = torch.from_numpy(clean)
    results = {
        name: snr_db(reference, torch.from_numpy(classical_denoise(noisy, name, dt))).item()
        for name in METHODS
    }
    return max(results, key=results.__getitem__), results


def section_metrics(clean: np.ndarray, noisy: np.ndarray, denoised: np.ndarray) -> dict:
    """SNR and PSNR (data range of the clean section) of the noisy and denoised sections."""
    reference = torch.from_numpy(clean)
    data_range = float(clean.max() - clean.min())
    snr_in = snr_db(reference, torch.from_numpy(noisy)).item()
    snr_out = snr_db(reference, torch.from_numpy(denoised)).item()
    return {
        "snr_noisy_db": snr_in,
        "snr_denoised_db": snr_out,
        "snr_gain_db": snr_out - snr_in,
        "psnr_noisy_db": psnr(torch.from_numpy(noisy), reference, data_range).item(),
        "psnr_denoised_db": psnr(torch.from_numpy(denoised), reference, data_range).item(),
    }
