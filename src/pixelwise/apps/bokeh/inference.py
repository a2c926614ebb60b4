"""BokehNet on whole frames of any size: padding to the stride, camera tensors, video states."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from pixelwise.apps.bokeh.lens import Camera
from pixelwise.apps.bokeh.network import BokehNet, VideoState


def camera_tensor(camera: Camera, width: int, padded_width: int) -> Tensor:
    """The (1, 4) camera row for a frame ``width`` pixels wide padded to ``padded_width``:
    the sensor grows with the padding, so the CoC in pixels is that of the real frame."""
    sensor = camera.sensor_width_mm * padded_width / width
    return torch.tensor([[camera.f_number, camera.focal_length_mm, camera.focus_m, sensor]])


def predict_frame(
    model: BokehNet, frame: np.ndarray, camera: Camera, state: VideoState | None = None
) -> tuple[np.ndarray, VideoState]:
    """Render one (H, W, 3) frame in [0, 1] after the frame that left ``state``; returns
    (H, W, 3) float32 and the state for the next frame."""
    height, width = frame.shape[:2]
    multiple = model.config.size_multiple
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    image = torch.from_numpy(np.ascontiguousarray(frame.transpose(2, 0, 1)))[None].float()
    image = F.pad(image, (0, pad_w, 0, pad_h), mode="replicate")
    with torch.inference_mode():
        result = model(image, camera_tensor(camera, width, width + pad_w), state)
    out = result["output"][0, :, :height, :width].clamp(0, 1).permute(1, 2, 0).numpy()
    return out, result["states"]


def render_frames(
    model: BokehNet, frames: Iterable[np.ndarray], camera: Camera, *, propagate: bool = True
) -> Iterator[np.ndarray]:
    """Render a stream of frames; with ``propagate`` every frame starts from the state the
    previous one left (its scan states and per-pixel depth memory, see
    :class:`~pixelwise.apps.bokeh.network.VideoState`), as clip training does."""
    model = model.eval()
    state = None
    for frame in frames:
        out, final = predict_frame(model, frame, camera, state if propagate else None)
        state = final
        yield out
