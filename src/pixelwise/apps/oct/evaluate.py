"""Scoring segmentations against annotated boundaries; metrics JSON and an HTML report.

Dice per class is accumulated over every labelled pixel of the whole set (not a mean of
per-scan scores); boundary errors pool every annotated column: mean absolute error, signed
error (prediction - truth; positive = too deep) and 95th percentile, in pixels and, with a
known axial scale, µm. Columns where the prediction found no retina (NaN) are counted as
missed and left out of the errors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from pixelwise.apps.oct.layout import BOUNDARY_NAMES, IGNORE, OctData, labels_from_boundaries
from pixelwise.apps.oct.predict import Segmentation
from pixelwise.errors import InputError
from pixelwise.io.atomic import write_text_atomic
from pixelwise.metrics import Dice
from pixelwise.report.html import HtmlReport


def dice_per_class(masks: np.ndarray, labels: np.ndarray, num_classes: int = 3) -> list[float]:
    """Dice of every class over all pixels of ``(N, H, W)`` masks against labels."""
    metric = Dice(num_classes, per_class=True, ignore_index=IGNORE)
    for mask, label in zip(masks, labels, strict=True):
        metric.update(
            torch.from_numpy(mask.astype(np.int64))[None],
            torch.from_numpy(label.astype(np.int64))[None],
        )
    return [float(v) for v in metric.compute().tolist()]


def boundary_errors(
    predicted: np.ndarray, truth: np.ndarray, scale_axial_um: float | None
) -> dict[str, dict[str, float | None]]:
    """Per boundary (and thickness): MAE, signed error, P95 in px (and µm), missed share."""
    results: dict[str, dict[str, float | None]] = {}
    pairs = [(name, predicted[:, k], truth[:, k]) for k, name in enumerate(BOUNDARY_NAMES)]
    pairs.append(("thickness", predicted[:, 1] - predicted[:, 0], truth[:, 1] - truth[:, 0]))
    for name, pred, true in pairs:
        annotated = np.isfinite(true)
        found = annotated & np.isfinite(pred)
        error = (pred - true)[found].astype(np.float64)
        entry: dict[str, float | None] = {
            "mae_px": float(np.abs(error).mean()) if error.size else None,
            "signed_px": float(error.mean()) if error.size else None,
            "p95_px": float(np.percentile(np.abs(error), 95)) if error.size else None,
            "missed_fraction": float(1 - found.sum() / max(annotated.sum(), 1)),
        }
        if scale_axial_um is not None:
            for key in ("mae", "signed", "p95"):
                value = entry[f"{key}_px"]
                entry[f"{key}_um"] = None if value is None else value * scale_axial_um
        results[name] = entry
    return results


def score(
    predicted: Segmentation, truth: OctData, *, baseline: np.ndarray | None = None
) -> dict[str, Any]:
    """Metrics of ``predicted`` against ``truth``'s boundaries (and of a baseline's rows)."""
    if truth.boundaries is None:
        raise InputError(truth.source, "has no /boundaries to evaluate against")
    if predicted.masks.shape != truth.bscans.shape:
        raise InputError(
            truth.source,
            f"predictions {predicted.masks.shape} do not match the B-scans {truth.bscans.shape}",
        )
    labels = labels_from_boundaries(truth.boundaries, truth.shape[1])
    dice = dice_per_class(predicted.masks, labels)
    metrics: dict[str, Any] = {
        "scans": truth.shape[0],
        "dice_vitreous": dice[0],
        "dice_retina": dice[1],
        "dice_choroid": dice[2],
        "boundaries": boundary_errors(predicted.boundaries, truth.boundaries, truth.scale_axial_um),
    }
    metrics["ilm_mae_px"] = metrics["boundaries"]["ILM"]["mae_px"]
    metrics["bm_mae_px"] = metrics["boundaries"]["BM"]["mae_px"]
    per_scan = []
    for index in range(truth.shape[0]):
        error = np.abs(predicted.boundaries[index] - truth.boundaries[index])
        per_scan.append(
            {
                "scan": truth.names[index] if truth.names else index,
                "ILM MAE px": float(np.nanmean(error[0])) if np.isfinite(error[0]).any() else None,
                "BM MAE px": float(np.nanmean(error[1])) if np.isfinite(error[1]).any() else None,
                "retina Dice": dice_per_class(
                    predicted.masks[index : index + 1], labels[index : index + 1]
                )[1],
            }
        )
    metrics["per_scan"] = per_scan
    if baseline is not None:
        base_masks = labels_from_boundaries(baseline, truth.shape[1])
        base_dice = dice_per_class(base_masks, labels)
        base_rows = boundary_errors(baseline, truth.boundaries, truth.scale_axial_um)
        metrics["baseline"] = {
            "dice_vitreous": base_dice[0],
            "dice_retina": base_dice[1],
            "dice_choroid": base_dice[2],
            "ilm_mae_px": base_rows["ILM"]["mae_px"],
            "bm_mae_px": base_rows["BM"]["mae_px"],
            "boundaries": base_rows,
        }
    return metrics


def _overlay(bscan: np.ndarray, truth: np.ndarray, predicted: np.ndarray, title: str) -> Figure:
    height, width = bscan.shape
    figure = Figure(figsize=(8, 8 * height / width + 0.6), dpi=100)
    axis = figure.add_subplot()
    axis.imshow(bscan, cmap="gray", aspect="auto")
    columns = np.arange(width)
    for k, name in enumerate(BOUNDARY_NAMES):
        axis.plot(
            columns,
            truth[k],
            color="lime",
            linewidth=1.0,
            label=f"{name} truth" if k == 0 else None,
        )
        axis.plot(
            columns,
            predicted[k],
            color="red",
            linewidth=1.0,
            linestyle="--",
            label="prediction" if k == 0 else None,
        )
    axis.set(title=title, xlabel="column", ylabel="row")
    axis.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    return figure


def _thickness_figure(predicted: np.ndarray, truth: np.ndarray, scale: float | None) -> Figure:
    figure = Figure(figsize=(8, 3), dpi=100)
    axis = figure.add_subplot()
    factor, unit = (scale, "µm") if scale is not None else (1.0, "px")
    axis.plot(np.nanmean(truth[:, 1] - truth[:, 0], axis=0) * factor, color="green", label="truth")
    axis.plot(
        np.nanmean(predicted[:, 1] - predicted[:, 0], axis=0) * factor, "r--", label="prediction"
    )
    axis.set(title="mean retinal thickness (ILM to BM) per column", xlabel="column", ylabel=unit)
    axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def write_report(
    path: str | Path,
    metrics: dict[str, Any],
    predicted: Segmentation,
    truth: OctData,
    examples: int = 3,
) -> Path:
    """A self-contained HTML report: summary tables, overlays, thickness profile, per-scan table."""
    if truth.boundaries is None:
        raise InputError(truth.source, "has no /boundaries")
    report = HtmlReport("OCT layer segmentation: evaluation")
    report.add_paragraph(
        f"{metrics['scans']} B-scans of {truth.source}; Dice accumulated over every labelled "
        "pixel, boundary errors over every annotated column (signed: prediction − truth, "
        "positive = too deep)."
    )
    summary = {
        "Dice vitreous": metrics["dice_vitreous"],
        "Dice retina": metrics["dice_retina"],
        "Dice choroid": metrics["dice_choroid"],
    }
    report.add_table(summary, caption="Dice per class")
    rows = [{"boundary": name, **values} for name, values in metrics["boundaries"].items()]
    report.add_table(rows, caption="Boundary errors")
    if "baseline" in metrics:
        base = metrics["baseline"]
        report.add_table(
            [
                {
                    "method": "U-Net (this model)",
                    **{k: metrics[k] for k in ("dice_retina", "ilm_mae_px", "bm_mae_px")},
                },
                {
                    "method": "gradient edges (classical)",
                    **{k: base[k] for k in ("dice_retina", "ilm_mae_px", "bm_mae_px")},
                },
            ],
            caption="Against the classical baseline",
        )
    order = np.argsort(
        [
            row["BM MAE px"] if row["BM MAE px"] is not None else np.inf
            for row in metrics["per_scan"]
        ]
    )
    picks = list(dict.fromkeys([int(order[-1]), int(order[len(order) // 2]), int(order[0])]))[
        :examples
    ]
    for index, label in zip(picks, ("worst", "median", "best"), strict=False):
        report.add_figure(
            _overlay(
                truth.bscans[index],
                truth.boundaries[index],
                predicted.boundaries[index],
                f"B-scan {index} ({label} BM error)",
            ),
            caption="green: annotated ILM and BM; red dashed: predicted",
        )
    report.add_figure(
        _thickness_figure(predicted.boundaries, truth.boundaries, truth.scale_axial_um)
    )
    report.add_table(metrics["per_scan"], caption="Per-scan errors")
    if metrics["boundaries"]["BM"]["missed_fraction"]:
        report.add_warning(
            f"{metrics['boundaries']['BM']['missed_fraction']:.1%} of annotated columns got no "
            "boundary (no retina found there)"
        )
    return report.write(path)


def write_metrics(path: str | Path, metrics: dict[str, Any]) -> Path:
    """Metrics as indented JSON, atomically."""
    write_text_atomic(path, json.dumps(metrics, indent=2))
    return Path(path)


def evaluate_file(
    input_path: str | Path,
    output_dir: str | Path,
    *,
    checkpoint: str | Path | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Score a prediction file (from ``predict``), or segment an annotated file first.

    Writes ``metrics.json`` and ``report.html`` into ``output_dir`` and returns the metrics;
    the classical baseline is scored beside the model.
    """
    import h5py

    from pixelwise.apps.oct.baseline import detect_stack
    from pixelwise.apps.oct.layout import read_oct
    from pixelwise.apps.oct.predict import PREDICTION, load_segmenter, read_prediction, segment

    input_path, output_dir = Path(input_path), Path(output_dir)
    truth = read_oct(input_path)
    with h5py.File(input_path, "r") as h5:
        has_prediction = PREDICTION in h5
    if has_prediction:
        predicted, _ = read_prediction(input_path)
    elif checkpoint is not None:
        trained, config = load_segmenter(checkpoint)
        predicted = segment(trained, config, truth.bscans, device=device)
    else:
        raise InputError(input_path, "holds no /prediction; pass --checkpoint to segment it")
    metrics = score(predicted, truth, baseline=detect_stack(truth.bscans))
    write_metrics(output_dir / "metrics.json", metrics)
    write_report(output_dir / "report.html", metrics, predicted, truth)
    return metrics
