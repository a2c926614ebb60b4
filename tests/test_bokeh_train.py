"""Headline: BokehNet trained briefly on synthetic scenes beats returning the input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pixelwise.apps.bokeh.demo import DEMO_SCENES, demo_config, temporal_consistency
from pixelwise.apps.bokeh.evaluate import evaluate_model
from pixelwise.apps.bokeh.scenes import SyntheticBokehDataset
from pixelwise.apps.bokeh.train import load_bokeh_model, train

#: The classical render from the predicted depth stays this far (dB) below the render from
#: the true depth after this test's ~200 CPU steps, both scored against the layered (partial
#: occlusion) targets: measured 3.05 to 3.6 dB over trainer seeds 0-2 (3.4 to 3.8 dB with
#: the former bilinear depth head; after 4x longer training 4.2 vs 5.6 dB on 32 scenes).
#: Issue 10 asks for 1 dB; what is left is mostly the depth of small near objects, judged
#: too far by several pixels of CoC (true boundaries with the predicted per-object depth gain
#: only 0.7 dB), so the bound only guards against regressions.
DEPTH_RENDER_GAP_DB = 4.5


@pytest.mark.slow
def test_bokehnet_beats_the_identity_on_held_out_scenes(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    config = demo_config(tmp_path / "model", epochs=8, validation_count=16)
    run = train(config)
    assert run.result.precision in ("32", "bf16-mixed")
    model = load_bokeh_model(run.result.last_checkpoint)  # type: ignore[arg-type]
    held_out = SyntheticBokehDataset(
        DEMO_SCENES, 16, seed=2_000_000, max_depth_m=config.model.max_depth_m
    )
    items = (held_out[index] for index in range(len(held_out)))
    scores = evaluate_model(model, items, report_path=tmp_path / "report.html")["all"]
    # 3 dB: the bar for "beats returning the input" (measured +4 to +4.5 dB).
    assert scores["psnr_output"] >= scores["psnr_identity"] + 3.0, scores
    assert scores["psnr_render"] >= scores["psnr_identity"] + 3.0, scores
    assert scores["psnr_render"] >= scores["psnr_render_true_depth"] - DEPTH_RENDER_GAP_DB, scores
    assert scores["ssim_output"] > scores["ssim_identity"], scores
    assert "f-number" in (tmp_path / "report.html").read_text()
    # Flicker on 4 static / panning noisy clips of 4 frames. Measured over trainer seeds 0-2:
    # propagated / independent 0.937-0.945 static (1.003 for seed 0 before the per-pixel
    # depth memory, with the scan states alone), 0.971-0.981 panning; static CoC flicker
    # 0.0002-0.0025 px propagated against 0.023-0.029 independent; propagated / steady-depth
    # render 0.96-1.0. The memory must not cost accuracy: the CoC error over the panning clip
    # is 0.985-0.997x that of independent frames, and on the first frame after a cut to
    # another scene 1.0-1.016x.
    flicker = temporal_consistency(model, frames=4)
    static, panning = flicker["flicker_static_propagated"], flicker["flicker_panning_propagated"]
    assert flicker["flicker_static_independent"] < 0.5 * flicker["flicker_static_input"], flicker
    assert static < 0.97 * flicker["flicker_static_independent"], flicker
    assert panning < 1.01 * flicker["flicker_panning_independent"], flicker
    assert static < 1.05 * flicker["flicker_static_steady_depth"], flicker
    depth_flicker = flicker["depth_flicker_static_propagated"]
    assert depth_flicker < 0.25 * flicker["depth_flicker_static_independent"], flicker
    for clip, bound in (("panning", 1.03), ("cut", 1.05)):
        errors = flicker[f"coc_error_{clip}_propagated"], flicker[f"coc_error_{clip}_independent"]
        assert errors[0] < bound * errors[1], (clip, flicker)
