"""OCT training and prediction plumbing on tiny runs: accumulation, checkpoint-only inference,
mirrored HDF5 output, foreign checkpoints."""

from __future__ import annotations

from dataclasses import replace

import h5py
import numpy as np
import pytest

from pixelwise.apps.oct import config as oct_config
from pixelwise.apps.oct.config import run_config
from pixelwise.apps.oct.layout import write_oct
from pixelwise.apps.oct.phantom import PhantomConfig, simulate
from pixelwise.apps.oct.predict import load_segmenter, predict_file, read_prediction
from pixelwise.apps.oct.preprocess import PreprocessConfig
from pixelwise.apps.oct.train import train
from pixelwise.engine import load_checkpoint, save_checkpoint
from pixelwise.errors import CheckpointError


def _tiny(tmp_path, **updates):
    data = tmp_path / "train.h5"
    write_oct(data, simulate(PhantomConfig(height=48, width=64), count=6, seed=1))
    overrides = {
        "data": {
            "train": [str(data)],
            "patch_size": 32,
            "patches_per_epoch": 20,
            "batch_size": 4,
            "validation_patches": 2,
        },
        "model": {"levels": 2, "base_channels": 4},
        "trainer": {"epochs": 2, "learning_rate": 0.01, "accumulate_grad_batches": 2},
        "output_dir": str(tmp_path / "run"),
    }
    for key, value in updates.items():
        overrides[key] = {**overrides.get(key, {}), **value}
    return run_config(profile="cpu", overrides=overrides)


def test_last_partial_accumulation_group_is_applied(tmp_path):
    # 20 patches / batch 4 = 5 batches per epoch; accumulating 2 gives groups 2 + 2 + 1:
    # three optimiser steps per epoch, the last from the partial group.
    result = train(_tiny(tmp_path))
    assert result.optimizer_steps == 6
    assert [record["step"] for record in result.history] == [3, 6]
    assert len(result.history[-1]["val_dice"]) == 3  # Dice per class, accumulated


def test_prediction_is_rebuilt_from_the_checkpoint_alone(tmp_path, monkeypatch):
    config = _tiny(
        tmp_path,
        preprocessing={"gaussian_sigma": 0.0, "clahe_clip_limit": 4.0},
        model={"base_channels": 6},
    )
    result = train(config)
    scans = tmp_path / "scans.h5"
    write_oct(scans, simulate(PhantomConfig(height=52, width=70), count=2, seed=9))
    first = tmp_path / "first.h5"
    predict_file(scans, first, result.last_checkpoint, device="cpu")
    # Change the code's defaults (preprocessing and model); predictions must not move.
    fields = oct_config.OctConfig.model_fields
    monkeypatch.setattr(fields["preprocessing"], "default", PreprocessConfig(gaussian_sigma=3))
    monkeypatch.setattr(oct_config, "CLASS_NAMES", ("a", "b", "c"))
    oct_config.OctConfig.model_rebuild(force=True)
    trained, stored = load_segmenter(result.last_checkpoint)
    assert (
        stored.preprocessing.gaussian_sigma == 0.0 and stored.preprocessing.clahe_clip_limit == 4.0
    )
    assert trained.model.config.base_channels == 6
    second = tmp_path / "second.h5"
    predict_file(scans, second, result.last_checkpoint, device="cpu")
    a, _ = read_prediction(first)
    b, summary = read_prediction(second)
    np.testing.assert_array_equal(a.masks, b.masks)
    np.testing.assert_array_equal(a.boundaries, b.boundaries)
    assert summary["preprocessing"]["clahe_clip_limit"] == 4.0
    # Rebuild with the real defaults again, or later tests would train with the patched ones.
    monkeypatch.undo()
    oct_config.OctConfig.model_rebuild(force=True)


def test_output_mirrors_the_input_and_adds_the_prediction(tmp_path):
    result = train(_tiny(tmp_path, trainer={"epochs": 1}))
    scans = tmp_path / "scans.h5"
    write_oct(scans, simulate(PhantomConfig(height=50, width=64), count=2, seed=3))
    with h5py.File(scans, "a") as h5:  # extra user content must be carried over
        h5.create_dataset("meta/acquisition_ms", data=np.array([1.5, 2.5]))
        h5["meta"].attrs["device"] = "phantom"
    out = tmp_path / "out.h5"
    summary = predict_file(scans, out, result.last_checkpoint, device="cpu")
    with h5py.File(scans) as original, h5py.File(out) as written:
        for name in ("bscans", "boundaries", "meta/acquisition_ms"):
            np.testing.assert_array_equal(written[name][()], original[name][()])
        assert written["meta"].attrs["device"] == "phantom"
        assert written.attrs["scale_axial_um"] == original.attrs["scale_axial_um"]
        assert written["prediction/masks"].dtype == np.uint8
        assert written["prediction/masks"].shape == (2, 50, 64)  # 50 rows: padded, cropped back
        assert written["prediction/confidence"].dtype == np.float16
        assert written["prediction/boundaries"].shape == (2, 2, 64)
        assert written["prediction/thickness_um"].shape == (2, 64)
    assert len(summary["scans"]) == 2 and 0 < summary["mean_confidence"] <= 1


def test_a_checkpoint_of_another_app_is_refused(tmp_path):
    result = train(_tiny(tmp_path, trainer={"epochs": 1}))
    foreign = replace(load_checkpoint(result.last_checkpoint, app="oct"), app="seismic")
    path = save_checkpoint(tmp_path / "seismic.pt", foreign)
    with pytest.raises(CheckpointError, match="seismic"):
        load_segmenter(path)
