"""Supervised depth-of-field rendering: train BokehNet on (sharp image, camera, target) items.

Optionally, items are turned into short clips with fresh sensor noise per frame, static or
panning, so that the network learns to use the state carried from frame to frame to keep its
depth steady where nothing moved and to follow it where something did (see
:class:`ClipTraining`).

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

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor
from torch.utils.data import Dataset

from pixelwise.apps.bokeh.lens import coc_scale
from pixelwise.apps.bokeh.network import BokehNet
from pixelwise.engine import FitResult, ProgressReporter, Trainer, TrainerConfig, make_loader
from pixelwise.errors import ConfigError
from pixelwise.methods.common import seeded_model
from pixelwise.metrics import PSNR, Mean


class ClipTraining(BaseModel):
    """Train on short noisy clips of each item, the state carried from frame to frame.

    Every frame is the item's image plus fresh Gaussian noise of std ``noise`` (a shot's
    sensor noise). A fraction ``panning`` of the clips pan by ``pan_px`` whole pixels per frame
    (left or right; the frames wrap around, ending on the item itself, so the last frame's
    target is exact), the rest are static: what the per-pixel depth memory must learn to tell
    apart. Each frame's depth is supervised; ``consistency`` weighs the temporal term
    ``|A · (1/D̂_t − 1/D̂_{t−1})|`` after undoing the known pan, the flicker of the CoC in
    pixels between consecutive frames (single-frame losses cannot see flicker).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    noise: float = Field(0.02, gt=0, le=0.5, description="std of the per-frame sensor noise")
    frames: int = Field(2, ge=2, le=16, description="frames per clip")
    consistency: float = Field(
        0.1, ge=0, description="weight of the temporal CoC term (1.0 flattened the depth)"
    )
    panning: float = Field(0.5, ge=0, le=1, description="fraction of clips that pan")
    pan_px: int = Field(2, ge=1, le=16, description="pan of a panning clip, pixels per frame")

    def draw_pans(self, batch: int, device: torch.device) -> Tensor:
        """Pixels per frame (B,) int64 for one batch: 0 (static) or ±``pan_px``."""
        moving = torch.rand(batch, device=device) < self.panning
        sign = torch.randint(0, 2, (batch,), device=device) * 2 - 1
        return moving.long() * sign * self.pan_px


def pan(x: Tensor, shifts: Tensor) -> Tensor:
    """Roll every item of ``x`` (B, C, H, W) right by its own ``shifts`` (B,) pixels, wrapping.

    Examples
    --------
    >>> x = torch.arange(6.0).reshape(2, 1, 1, 3)
    >>> pan(x, torch.tensor([1, -1]))[:, 0, 0].tolist()
    [[2.0, 0.0, 1.0], [4.0, 5.0, 3.0]]
    """
    width = x.shape[-1]
    columns = torch.arange(width, device=x.device)
    index = (columns[None] - shifts[:, None]) % width
    return x.gather(-1, index[:, None, None].expand_as(x))


class BokehTask:
    """Engine task over batches ``{"image", "camera", "target"[, "depth"]}``."""

    def __init__(
        self, model: BokehNet, depth_weight: float = 0.1, clips: ClipTraining | None = None
    ) -> None:
        self.model = model
        self.depth_weight = depth_weight
        self.clips = clips
        self.metrics = {
            "psnr": PSNR(data_range=1.0),
            "psnr_render": PSNR(data_range=1.0),
            "psnr_identity": PSNR(data_range=1.0),
            "coc_l1_px": Mean(),
        }

    def _losses(
        self, batch: Mapping[str, Tensor], *, clips: ClipTraining | None = None
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        camera = batch["camera"]
        if clips is None:
            result = self.model(batch["image"], camera)
            shifts, depths = [torch.zeros_like(camera[:, 0], dtype=torch.long)], [result["depth"]]
        else:
            # A clip ending on the item itself: frame t is panned by (T − 1 − t) steps. The
            # first frame starts without state, as every video does, and hands its state to
            # the next. Only the last frame is rendered (the picture losses); every frame's
            # depth is supervised against the true depth panned alike.
            steps = clips.draw_pans(len(camera), camera.device)
            shifts = [steps * (clips.frames - 1 - t) for t in range(clips.frames)]

            def noisy(image: Tensor) -> Tensor:
                return (image + clips.noise * torch.randn_like(image)).clamp(0, 1)

            previous, depths = None, []
            for shift in shifts[:-1]:
                depth, previous = self.model.predict_depth(
                    noisy(pan(batch["image"], shift)), previous
                )
                depths.append(depth)
            result = self.model(noisy(batch["image"]), camera, previous)
            depths.append(result["depth"])
        target = batch["target"]
        terms: dict[str, Tensor] = {
            "l1": F.l1_loss(result["output"].float(), target),
            "render_l1": F.l1_loss(result["render"].float(), target),
        }
        if "depth" in batch and self.depth_weight:
            errors = [
                coc_error_px(d, {"camera": camera, "depth": pan(batch["depth"], shift)}).mean()
                for d, shift in zip(depths, shifts, strict=True)
            ]
            terms["coc_l1"] = self.depth_weight * torch.stack(errors).mean()
        if clips is not None and clips.consistency:
            offsets = [
                pan(coc_offset_px(d, camera), -shift)
                for d, shift in zip(depths, shifts, strict=True)
            ]
            changes = [(now - then).abs().mean() for then, now in itertools.pairwise(offsets)]
            terms["coc_flicker"] = clips.consistency * torch.stack(changes).mean()
        return terms, result

    def training_step(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        terms, _ = self._losses(batch, clips=self.clips)
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


def coc_offset_px(depth: Tensor, camera: Tensor) -> Tensor:
    """``A / D`` (B, 1, H, W): minus the signed CoC in pixels up to a per-camera constant, for
    ``camera`` (B, 4); differences of it are differences of blur.

    Examples
    --------
    >>> from pixelwise.apps.bokeh.lens import signed_coc_px
    >>> camera = torch.tensor([[2.0, 50.0, 2.0, 36.0]])
    >>> near, far = torch.full((1, 1, 1, 2), 1.0), torch.full((1, 1, 1, 2), 4.0)
    >>> step = coc_offset_px(near, camera) - coc_offset_px(far, camera)
    >>> lens = {"f_number": 2.0, "focal_length_mm": 50.0, "focus_m": 2.0}
    >>> blur = signed_coc_px(far, **lens) - signed_coc_px(near, **lens)
    >>> bool(torch.allclose(step, blur))
    True
    """
    scale = coc_scale(
        depth.shape[-1],
        f_number=camera[:, 0],
        focal_length_mm=camera[:, 1],
        focus_m=camera[:, 2],
        sensor_width_mm=camera[:, 3],
        like=depth.float(),
    )
    return scale / depth.float()


def coc_error_px(depth: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
    """|CoC(predicted depth) − CoC(true depth)| in pixels, (B, 1, H, W), for ``batch``'s cameras.

    Equal to ``|A| · |1/D̂ − 1/D|``: the focus distance cancels (away from the depth clamps).
    """
    camera = batch["camera"]
    return (coc_offset_px(depth, camera) - coc_offset_px(batch["depth"], camera)).abs()


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
    clips: ClipTraining | None = None,
    progress: ProgressReporter | None = None,
    checkpoint_dir: str | Path | None = None,
    app: str = "bokeh",
    app_config: Mapping[str, Any] | None = None,
) -> BokehRun:
    """Train ``model`` (a BokehNet config) on ``train`` through the engine.

    Seeds every RNG from ``trainer.seed`` before building the network. Use
    ``trainer.gradient_clip_norm`` (1.0 in the app's config) around the recurrence. With
    ``clips`` every training item becomes a short static clip (see :class:`ClipTraining`).
    """
    network = seeded_model(model, trainer.seed)
    if not isinstance(network, BokehNet):
        raise ConfigError(f"fit_bokeh trains BokehNet, not {type(network).__name__}")
    task = BokehTask(network, depth_weight, clips)
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
