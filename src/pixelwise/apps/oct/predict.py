"""Segmenting B-scans with a trained checkpoint; HDF5 output mirroring the input.

The output file holds everything the input had (an HDF5 input is copied group by group with
its attributes; other inputs are stored in the native layout) plus a ``/prediction`` group:

* ``masks`` ``(N, H, W)`` uint8: 0 vitreous, 1 retina, 2 choroid (argmax of the softmax);
* ``confidence`` ``(N, H, W)`` float16: the largest class probability per pixel;
* ``boundaries`` ``(N, 2, W)`` float32: ILM and BM rows (sub-pixel, NaN: no retina found);
* ``thickness_um`` ``(N, W)`` float32: (BM - ILM) x axial scale, when the scale is known;
* attribute ``summary``: JSON with per-scan mean confidence, boundary and thickness
  statistics, and the checkpoint, model and preprocessing used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from pixelwise.apps.oct.config import OctConfig
from pixelwise.apps.oct.convert import HDF5_SUFFIXES, read_any
from pixelwise.apps.oct.layout import OctData, write_datasets
from pixelwise.apps.oct.preprocess import preprocess
from pixelwise.apps.oct.train import APP
from pixelwise.config import validate_config
from pixelwise.errors import CheckpointError, InputError, OutputError
from pixelwise.io.atomic import atomic_path
from pixelwise.methods import TrainedModel, load_trained
from pixelwise.methods.segmentation import boundaries_from_probabilities, predict_probabilities

PREDICTION = "prediction"


@dataclass
class Segmentation:
    """Per-pixel and per-column results for ``N`` B-scans (shapes in the module docstring)."""

    masks: np.ndarray
    confidence: np.ndarray
    boundaries: np.ndarray

    def thickness_um(self, scale_axial_um: float | None) -> np.ndarray | None:
        if scale_axial_um is None:
            return None
        return ((self.boundaries[:, 1] - self.boundaries[:, 0]) * scale_axial_um).astype(np.float32)


def load_segmenter(checkpoint: str | Path) -> tuple[TrainedModel, OctConfig]:
    """The exact trained network, statistics and run config, from the checkpoint alone."""
    trained = load_trained(checkpoint, app=APP)
    config = validate_config(
        OctConfig, trained.checkpoint.app_config, f"{checkpoint} (stored config)"
    )
    if trained.normalization is None:
        raise CheckpointError(f"{checkpoint}: the checkpoint lacks the training normalization")
    return trained, config


def segment(
    trained: TrainedModel, config: OctConfig, bscans: np.ndarray, device: str = "auto"
) -> Segmentation:
    """Segment ``(N, H, W)`` B-scans of any size with the checkpoint's preprocessing."""
    if trained.normalization is None:  # pragma: no cover - load_segmenter checks
        raise CheckpointError("the model has no normalization")
    masks, confidence, rows = [], [], []
    for bscan in bscans:
        probabilities = predict_probabilities(
            trained.model,
            preprocess(bscan, config.preprocessing),
            trained.normalization,
            inference=config.inference,
            device=device,
        )
        masks.append(probabilities.argmax(axis=0).astype(np.uint8))
        confidence.append(probabilities.max(axis=0).astype(np.float16))
        rows.append(
            boundaries_from_probabilities(
                torch.from_numpy(probabilities)[None], config.boundaries.min_retina_rows
            )[0].numpy()
        )
    return Segmentation(np.stack(masks), np.stack(confidence), np.stack(rows))


def summarize(
    result: Segmentation, data: OctData, checkpoint: str | Path, config: OctConfig
) -> dict[str, Any]:
    """Per-scan and overall statistics of a segmentation, JSON-ready."""
    thickness = result.thickness_um(data.scale_axial_um)
    scans = []
    for index in range(len(result.masks)):
        rows = result.boundaries[index]
        found = np.isfinite(rows).all(axis=0)
        entry: dict[str, Any] = {
            "index": index,
            "mean_confidence": float(result.confidence[index].astype(np.float32).mean()),
            "columns_with_retina": int(found.sum()),
            "ilm_mean_row": float(rows[0][found].mean()) if found.any() else None,
            "bm_mean_row": float(rows[1][found].mean()) if found.any() else None,
            "thickness_mean_px": float((rows[1] - rows[0])[found].mean()) if found.any() else None,
        }
        if data.names:
            entry["name"] = data.names[index]
        if thickness is not None and found.any():
            entry["thickness_mean_um"] = float(np.nanmean(thickness[index]))
        scans.append(entry)
    return {
        "scans": scans,
        "mean_confidence": float(np.mean([s["mean_confidence"] for s in scans])),
        "scale_axial_um": data.scale_axial_um,
        "scale_lateral_um": data.scale_lateral_um,
        "classes": list(config.classes),
        "checkpoint": str(checkpoint),
        "model": config.model.model_dump(mode="json"),
        "preprocessing": config.preprocessing.model_dump(mode="json"),
    }


def _copy_hdf5(source: Path, h5: h5py.File) -> None:
    with h5py.File(source, "r") as original:
        if PREDICTION in original:
            raise InputError(source, f"already holds a /{PREDICTION} group (a prediction output?)")
        for name in original:
            original.copy(original[name], h5, name=name)
        h5.attrs.update(dict(original.attrs))


def write_prediction(
    output: str | Path,
    data: OctData,
    result: Segmentation,
    summary: dict[str, Any],
    mirror: Path | None = None,
) -> Path:
    """Write the input (copied from ``mirror``, an HDF5 file, or ``data``) plus the prediction."""
    output = Path(output)
    with atomic_path(output) as tmp, h5py.File(tmp, "w") as h5:
        if mirror is not None:
            _copy_hdf5(mirror, h5)
        else:
            write_datasets(h5, data)
        group = h5.create_group(PREDICTION)
        group.create_dataset("masks", data=result.masks, compression="gzip", compression_opts=4)
        group.create_dataset("confidence", data=result.confidence, compression="gzip")
        group.create_dataset("boundaries", data=result.boundaries.astype(np.float32))
        thickness = result.thickness_um(data.scale_axial_um)
        if thickness is not None:
            group.create_dataset("thickness_um", data=thickness)
        group.attrs["summary"] = json.dumps(summary)
        group.attrs["classes"] = list(summary["classes"])
    return output


def predict_file(
    input_path: str | Path,
    output_path: str | Path,
    checkpoint: str | Path,
    *,
    device: str = "auto",
) -> dict[str, Any]:
    """Segment any supported input into ``output_path`` (HDF5); return the summary.

    Nothing is written unless everything succeeded; the output may not be the input.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    if output_path.suffix.lower() not in HDF5_SUFFIXES:
        raise OutputError(output_path, "predictions are written as HDF5 (.h5, .hdf5)")
    if output_path.exists() and input_path.exists() and output_path.samefile(input_path):
        raise OutputError(output_path, "is the input file; choose another output")
    trained, config = load_segmenter(checkpoint)
    data = read_any(input_path)
    result = segment(trained, config, data.bscans, device=device)
    summary = summarize(result, data, checkpoint, config)
    mirror = input_path if input_path.suffix.lower() in HDF5_SUFFIXES else None
    write_prediction(output_path, data, result, summary, mirror)
    return summary


def read_prediction(path: str | Path) -> tuple[Segmentation, dict[str, Any]]:
    """Read the ``/prediction`` group of a file written by :func:`predict_file`."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as h5:
            if PREDICTION not in h5:
                raise InputError(path, f"has no /{PREDICTION} group; run 'pixelwise oct predict'")
            group = h5[PREDICTION]
            result = Segmentation(
                np.asarray(group["masks"]),
                np.asarray(group["confidence"]),
                np.asarray(group["boundaries"]),
            )
            summary = json.loads(group.attrs["summary"])
    except (OSError, KeyError) as error:
        raise InputError(path, f"not a readable prediction file ({error})") from None
    return result, summary
