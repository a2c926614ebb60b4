"""The headline result: on held-out phantoms with pathology unseen in training, the U-Net trained
for about half a minute on one CPU thread segments the retina and places the ILM and BM far
better than the classical gradient-edge baseline."""

from __future__ import annotations

import numpy as np
import pytest

from pixelwise.apps.oct.baseline import detect_stack
from pixelwise.apps.oct.config import run_config
from pixelwise.apps.oct.evaluate import score
from pixelwise.apps.oct.layout import write_oct
from pixelwise.apps.oct.phantom import PhantomConfig, simulate
from pixelwise.apps.oct.predict import load_segmenter, segment
from pixelwise.apps.oct.train import train


@pytest.mark.slow
def test_unet_beats_classical_edges_on_unseen_pathology(tmp_path):
    # 96 x 128 B-scans (retina about 25 rows thick); training: 32 scans, drusen in 30 %;
    # held-out: another seed, drusen in 60 % and taller, fluid pockets in 50 % (never trained on).
    phantom = PhantomConfig(height=96, width=128)
    unseen = phantom.model_copy(
        update={"drusen_probability": 0.6, "drusen_height": (0.02, 0.05), "fluid_probability": 0.5}
    )
    write_oct(tmp_path / "train.h5", simulate(phantom, 32, seed=1))
    test = simulate(unseen, 8, seed=10_001)
    config = run_config(
        profile="cpu",
        overrides={
            "data": {
                "train": [str(tmp_path / "train.h5")],
                "patch_size": 64,
                "patches_per_epoch": 128,
                "batch_size": 8,
                "validation_patches": 2,
            },
            "model": {"levels": 4, "base_channels": 8},
            "trainer": {"epochs": 10, "learning_rate": 0.003},
            "output_dir": str(tmp_path / "run"),
        },
    )
    result = train(config)
    trained, stored = load_segmenter(result.last_checkpoint)
    metrics = score(
        segment(trained, stored, test.bscans, device="cpu"),
        test,
        baseline=detect_stack(test.bscans),
    )
    base = metrics["baseline"]
    print({k: metrics[k] for k in ("dice_retina", "ilm_mae_px", "bm_mae_px")}, base)
    # Thresholds: the targets (retina Dice >= 0.97, ILM <= 1.0 px, BM <= 1.5 px) with
    # a margin for this short run's variance; at this size 1 px is ~4 % of the retina's
    # thickness, below inter-grader disagreement on real scans (~1.8 px). Longer runs (bench/,
    # demo) reach ~0.98 / 0.25 px / 0.8 px.
    assert metrics["dice_retina"] >= 0.965
    assert metrics["ilm_mae_px"] <= 0.6
    assert metrics["bm_mae_px"] <= 1.5
    # The classical detector finds the ILM (a strong edge) well but loses the BM under drusen
    # and vessel shadows; the model must be at least twice as accurate on BM and better in Dice.
    assert metrics["bm_mae_px"] <= 0.5 * base["bm_mae_px"]
    assert metrics["dice_retina"] > base["dice_retina"] + 0.01
    assert metrics["boundaries"]["BM"]["missed_fraction"] < 0.01
    assert np.isfinite(metrics["boundaries"]["thickness"]["mae_um"])
