"""Synthetic depth-of-field scenes with exact depth, for the demo, the tests and training.

A scene is a textured background plane plus a few textured, anti-aliased objects at known
depths, composited far to near with alpha, with specular highlights (small saturated
points). Textures follow perspective: a texture of fixed size in the world appears with a
grain ``∝ 1/depth`` pixels, and distant layers are hazier, so depth is learnable from the
picture. The camera focuses on one of the layers. The target is what a lens records: every
layer, whole (also where nearer ones hide it), blurred by its own CoC and composited far to
near (:func:`~pixelwise.apps.bokeh.render.render_layers`), so a blurred foreground edge
reveals background that the all-in-focus picture hides, as in a real photograph. A scene is
a crop of a full-frame photograph ``full_frame_width_px`` wide: the sensor width is scaled
to the crop, so the blur in pixels is that of the whole photograph.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage
from torch import Tensor
from torch.utils.data import Dataset

from pixelwise.apps.bokeh.lens import FULL_FRAME_WIDTH_MM
from pixelwise.apps.bokeh.render import (
    RenderSettings,
    composite_over,
    linear_to_srgb,
    render_layers,
    srgb_to_linear,
)

HAZE = np.array([0.75, 0.8, 0.9])


class SceneConfig(BaseModel):
    """How synthetic scenes and their cameras are drawn."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    height: int = Field(64, ge=8, le=4096)
    width: int = Field(64, ge=8, le=4096)
    objects: tuple[int, int] = Field((2, 4), description="inclusive range of object counts")
    near_m: float = Field(0.8, gt=0)
    far_m: float = Field(30.0, gt=0, description="farthest background")
    highlights: int = Field(6, ge=0, le=1000)
    f_numbers: tuple[float, float] = Field((1.8, 8.0), description="log-uniform range")
    focal_length_mm: float = Field(50.0, gt=0)
    full_frame_width_px: int = Field(320, ge=8, description="width of the photograph cropped")
    grain_px: float = Field(
        4.0, gt=0, le=64, description="texture grain at 1 m in a 320-px-wide frame (∝ 1/depth)"
    )
    target: RenderSettings = Field(
        RenderSettings(), description="highlights of the targets (every layer has its own CoC)"
    )


def _texture(rng: np.random.Generator, shape: tuple[int, int], grain_px: float) -> np.ndarray:
    """Smooth colour noise (3, H, W) in [0, 1] with features about ``grain_px`` across."""
    noise = rng.standard_normal((3, *shape))
    smooth = ndimage.gaussian_filter(noise, (0, max(grain_px, 0.3), max(grain_px, 0.3)))
    smooth /= smooth.std(axis=(1, 2), keepdims=True) + 1e-12
    base = rng.uniform(0.15, 0.85, size=(3, 1, 1))
    return np.clip(base + 0.18 * smooth, 0.0, 1.0)


def _paint(
    rng: np.random.Generator, depth: float, config: SceneConfig, shape: tuple[int, int]
) -> np.ndarray:
    """A layer's colour at ``depth``: perspective grain (a texture of fixed size in the world)
    and aerial haze."""
    grain = config.grain_px * config.full_frame_width_px / 320 / depth
    colour = _texture(rng, shape, grain)
    haze = 1.0 - np.exp(-depth / 40.0)
    return (1 - haze) * colour + haze * HAZE[:, None, None]


def _ellipse_alpha(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Anti-aliased coverage (H, W) of a random ellipse."""
    height, width = shape
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    cy, cx = rng.uniform(0.15, 0.85) * height, rng.uniform(0.15, 0.85) * width
    ry, rx = rng.uniform(0.12, 0.3) * height, rng.uniform(0.12, 0.3) * width
    radius = np.sqrt(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2)
    return np.clip(0.5 + (1.0 - radius) * min(ry, rx), 0.0, 1.0)


def draw_scene(config: SceneConfig, seed: int) -> dict[str, np.ndarray]:
    """One scene: ``image`` (3, H, W) sRGB in [0, 1], ``depth`` (1, H, W) metres, ``camera``
    (4,) (f-number, focal length mm, focus m, sensor width mm), and the scene's layers, far
    to near: ``layer_colour`` (K, 3, H, W), ``layer_alpha`` (K, 1, H, W), ``layer_depth``
    (K,) metres; float32, deterministic.

    Every layer keeps its whole texture, also where nearer layers hide it; a highlight
    belongs to the layer the depth map shows at its pixel. The all-in-focus ``image`` is the
    layers composited in linear light, the depth map that of the nearest layer covering at
    least half of a pixel.

    Examples
    --------
    >>> scene = draw_scene(SceneConfig(height=32, width=48), seed=0)
    >>> scene["image"].shape, scene["depth"].shape, scene["camera"].shape
    ((3, 32, 48), (1, 32, 48), (4,))
    """
    rng = np.random.default_rng(seed)
    shape = (config.height, config.width)
    background = rng.uniform(0.4, 1.0) * config.far_m
    colours, alphas = [_paint(rng, background, config, shape)], [np.ones(shape)]
    layer = np.zeros(shape, dtype=np.int64)  # index of the layer the depth map shows
    count = int(rng.integers(config.objects[0], config.objects[1] + 1))
    depths = np.sort(
        np.exp(rng.uniform(np.log(config.near_m), np.log(background * 0.5), size=count))
    )[::-1]
    for index, layer_depth in enumerate(depths, start=1):  # far to near
        alphas.append(_ellipse_alpha(rng, shape))
        colours.append(_paint(rng, layer_depth, config, shape))
        layer = np.where(alphas[-1] >= 0.5, index, layer)
    for _ in range(config.highlights):
        y, x = int(rng.integers(0, shape[0])), int(rng.integers(0, shape[1]))
        colours[layer[y, x]][:, y, x] = rng.uniform(0.95, 1.0, size=3)
    f_number = float(np.exp(rng.uniform(*np.log(config.f_numbers))))
    focus = float(rng.choice([background, *depths]))
    sensor = FULL_FRAME_WIDTH_MM * config.width / config.full_frame_width_px
    layer_depth = np.array([background, *depths])
    colour, alpha = torch.from_numpy(np.stack(colours)), torch.from_numpy(np.stack(alphas)[:, None])
    flat = composite_over(
        srgb_to_linear(colour), alpha, torch.zeros(len(colours)), RenderSettings()
    )
    return {
        "image": linear_to_srgb(flat).clamp(0, 1).numpy().astype(np.float32),
        "depth": layer_depth[layer][None].astype(np.float32),
        "camera": np.array([f_number, config.focal_length_mm, focus, sensor], dtype=np.float32),
        "layer_colour": colour.numpy().astype(np.float32),
        "layer_alpha": alpha.numpy().astype(np.float32),
        "layer_depth": layer_depth.astype(np.float32),
    }


def render_target(
    scene: dict[str, np.ndarray], settings: RenderSettings, max_depth_m: float
) -> np.ndarray:
    """What the camera records of ``scene`` (see :func:`draw_scene`), float32 (3, H, W): every
    layer blurred by its own CoC, with partial occlusion (:func:`render_layers`)."""
    camera = scene["camera"].astype(np.float64)
    with torch.inference_mode():
        out = render_layers(
            torch.from_numpy(scene["layer_colour"]).double(),
            torch.from_numpy(scene["layer_alpha"]).double(),
            torch.from_numpy(scene["layer_depth"]).double(),
            f_number=float(camera[0]),
            focal_length_mm=float(camera[1]),
            focus_m=float(camera[2]),
            sensor_width_mm=float(camera[3]),
            max_depth_m=max_depth_m,
            settings=settings,
        )
    return out.clamp(0, 1).float().numpy()


class SyntheticBokehDataset(Dataset[dict[str, Tensor]]):
    """``count`` scenes drawn from seeds ``seed, seed + 1, ...``, targets rendered once.

    Items are ``{"image", "depth", "target", "camera"}`` tensors (see :func:`draw_scene`).
    """

    def __init__(
        self, config: SceneConfig, count: int, seed: int = 0, max_depth_m: float = 50.0
    ) -> None:
        self.items = []
        for index in range(count):
            scene = draw_scene(config, seed + index)
            item = {key: scene[key] for key in ("image", "depth", "camera")}
            item["target"] = render_target(scene, config.target, max_depth_m)
            self.items.append({key: torch.from_numpy(value) for key, value in item.items()})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return self.items[index]


def draw_clip(
    config: SceneConfig, seed: int, frames: int, *, pan_px: float = 0.0, noise: float = 0.01
) -> tuple[np.ndarray, np.ndarray]:
    """A clip of one scene: frames (T, 3, H, W) and depth (T, 1, H, W), camera in ``draw_scene``.

    The scene is drawn ``ceil(pan_px · frames)`` pixels wider and the frame window moves by
    ``pan_px`` pixels per frame (bilinear, sub-pixel); every frame gets fresh Gaussian sensor
    noise of std ``noise``, as in real video.
    """
    extra = int(np.ceil(pan_px * frames)) + 1
    wide = config.model_copy(update={"width": config.width + extra})
    scene = draw_scene(wide, seed)
    rng = np.random.default_rng(seed + 10_000)
    frames_out, depths = [], []
    for t in range(frames):
        shift = pan_px * t
        image = ndimage.shift(scene["image"], (0, 0, -shift), order=1, mode="nearest")
        depth = ndimage.shift(scene["depth"], (0, 0, -shift), order=0, mode="nearest")
        image = image[..., : config.width] + rng.normal(
            0, noise, size=(3, config.height, config.width)
        )
        frames_out.append(np.clip(image, 0, 1))
        depths.append(depth[..., : config.width])
    return np.stack(frames_out).astype(np.float32), np.stack(depths).astype(np.float32)
