"""Supervised depth-of-field rendering: train BokehNet on (sharp image, camera, target) items.

Optionally, items are turned into two-frame clips so that the network learns to use the
recurrent states carried from frame to frame (see :func:`fit_bokeh`).

The loss is the L1 distance of the output to the target, plus that of the classical render
from the predicted depth (so the depth is judged by the picture it makes, not hidden by the
refinement), plus (when items carry true depth, as synthetic scenes do) the L1 error of the
predicted circle of confusion in pixels, ``|A · (1/D̂ − 1/D)|`` with the camera's CoC scale
``A`` (see :mod:`~pixelwise.apps.bokeh.lens`): the blur depends on depth only through it, so
depth errors count as much as the blur they cause and no more. Validation reports PSNR of
the output (clamped to [0, 1]), of the classical render from the predicted depth, and of the
input returned unchanged ("identity"), exact over the validation set, and the CoC error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from pixelwise.apps.bokeh.lens import coc_scale
from pixelwise.apps.bokeh.network import BokehNet
from pixelwise.engine import FitResult, ProgressReporter, Trainer, TrainerConfig, make_loader
from pixelwise.errors import ConfigError
from pixelwise.methods.common import seeded_model
from pixelwise.metrics import PSNR, Mean


class BokehTask:
    """Engine task over batches ``{"image", "camera", "target"[, "depth"]}``."""

    def __init__(
        self, model: BokehNet, depth_weight: float = 0.1, temporal_noise: float = 0.0
    ) -> None:
        self.model = model
        self.depth_weight = depth_weight
        self.temporal_noise = temporal_noise
        self.metrics = {
            "psnr": PSNR(data_range=1.0),
            "psnr_render": PSNR(data_range=1.0),
            "psnr_identity": PSNR(data_range=1.0),
            "coc_l1_px": Mean(),
        }

    def _losses(
        self, batch: Mapping[str, Tensor], *, temporal: bool = False
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        image, previous = batch["image"], None
        terms: dict[str, Tensor] = {}
        if temporal:
            # A two-frame clip of a static scene with fresh sensor noise per frame. The first
            # frame (no state, as every video starts) has its depth supervised too, so the
            # network stays good on its own; its final states initialise the second frame,
            # which therefore can only gain from them.
            def frame() -> Tensor:
                return (image + self.temporal_noise * torch.randn_like(image)).clamp(0, 1)

            first_depth, previous = self.model.predict_depth(frame())
            if "depth" in batch and self.depth_weight:
                terms["coc_l1_first"] = self.depth_weight * coc_error_px(first_depth, batch).mean()
            image = frame()
        result = self.model(image, batch["camera"], previous)
        target = batch["target"]
        terms |= {
            "l1": F.l1_loss(result["output"].float(), target),
            "render_l1": F.l1_loss(result["render"].float(), target),
        }
        if "depth" in batch and self.depth_weight:
            terms["coc_l1"] = self.depth_weight * coc_error_px(result["depth"], batch).mean()
        return terms, result

    def training_step(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        terms, _ = self._losses(batch, temporal=self.temporal_noise > 0)
        return terms | {"loss": torch.stack(list(terms.values())).sum()}

    def validation_step(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        terms, result = self._losses(batch)
        target = batch["target"]
        self.metrics["psnr"].update(result["output"].float().clamp(0, 1), target)
        self.metrics["psnr_render"].update(result["render"].float().clamp(0, 1), target)
        self.metrics["psnr_identity"].update(batch["image"], target)
        if "depth" in batch:
            self.metrics["coc_l1_px"].update(coc_error_px(result["depth"], batch))
        return {"loss": torch.stack(list(terms.values())).sum()}


def coc_error_px(depth: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
    """|CoC(predicted depth) − CoC(true depth)| in pixels, (B, 1, H, W), for ``batch``'s cameras.

    Equal to ``|A| · |1/D̂ − 1/D|``: the focus distance cancels (away from the depth clamps).
    """
    camera, true_depth = batch["camera"], batch["depth"]
    scale = coc_scale(
        true_depth.shape[-1],
        f_number=camera[:, 0],
        focal_length_mm=camera[:, 1],
        focus_m=camera[:, 2],
        sensor_width_mm=camera[:, 3],
        like=true_depth,
    )
    return (scale * (1.0 / depth.float() - 1.0 / true_depth)).abs()


@dataclass
class BokehRun:
    """A trained depth-of-field network and its fit record."""

    model: BokehNet
    result: FitResult


def fit_bokeh(
    train: Dataset[dict[str, Tensor]],
    *,
    model: Any,
    trainer: TrainerConfig,
    validation: Dataset[dict[str, Tensor]] | None = None,
    batch_size: int = 4,
    depth_weight: float = 0.1,
    temporal_noise: float = 0.0,
    progress: ProgressReporter | None = None,
    checkpoint_dir: str | Path | None = None,
    app: str = "bokeh",
    app_config: Mapping[str, Any] | None = None,
) -> BokehRun:
    """Train ``model`` (a BokehNet config) on ``train`` through the engine.

    Seeds every RNG from ``trainer.seed`` before building the network. Use
    ``trainer.gradient_clip_norm`` (1.0 in the app's config) around the recurrence. With
    ``temporal_noise`` > 0 every training item becomes a two-frame static clip (the image
    plus fresh Gaussian noise of that std per frame) with the states carried between frames.
    """
    network = seeded_model(model, trainer.seed)
    if not isinstance(network, BokehNet):
        raise ConfigError(f"fit_bokeh trains BokehNet, not {type(network).__name__}")
    task = BokehTask(network, depth_weight, temporal_noise)
    result = Trainer(trainer, progress=progress).fit(
        task,  # type: ignore[arg-type]  # the protocol's ``model: nn.Module`` is invariant
        make_loader(train, batch_size, shuffle=True),
        make_loader(validation, batch_size) if validation is not None else None,
        checkpoint_dir=checkpoint_dir,
        app=app,
        app_config=app_config,
    )
    return BokehRun(network, result)


def psnr_of(prediction: Tensor, target: Tensor) -> float:
    """PSNR in dB of ``prediction`` clamped to [0, 1] against ``target``."""
    error = F.mse_loss(prediction.float().clamp(0, 1), target.float())
    return float(10 * torch.log10(1.0 / error.clamp(min=1e-12)))
