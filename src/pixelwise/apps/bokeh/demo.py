"""The bokeh demo: the Middlebury motorcycle rendered at several apertures, then a small
BokehNet trained on synthetic scenes, evaluated, and checked for video flicker."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from pixelwise.apps.bokeh.config import BokehConfig, SyntheticData
from pixelwise.apps.bokeh.depth import motorcycle
from pixelwise.apps.bokeh.evaluate import (
    evaluate_model,
    flicker,
    render_clip,
    render_with_depth,
)
from pixelwise.apps.bokeh.lens import Camera, signed_coc_px
from pixelwise.apps.bokeh.network import CAMERA_FIELDS, BokehNet, BokehNetConfig
from pixelwise.apps.bokeh.photo import render_array
from pixelwise.apps.bokeh.render import RenderSettings
from pixelwise.apps.bokeh.scenes import SceneConfig, SyntheticBokehDataset, draw_clip
from pixelwise.apps.bokeh.task import ClipTraining
from pixelwise.apps.bokeh.train import train
from pixelwise.engine import ProgressReporter, TrainerConfig
from pixelwise.io.atomic import write_text_atomic
from pixelwise.io.images import write_image

#: Std of the sensor noise of the demo's clips.
CLIP_NOISE = 0.01
#: The demo's scenes: small crops with strong bokeh, so CPU training takes minutes.
DEMO_SCENES = SceneConfig(height=32, width=32, f_numbers=(1.4, 4.0))


def demo_config(output_dir: Path, epochs: int, validation_count: int = 32) -> BokehConfig:
    """The small BokehNet run of the demo (and of the headline test): 192 training scenes.

    Trained on two-frame noisy clips, half static and half panning, with the temporal CoC
    term (see :class:`~pixelwise.apps.bokeh.task.ClipTraining`). Over trainer seeds 0-2 the
    carried state (scan states and per-pixel depth memory) then brings the static clips of
    :func:`temporal_consistency` (16 clips of 8 frames) to 0.930-0.945x the flicker of
    independent frames and their CoC flicker from 0.025-0.033 px to 0.0003-0.0019 px, with
    the panning clips' CoC error within 1 % of independent frames'."""
    return BokehConfig(
        synthetic=SyntheticData(
            scenes=DEMO_SCENES, train_count=192, validation_count=validation_count
        ),
        model=BokehNetConfig(dim=16, blocks=1, heads=2, head_dim=8),
        trainer=TrainerConfig(
            epochs=epochs,
            learning_rate=3e-3,
            gradient_clip_norm=1.0,
            monitor="val_psnr",
            monitor_mode="max",
        ),
        clips=ClipTraining(frames=2, noise=0.02, consistency=0.1),
        output_dir=output_dir,
    )


def render_motorcycle(output_dir: Path) -> dict[str, float]:
    """Render the motorcycle focused on its front at f/1.4, f/2.8 and f/8; return seconds."""
    image, depth = motorcycle()
    write_image(output_dir / "motorcycle.png", image)
    focus = float(np.percentile(depth, 5))
    timings = {}
    for f_number in (1.4, 2.8, 8.0):
        camera = Camera(f_number=f_number, focal_length_mm=50, focus_m=focus)
        start = time.perf_counter()
        out = render_array(image, depth, camera, RenderSettings(highlight_gain=3.0))
        timings[f"motorcycle_f{f_number:g}_seconds"] = time.perf_counter() - start
        write_image(output_dir / f"motorcycle_f{f_number:g}.png", out)
    return timings | {"motorcycle_focus_m": focus}


def run_demo(
    output_dir: str | Path, *, epochs: int = 8, progress: ProgressReporter | None = None
) -> dict[str, float]:
    """Run the whole demo into ``output_dir``; returns its metrics (also in metrics.json)."""
    output_dir = Path(output_dir)
    metrics: dict[str, float] = render_motorcycle(output_dir)
    config = demo_config(output_dir / "model", epochs)
    run = train(config, progress=progress)
    model = run.model.eval()
    held_out = SyntheticBokehDataset(
        DEMO_SCENES, 32, seed=2_000_000, max_depth_m=config.model.max_depth_m
    )
    items = (held_out[index] for index in range(len(held_out)))
    table = evaluate_model(model, items, report_path=output_dir / "report.html")
    metrics.update({f"heldout_{k}": v for k, v in table["all"].items()})
    metrics.update(temporal_consistency(model))
    write_text_atomic(output_dir / "metrics.json", json.dumps(metrics, indent=2))
    return metrics


def temporal_consistency(model: BokehNet, frames: int = 8, scenes: int = 4) -> dict[str, float]:
    """Flicker (mean |out_t − out_{t−1}|) on a static and a slowly panning noisy clip, with and
    without state propagation, each averaged over ``scenes`` clips of different scenes.

    Besides the output's flicker (``flicker_{clip}_{input,independent,propagated}``) it
    reports what it is made of: ``depth_flicker_{clip}_{mode}``, the flicker of the predicted
    signed CoC in pixels (what a steadier depth removes), and ``flicker_static_steady_depth``,
    the flicker of the static clip's noisy frames rendered with one fixed depth (the first
    frame's, predicted alone): the sensor noise the renderer passes on, which no steadier
    depth removes. ``flicker_{clip}_true_depth`` renders the noisy frames with their true
    depth, the flicker of an exact renderer (on the panning clip, mostly the motion itself).
    Propagation must not cost accuracy: ``coc_error_panning_{mode}`` is the mean CoC error
    in pixels against the true depth over the panning clip's frames after the first, and
    ``coc_error_cut_{mode}`` that of the first frame after a cut to another static scene
    (where a memory that does not let go would show the old scene's depth).
    """
    sensor = 36.0 * DEMO_SCENES.width / DEMO_SCENES.full_frame_width_px
    camera = torch.tensor([2.0, 50.0, 1.5, sensor])
    lens = dict(zip(CAMERA_FIELDS, camera.tolist(), strict=True)) | {
        "max_depth_m": model.config.max_depth_m
    }
    sums: dict[str, float] = defaultdict(float)
    for scene in range(scenes):
        clips = {
            name: draw_clip(
                DEMO_SCENES, seed=3_000_000 + scene, frames=frames, pan_px=pan, noise=CLIP_NOISE
            )
            for name, pan in (("static", 0.0), ("panning", 0.25))
        }
        other, _ = draw_clip(DEMO_SCENES, seed=3_500_000 + scene, frames=1, noise=CLIP_NOISE)
        static, static_depth = clips["static"]  # its last frame after a stretch of another scene
        clips["cut"] = (
            np.concatenate([np.repeat(other, frames - 1, axis=0), static[-1:]]),
            static_depth,
        )
        for name, (clip, depth) in clips.items():
            clip_t, cameras = torch.from_numpy(clip), camera.expand(frames, 4)
            true_coc = signed_coc_px(torch.from_numpy(depth), **lens)
            if name != "cut":
                sums[f"flicker_{name}_input"] += flicker(clip_t)
                with torch.inference_mode():
                    exact = render_with_depth(model, clip_t, cameras, torch.from_numpy(depth))
                sums[f"flicker_{name}_true_depth"] += flicker(exact)
            for mode in ("independent", "propagated"):
                out = render_clip(model, clip_t, camera, propagate=mode == "propagated")
                coc = signed_coc_px(out["depth"], **lens)
                if name == "cut":
                    sums[f"coc_error_cut_{mode}"] += float((coc - true_coc)[-1].abs().mean())
                    continue
                sums[f"flicker_{name}_{mode}"] += flicker(out["output"])
                sums[f"depth_flicker_{name}_{mode}"] += flicker(coc)
                if name == "panning":
                    error = (coc - true_coc)[1:].abs().mean()
                    sums[f"coc_error_panning_{mode}"] += float(error)
                if name == "static" and mode == "independent":
                    steady = out["depth"][:1].expand_as(out["depth"])
                    with torch.inference_mode():
                        fixed = render_with_depth(model, clip_t, cameras, steady)
                    sums["flicker_static_steady_depth"] += flicker(fixed)
    return {key: value / scenes for key, value in sums.items()}
