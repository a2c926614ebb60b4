"""Headline: on held-out simulated micrographs both models beat the noisy input and a tuned
Gaussian blur in Pearson r and PSNR, the Gaussian beats the noisy input, and the U-Net beats
the seed's three-layer CNN by a clear margin.

Setup (small, to run in about 20 s on one core): 160x160 micrographs at issue 8's settings
(1 Å/px, 40 e⁻/Å², 300 kV; the physical simulator: exit wave with full atomic potential,
amorphous-ice texture, CTF, pixel MTF, shot noise), eight for training (seed 1), two for
validation (seed 3: tunes the Gaussian's sigma) and four held out for the test (seed 2).
Training is paired (noisy -> clean), deterministic (seeded, one torch thread), 2 epochs of
1280 48² patches (160 optimiser steps).

Measured (deterministic, identical on reruns): noisy r 0.4098 / 11.45 dB, Gaussian (sigma
1.5 px) 0.4490 / 19.16 dB, U-Net 0.6283 / 20.54 dB, CNN 0.6026 / 20.32 dB. Two variants
(192² fields; 6 training and 3 test micrographs of 192²) kept the U-Net's lead over the CNN
(+0.018 / +0.25 dB, +0.019 / +0.25 dB) and the models' lead over the Gaussian, though smaller
there (>= +0.027 r, >= +0.19 dB: its sigma rests on two validation micrographs). Thresholds,
for this deterministic setup, a third to a half of its margins:
* U-Net vs CNN: r + 0.01 and PSNR + 0.1 dB (measured +0.026, +0.22 dB);
* every model vs the tuned Gaussian: r + 0.05 and PSNR + 0.5 dB (measured >= +0.154 and
  >= +1.16 dB here);
* the Gaussian vs the noisy input: r + 0.015 and PSNR + 4 dB (measured +0.039, +7.7 dB);
* every model vs the noisy input: r + 0.1 (measured >= +0.19).
At 1 Å/px the CTF spreads a particle's contrast over tens of pixels, beyond the 3-layer
CNN's 7x7 window; at 2 Å/px (binned) the two come within 0.004 (r 0.8416 vs 0.8382).
"""

from __future__ import annotations

import time

import pytest

from pixelwise.apps.cryoem.config import CryoConfig, CryoDataConfig
from pixelwise.apps.cryoem.denoise import load_denoiser
from pixelwise.apps.cryoem.evaluate import evaluate
from pixelwise.apps.cryoem.micrographs import pairs_from_files
from pixelwise.apps.cryoem.simulate import SimulationConfig, simulate_dataset
from pixelwise.apps.cryoem.train import train
from pixelwise.engine import TrainerConfig
from pixelwise.models import ThreeLayerCNNConfig, UNetConfig

SIMULATION = SimulationConfig(shape=(160, 160), pixel_size=1.0, frames=10)


@pytest.mark.slow
def test_models_beat_noisy_and_gaussian_and_unet_beats_cnn(tmp_path) -> None:
    started = time.perf_counter()
    for part, count, seed in (("train", 8, 1), ("val", 2, 3), ("test", 4, 2)):
        simulate_dataset(tmp_path / part, SIMULATION, count, seed=seed, movies=False)

    def pairs(part: str):
        return pairs_from_files([tmp_path / part / "noisy"], [tmp_path / part / "clean"], "paired")

    models = {}
    for name, model, rate in (
        ("unet", UNetConfig(levels=3, base_channels=12), 3e-3),
        ("cnn3", ThreeLayerCNNConfig(), 1e-2),
    ):
        data = CryoDataConfig(
            input=[tmp_path / "train" / "noisy"],
            target=[tmp_path / "train" / "clean"],
            patch_size=48,
            patches_per_epoch=1280,
            batch_size=16,
            validation_patches=0,
            validation_fraction=0,
            test_fraction=0,
        )
        config = CryoConfig(
            data=data,
            model=model,
            trainer=TrainerConfig(epochs=2, learning_rate=rate, precision="32"),
            output_dir=tmp_path / name,
        )
        models[name] = load_denoiser(train(config).last_checkpoint)
    with pytest.warns(RuntimeWarning):  # the test-vs-validation MSE check may speak
        evaluation = evaluate(models, pairs("test"), pairs("val"), device="cpu")
    scores = evaluation.scores
    noisy = scores["noisy input"]
    gaussian = next(v for k, v in scores.items() if k.startswith("gaussian"))
    table = {k: (round(v["pearson_r"], 4), round(v["psnr_db"], 2)) for k, v in scores.items()}
    assert gaussian["pearson_r"] > noisy["pearson_r"] + 0.015, table
    assert gaussian["psnr_db"] > noisy["psnr_db"] + 4.0, table
    for name in ("unet", "cnn3"):
        score = scores[name]
        assert score["pearson_r"] > noisy["pearson_r"] + 0.1, table
        assert score["pearson_r"] > gaussian["pearson_r"] + 0.05, table
        assert score["psnr_db"] > gaussian["psnr_db"] + 0.5, table
    assert scores["unet"]["pearson_r"] > scores["cnn3"]["pearson_r"] + 0.01, table
    assert scores["unet"]["psnr_db"] > scores["cnn3"]["psnr_db"] + 0.1, table
    assert not any("negative" in flag or "Gaussian" in flag for flag in evaluation.flags)
    print(table, f"{time.perf_counter() - started:.0f} s")
