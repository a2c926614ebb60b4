"""Evaluation of a trained BokehNet: PSNR and SSIM per f-number, an HTML report with crops,
and the temporal consistency of video rendering with and without state propagation."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import torch
from skimage.metrics import structural_similarity
from torch import Tensor

from pixelwise.apps.bokeh.network import BokehNet
from pixelwise.report.html import HtmlReport


def _hwc(tensor: Tensor) -> np.ndarray:
    return tensor.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


#: Third stops from f/1 to f/22, the labels f-numbers are grouped under.
_LOW_STOPS = (1.0, 1.1, 1.2, 1.4, 1.6, 1.8, 2.0, 2.2, 2.5, 2.8, 3.2, 3.5, 4.0, 4.5, 5.0)
STOPS = (*_LOW_STOPS, 5.6, 6.3, 7.1, 8.0, 9.0, 10.0, 11.0, 13.0, 14.0, 16.0, 18.0, 20.0, 22.0)


def stop_label(f_number: float) -> str:
    """The nearest third stop (in log aperture) as ``f/N``."""
    nearest = min(STOPS, key=lambda stop: abs(np.log(stop / f_number)))
    return f"f/{nearest:g}"


def image_scores(prediction: Tensor, target: Tensor) -> tuple[float, float]:
    """(MSE, SSIM) of (3, H, W) ``prediction`` clamped to [0, 1] against ``target``."""
    pred, goal = _hwc(prediction), _hwc(target)
    ssim = structural_similarity(pred, goal, channel_axis=-1, data_range=1.0)
    return float(np.mean((pred - goal) ** 2)), float(ssim)


def evaluate_model(
    model: BokehNet,
    items: Iterable[Mapping[str, Tensor]],
    *,
    report_path: str | Path | None = None,
    crops: int = 4,
    crop_size: int = 128,
    device: str | torch.device = "cpu",
) -> dict[str, dict[str, float]]:
    """Score ``model`` on items ``{"image", "camera", "target"[, "depth"]}`` per f-number.

    Rows (one per third stop and ``"all"``): PSNR (of the pooled MSE) and mean SSIM of the
    output, of the classical render from the predicted depth, of the render from the true
    depth (when items have it), and of the input returned unchanged. Writes an HTML report
    with side-by-side crops when
    ``report_path`` is given.
    """
    scores: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    report = HtmlReport("BokehNet evaluation") if report_path is not None else None
    shown = 0
    model.to(device).eval()
    for item in items:
        image, camera = item["image"][None].to(device), item["camera"][None].to(device)
        with torch.inference_mode():
            result = model(image, camera)
        key = stop_label(float(camera[0, 0]))
        candidates = {
            "output": result["output"][0],
            "render": result["render"][0],
            "identity": image[0],
        }
        if "depth" in item:
            true_depth = item["depth"][None].to(device)
            with torch.inference_mode():
                candidates["render_true_depth"] = render_with_depth(
                    model, image, camera, true_depth
                )[0]
        for name, prediction in candidates.items():
            mse, ssim = image_scores(prediction, item["target"])
            for row in (key, "all"):
                scores[row][f"psnr_{name}"].append(mse)  # pooled into a PSNR below
                scores[row][f"ssim_{name}"].append(ssim)
        if report is not None and shown < crops:
            height, width = image.shape[-2:]
            size = min(crop_size, height, width)
            top, left = (height - size) // 2, (width - size) // 2
            window = (slice(None), slice(top, top + size), slice(left, left + size))
            strip = np.concatenate(
                [_hwc(t[window]) for t in (image[0], result["output"][0], item["target"])], axis=1
            )
            report.add_figure(strip, caption=f"{key}: input | BokehNet | target (centre crop)")
            shown += 1
    table = {
        row: {
            name: _psnr(values) if name.startswith("psnr") else float(np.mean(values))
            for name, values in columns.items()
        }
        for row, columns in sorted(scores.items(), key=lambda pair: _order(pair[0]))
    }
    if report is not None and report_path is not None:
        report.add_table(
            [{"f-number": row, **values} for row, values in table.items()],
            caption="PSNR (dB) and SSIM per f-number, outputs clamped to [0, 1]",
        )
        report.write(report_path)
    return table


def _psnr(errors: list[float]) -> float:
    """PSNR of the pooled mean squared error (dB, data range 1)."""
    return float(10 * np.log10(1.0 / max(float(np.mean(errors)), 1e-12)))


def _order(row: str) -> float:
    return float("inf") if row == "all" else float(row[2:])


def render_with_depth(model: BokehNet, image: Tensor, camera: Tensor, depth: Tensor) -> Tensor:
    """The classical render ``model`` would produce if it predicted ``depth``."""
    from pixelwise.apps.bokeh.render import render_bokeh

    config = model.config
    return render_bokeh(
        image,
        depth,
        f_number=camera[:, 0],
        focal_length_mm=camera[:, 1],
        focus_m=camera[:, 2],
        sensor_width_mm=camera[:, 3],
        max_depth_m=config.max_depth_m,
        settings=config.render,
    )


def render_clip(
    model: BokehNet, frames: Tensor, camera: Tensor, *, propagate: bool
) -> dict[str, Tensor]:
    """Render frames (T, 3, H, W) one by one; with ``propagate`` each frame starts from the
    state the previous frame left. Returns ``output`` (T, 3, H, W) and ``depth`` (T, 1, H, W)."""
    outputs, depths, state = [], [], None
    with torch.inference_mode():
        for frame in frames:
            result = model(frame[None], camera[None], state if propagate else None)
            state = result["states"]
            outputs.append(result["output"][0])
            depths.append(result["depth"][0])
    return {"output": torch.stack(outputs), "depth": torch.stack(depths)}


def flicker(frames: Tensor) -> float:
    """Temporal inconsistency: mean |out_t − out_{t−1}| over a (T, C, H, W) clip."""
    return float((frames[1:] - frames[:-1]).abs().mean())
