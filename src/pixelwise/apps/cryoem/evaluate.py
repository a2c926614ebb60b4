"""Evaluation of cryo-EM denoisers: metrics, a tuned Gaussian baseline, red flags, a report.

Scale: each micrograph and everything compared with it is mapped by the clean target's
``(x - min) / (max - min)``, so the target spans [0, 1] and PSNR uses a data range of 1 (the
convention of the system pixelwise replaces). Pearson r is scale-free. Without clean targets
(Noise2Noise halves), the split-half score correlates the denoised half A with the raw half
B: independent noise makes ``r`` a measure of signal, and ``SNR = r / (1 - r)``.

Red flags (a warning printed and a banner in the report): negative or low correlation, a
brightness offset, test MSE far from validation MSE, metrics that get worse with more
epochs across the checkpoints given, and a denoiser no better than the tuned Gaussian blur.
"""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage.metrics import structural_similarity

from pixelwise.apps.cryoem.denoise import denoise_array
from pixelwise.apps.cryoem.micrographs import MicrographPair
from pixelwise.errors import InputError
from pixelwise.io.atomic import write_text_atomic
from pixelwise.methods import TrainedModel

#: Gaussian sigmas (pixels) tried on the validation micrographs.
GAUSSIAN_SIGMAS = (0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)
#: Edge of the patches whose correlations give the per-patch spread.
PATCH = 128
#: Correlation below which a denoiser is flagged as low (with clean targets).
LOW_R = 0.5
#: Brightness offset flagged: |mean(denoised) - mean(clean)| above this share of std(clean).
OFFSET_SHARE = 0.2
#: Test/validation MSE ratio beyond which (either way) the two are "far apart".
MSE_RATIO = 1.5
#: Relative MSE growth from an earlier to a later checkpoint that counts as "worse".
WORSE_SHARE = 0.02

Denoiser = Callable[[np.ndarray], np.ndarray]


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two arrays, in float64.

    >>> pearson(np.arange(5.0), 2 * np.arange(5.0) + 1)
    1.0
    """
    x = np.asarray(a, np.float64).ravel()
    y = np.asarray(b, np.float64).ravel()
    x, y = x - x.mean(), y - y.mean()
    denominator = float(np.sqrt((x @ x) * (y @ y)))
    return round(float(x @ y) / denominator, 12) if denominator > 0 else 0.0


def _scale(clean: np.ndarray) -> tuple[float, float]:
    low, high = float(clean.min()), float(clean.max())
    if high <= low:
        raise InputError("clean", "target micrograph is constant; cannot scale it to [0, 1]")
    return low, high - low


def _patch_rs(prediction: np.ndarray, clean: np.ndarray) -> list[float]:
    height, width = clean.shape
    size = min(PATCH, height, width)
    return [
        pearson(prediction[y : y + size, x : x + size], clean[y : y + size, x : x + size])
        for y in range(0, height - size + 1, size)
        for x in range(0, width - size + 1, size)
    ]


def paired_scores(predictions: Sequence[np.ndarray], cleans: Sequence[np.ndarray]) -> dict:
    """MSE, RMSE, PSNR (data range 1), SSIM, Pearson r overall / per micrograph / per patch."""
    errors, count, ssims, rs, patch_rs, offsets = 0.0, 0, [], [], [], []
    scaled_pairs = []
    for prediction, clean in zip(predictions, cleans, strict=True):
        low, span = _scale(clean)
        p = (np.asarray(prediction, np.float64) - low) / span
        c = (np.asarray(clean, np.float64) - low) / span
        errors += float(np.square(p - c).sum())
        count += c.size
        ssims.append(float(structural_similarity(p, c, data_range=1.0)))
        rs.append(pearson(p, c))
        patch_rs += _patch_rs(p, c)
        offsets.append(float((p.mean() - c.mean()) / c.std()))
        scaled_pairs.append((p, c))
    mse = errors / count
    all_p = np.concatenate([p.ravel() for p, _ in scaled_pairs])
    all_c = np.concatenate([c.ravel() for _, c in scaled_pairs])
    return {
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "psnr_db": float(10 * np.log10(1.0 / mse)),
        "ssim": float(np.mean(ssims)),
        "pearson_r": pearson(all_p, all_c),
        "pearson_r_per_micrograph": rs,
        "patch_r_best": float(np.max(patch_rs)),
        "patch_r_worst": float(np.min(patch_rs)),
        "patch_r_std": float(np.std(patch_rs)),
        "brightness_offset_std": float(np.mean(offsets)),
    }


def split_half_scores(denoised_a: Sequence[np.ndarray], halves_b: Sequence[np.ndarray]) -> dict:
    """Split-half score: r of denoise(A) with B over all micrographs, SNR = r / (1 - r)."""
    rs = [pearson(a, b) for a, b in zip(denoised_a, halves_b, strict=True)]
    r = float(np.mean(rs))
    return {
        "split_half_r": r,
        "split_half_snr": r / (1 - r) if r < 1 else float("inf"),
        "split_half_r_per_micrograph": rs,
    }


def tune_gaussian(noisy: Sequence[np.ndarray], references: Sequence[np.ndarray]) -> float:
    """The sigma of :data:`GAUSSIAN_SIGMAS` whose blur correlates best with ``references``."""
    scores = {
        sigma: float(
            np.mean(
                [
                    pearson(gaussian_filter(n, sigma), r)
                    for n, r in zip(noisy, references, strict=True)
                ]
            )
        )
        for sigma in GAUSSIAN_SIGMAS
    }
    return max(scores, key=scores.__getitem__)


@dataclass
class Evaluation:
    """What :func:`evaluate` found: per-method scores, the flags, and example arrays."""

    scores: dict[str, dict[str, Any]]
    gaussian_sigma: float
    flags: list[str] = field(default_factory=list)
    examples: dict[str, np.ndarray] = field(default_factory=dict)
    has_clean: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "has_clean_targets": self.has_clean,
            "psnr_data_range": "clean target mapped to [0, 1] per micrograph (range 1)",
            "gaussian_sigma_px": self.gaussian_sigma,
            "methods": self.scores,
            "red_flags": self.flags,
        }


def _load(pairs: Sequence[MicrographPair]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    return [p.input.whole() for p in pairs], [p.target.whole() for p in pairs]


def evaluate(
    checkpoints: Mapping[str, TrainedModel],
    test: Sequence[MicrographPair],
    validation: Sequence[MicrographPair] = (),
    *,
    patch_size: int | None = None,
    device: str = "auto",
) -> Evaluation:
    """Score ``checkpoints`` (label -> model) on ``test`` pairs beside the noisy input and a
    Gaussian blur whose sigma is chosen on ``validation`` (or on ``test`` when there is none,
    which the report says).

    Paired test data are scored against the clean targets; ``n2n`` pairs by the split-half
    score. Checkpoints are taken in epoch order for the "worse with more epochs" check.
    """
    if not test:
        raise InputError("test", "no test micrographs to evaluate")
    has_clean = test[0].kind == "paired"
    inputs, targets = _load(test)
    val_inputs, val_targets = _load(validation) if validation else ([], [])
    sigma = tune_gaussian(val_inputs or inputs, val_targets or targets)
    flags: list[str] = []
    if not validation:
        flags.append("no validation micrographs: the Gaussian sigma was tuned on the test set")
    denoisers: dict[str, Denoiser] = {
        "noisy input": lambda x: x,
        f"gaussian (sigma {sigma:g} px)": lambda x: gaussian_filter(x, sigma),
    }
    for label, trained in checkpoints.items():
        denoisers[label] = functools.partial(
            denoise_array, trained, patch_size=patch_size, device=device
        )
    scores: dict[str, dict[str, Any]] = {}
    outputs: dict[str, list[np.ndarray]] = {}
    for label, function in denoisers.items():
        outputs[label] = [function(x) for x in inputs]
        scores[label] = (
            paired_scores(outputs[label], targets)
            if has_clean
            else split_half_scores(outputs[label], targets)
        )
    if validation and has_clean:
        for label, trained in checkpoints.items():
            predictions = [
                denoise_array(trained, x, patch_size=patch_size, device=device) for x in val_inputs
            ]
            scores[label]["validation_mse"] = paired_scores(predictions, val_targets)["mse"]
    flags += red_flags(scores, list(checkpoints), checkpoints, has_clean)
    examples = {"noisy": inputs[0], **{k: v[0] for k, v in outputs.items() if k != "noisy input"}}
    if has_clean:
        examples["clean"] = targets[0]
    else:
        examples["other half"] = targets[0]
    for flag in flags:
        warnings.warn(flag, RuntimeWarning, stacklevel=2)
    return Evaluation(scores, sigma, flags, examples, has_clean)


def red_flags(
    scores: Mapping[str, Mapping[str, Any]],
    labels: Sequence[str],
    checkpoints: Mapping[str, TrainedModel],
    has_clean: bool,
) -> list[str]:
    """The red-flag checks of the module docstring, as one sentence each."""
    key = "pearson_r" if has_clean else "split_half_r"
    noisy = scores["noisy input"][key]
    gaussian_label = next(label for label in scores if label.startswith("gaussian"))
    gaussian = scores[gaussian_label]
    flags = []
    for label in labels:
        score = scores[label]
        r = score[key]
        if r < 0:
            flags.append(f"{label}: negative correlation r = {r:.3f} (scrambled weights?)")
        elif r < noisy or (has_clean and r < LOW_R):
            flags.append(f"{label}: low correlation r = {r:.3f} (noisy input: {noisy:.3f})")
        if r <= gaussian[key] or (has_clean and score["psnr_db"] <= gaussian["psnr_db"]):
            flags.append(
                f"{label}: no better than a tuned Gaussian blur (r {r:.3f} vs {gaussian[key]:.3f})"
            )
        if has_clean and abs(score["brightness_offset_std"]) > OFFSET_SHARE:
            flags.append(
                f"{label}: mean brightness offset of {score['brightness_offset_std']:+.2f} "
                "clean std"
            )
        validation = score.get("validation_mse")
        if validation and not 1 / MSE_RATIO <= score["mse"] / validation <= MSE_RATIO:
            flags.append(
                f"{label}: test MSE {score['mse']:.5f} is far from validation MSE {validation:.5f}"
            )
    flags += _worse_with_epochs(scores, labels, checkpoints, has_clean)
    return flags


def _worse_with_epochs(
    scores: Mapping[str, Mapping[str, Any]],
    labels: Sequence[str],
    checkpoints: Mapping[str, TrainedModel],
    has_clean: bool,
) -> list[str]:
    """Checkpoints of one run (same network and output folder) that score worse than an
    earlier epoch of it: each is compared with the best epoch before it, not only with its
    neighbour, so a slow drift over many epochs is caught as well as one bad step."""
    runs: dict[str, dict[int, str]] = {}
    for label in labels:
        stored = checkpoints[label].checkpoint
        run = json.dumps([stored.model_config, stored.app_config.get("output_dir")])
        runs.setdefault(run, {}).setdefault(stored.epoch, label)  # best.pt == last.pt: once
    metric = "mse" if has_clean else "split_half_r"
    sign = 1.0 if has_clean else -1.0  # lower MSE is better, higher split-half r is better
    flags = []
    for by_epoch in runs.values():
        best: tuple[float, int] | None = None  # (signed value, epoch) of the best so far
        worst: tuple[float, int, int] | None = None  # (excess, epoch, best epoch before it)
        for epoch in sorted(by_epoch):
            value = sign * scores[by_epoch[epoch]][metric]
            if best is None or value < best[0]:
                best = (value, epoch)
                continue
            excess = (value - best[0]) / max(abs(best[0]), 1e-12)
            if excess > WORSE_SHARE and (worst is None or excess >= worst[0]):
                worst = (excess, epoch, best[1])
        if worst is not None:
            _, epoch, best_epoch = worst
            a, b = scores[by_epoch[best_epoch]][metric], scores[by_epoch[epoch]][metric]
            flags.append(
                f"{by_epoch[epoch]} (epoch {epoch}) is worse than epoch {best_epoch} of the "
                f"same run ({metric} {a:.5f} -> {b:.5f}): more training made it worse"
            )
    return flags


def radial_power(image: np.ndarray, pixel_size: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum: (frequency in 1/Å, mean |F|² per ring)."""
    values = np.asarray(image, np.float64)
    power = np.abs(np.fft.fftshift(np.fft.fft2(values - values.mean()))) ** 2
    height, width = values.shape
    y, x = np.indices(values.shape)
    radius = np.hypot(y - height // 2, x - width // 2).astype(int)
    rings = min(height, width) // 2
    inside = radius < rings
    totals = np.bincount(radius[inside], power[inside], minlength=rings)
    counts = np.maximum(np.bincount(radius[inside], minlength=rings), 1)
    return np.arange(rings) / (2 * rings * pixel_size) * 2, totals / counts


def write_report(evaluation: Evaluation, output_dir: str | Path, title: str) -> Path:
    """Write ``metrics.json`` and ``report.html`` (self-contained) into ``output_dir``."""
    import matplotlib.pyplot as plt

    from pixelwise.report import HtmlReport

    output_dir = Path(output_dir)
    report = HtmlReport(title)
    for flag in evaluation.flags:
        report.add_warning(flag)
    report.add_heading("Scores")
    scalar_rows = [
        {"method": label, **{k: v for k, v in score.items() if not isinstance(v, list)}}
        for label, score in evaluation.scores.items()
    ]
    report.add_table(scalar_rows, caption="Test micrographs")
    if evaluation.has_clean:
        report.add_paragraph(
            "PSNR data range: each clean micrograph mapped to [0, 1] (min to max), the same map "
            "applied to every method's output; data range 1. Per-patch r over "
            f"{PATCH}x{PATCH} patches."
        )
    else:
        report.add_paragraph(
            "No clean targets: split-half score, Pearson r of the denoised half A with the raw "
            "half B, and SNR = r / (1 - r)."
        )
    report.add_paragraph(
        f"Gaussian baseline: sigma {evaluation.gaussian_sigma:g} px, chosen on validation "
        f"micrographs from {', '.join(map(str, GAUSSIAN_SIGMAS))}."
    )
    examples = evaluation.examples
    reference = examples.get("clean", examples.get("other half"))
    if reference is None:
        raise ValueError("the evaluation holds no clean micrograph or other half to compare with")
    learned = [k for k in examples if k not in ("noisy", "clean", "other half")]
    model_label = learned[-1]
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.5), dpi=80)
    hist_range = np.percentile(reference, [0.5, 99.5])
    axes[0].hist2d(
        reference.ravel(),
        examples[model_label].ravel(),
        bins=120,
        range=[hist_range] * 2,
        cmap="magma",
        cmin=1,
    )
    axes[0].plot(hist_range, hist_range, "c--", label="45° line")
    axes[0].set(xlabel="target", ylabel=model_label, title="prediction vs target")
    axes[0].legend()
    wide = np.percentile(examples["noisy"], [0.5, 99.5])
    for label in ("noisy", model_label, "clean" if "clean" in examples else "other half"):
        axes[1].hist(examples[label].ravel(), bins=150, range=wide, histtype="step", label=label)
    axes[1].set(title="intensity histograms", xlabel="value")
    axes[1].legend()
    for label in ("noisy", *learned, "clean"):
        if label in examples:
            frequency, power = radial_power(examples[label])
            axes[2].semilogy(frequency[1:], power[1:], label=label)
    axes[2].set(title="radially averaged power spectra", xlabel="frequency (1/pixel)")
    axes[2].legend(fontsize=7)
    report.add_figure(figure, caption="first test micrograph")
    crop = tuple(slice(0, min(256, size)) for size in reference.shape)
    low, high = np.percentile(reference[crop], [1, 99])
    panels, panel_axes = plt.subplots(1, len(examples), figsize=(3.2 * len(examples), 3.6), dpi=80)
    for axis, (label, image) in zip(np.atleast_1d(panel_axes), examples.items(), strict=True):
        view = image[crop]
        if label == "noisy":
            axis.imshow(
                view, cmap="gray", vmin=np.percentile(view, 1), vmax=np.percentile(view, 99)
            )
        else:
            axis.imshow(view, cmap="gray", vmin=low, vmax=high)
        axis.set_title(label, fontsize=8)
        axis.axis("off")
    report.add_figure(panels, caption="example panels (first test micrograph, top-left crop)")
    write_text_atomic(output_dir / "metrics.json", json.dumps(evaluation.as_json(), indent=2))
    return report.write(output_dir / "report.html")
