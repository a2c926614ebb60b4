"""Rendering depth of field for photographs on disk: RGB + depth (or disparity) in, image out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pixelwise.apps.bokeh.lens import Camera
from pixelwise.apps.bokeh.render import RenderSettings, render_bokeh
from pixelwise.engine.progress import ProgressReporter
from pixelwise.errors import InputError
from pixelwise.io.images import read_image, write_image


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an RGB(A) image as float32 (H, W, 3) in [0, 1]; alpha is dropped."""
    image = read_image(path)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        channels = 1 if image.ndim == 2 else image.shape[2]
        raise InputError(path, f"expected an RGB image, got {channels} channel(s)")
    return np.ascontiguousarray(image[..., :3])


def render_array(
    image: np.ndarray,
    depth: np.ndarray,
    camera: Camera,
    settings: RenderSettings | None = None,
    *,
    progress: ProgressReporter | None = None,
    image_source: str | Path = "image",
    depth_source: str | Path = "depth",
) -> np.ndarray:
    """Render (H, W, 3) sRGB float in [0, 1] with depth (H, W) metres; returns float32 (H, W, 3).

    Examples
    --------
    >>> image = np.random.default_rng(0).random((24, 32, 3), dtype=np.float32)
    >>> depth = np.full((24, 32), 5.0, dtype=np.float32)
    >>> render_array(image, depth, Camera(f_number=1.8, focal_length_mm=50, focus_m=2)).shape
    (24, 32, 3)
    """
    if depth.shape != image.shape[:2]:
        raise InputError(
            depth_source,
            f"depth is {depth.shape[1]}x{depth.shape[0]} but the image {image_source} is "
            f"{image.shape[1]}x{image.shape[0]} (width x height); they must match",
        )
    pixels = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].float()
    metres = torch.from_numpy(np.ascontiguousarray(depth))[None, None].float()
    with torch.inference_mode():
        out = render_bokeh(
            pixels,
            metres,
            f_number=camera.f_number,
            focal_length_mm=camera.focal_length_mm,
            focus_m=camera.focus_m,
            sensor_width_mm=camera.sensor_width_mm,
            max_depth_m=camera.max_depth_m,
            settings=settings,
            progress=progress,
        )
    return out[0].permute(1, 2, 0).clamp(0, 1).numpy()


def render_file(
    image_path: str | Path,
    depth: np.ndarray,
    output_path: str | Path,
    camera: Camera,
    settings: RenderSettings | None = None,
    *,
    depth_source: str | Path = "depth",
    progress: ProgressReporter | None = None,
) -> np.ndarray:
    """Render ``image_path`` with ``depth`` (metres) and write the result atomically."""
    image = read_rgb(image_path)
    out = render_array(
        image,
        depth,
        camera,
        settings,
        progress=progress,
        image_source=image_path,
        depth_source=depth_source,
    )
    write_image(output_path, out)
    return out
