"""Thin-lens optics: the circle of confusion (CoC) of a point at metric depth, in pixels.

A thin lens of focal length ``f`` at f-number ``N`` focused at distance ``S`` images a point
at distance ``D`` as a disc on the sensor whose diameter is

    c = f² |D − S| / (N · D · (S − f))                     (all lengths in millimetres)

(exactly 0 at ``D = S``). On an image ``W`` pixels wide taken with a sensor ``w`` mm wide
(36 mm for full frame) the disc is ``c · W / w`` pixels across. Writing the signed version
as ``s = A · (1/S − 1/D)`` with ``A = f² S W / (N (S − f) w)`` shows that the blur is linear in
inverse depth: the renderer therefore slices the scene in ``u = 1/S − 1/D``, and ``A`` (the
*CoC scale*, in pixels × metres) carries everything the camera settings contribute.

Depth and focus distance are clamped to ``[f, max_depth_m]`` (RealBokeh's focus distances
exceed 100 m) with ``torch.clamp``/``minimum``/``maximum``, never ``torch.where`` over an
infinite branch, so values and gradients are finite everywhere, also with respect to a
learnable focal length or focus distance. A focus distance at or inside the focal length has
no image and is refused with :class:`~pixelwise.errors.ConfigError`.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import Tensor

from pixelwise.errors import ConfigError

#: Default upper clamp of depth and focus distance, in metres.
MAX_DEPTH_M = 1000.0
#: Full-frame sensor width in millimetres.
FULL_FRAME_WIDTH_MM = 36.0

Scalar = float | Tensor


class Camera(BaseModel):
    """Camera settings of a render: f-number, focal length (mm), focus distance (m).

    Examples
    --------
    >>> Camera(f_number=1.8, focal_length_mm=50, focus_m=2.0).aperture_mm
    27.77777777777778
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    f_number: float = Field(gt=0, le=1024, description="N = focal length / aperture diameter")
    focal_length_mm: float = Field(gt=0, le=5000)
    focus_m: float = Field(gt=0, description="focus distance from the lens, metres")
    sensor_width_mm: float = Field(FULL_FRAME_WIDTH_MM, gt=0, le=1000)
    max_depth_m: float = Field(MAX_DEPTH_M, gt=0, description="clamp of depth and focus")

    @model_validator(mode="after")
    def _focus_beyond_focal_length(self) -> Camera:
        check_focus(self.focus_m, self.focal_length_mm)
        return self

    @property
    def aperture_mm(self) -> float:
        """Entrance-pupil diameter f / N in millimetres."""
        return self.focal_length_mm / self.f_number


def check_focus(focus_m: Scalar, focal_length_mm: Scalar) -> None:
    """Raise :class:`ConfigError` unless every focus distance lies beyond the focal length."""
    focus = torch.as_tensor(focus_m, dtype=torch.float64).detach()
    focal = torch.as_tensor(focal_length_mm, dtype=torch.float64).detach() / 1000.0
    if not bool(torch.isfinite(focus).all()) or bool((focus <= focal).any()):
        raise ConfigError(
            f"focus distance {focus.flatten().tolist()} m must be finite and greater than the "
            f"focal length {(focal * 1000).flatten().tolist()} mm (nothing closer can be in focus)"
        )


def _per_sample(value: Scalar, reference: Tensor) -> Tensor:
    """``value`` as a float tensor broadcastable to ``reference`` (N, 1, H, W): (N, 1, 1, 1)."""
    tensor = torch.as_tensor(value, dtype=reference.dtype, device=reference.device)
    return tensor.reshape(-1, 1, 1, 1) if tensor.dim() else tensor.reshape(1, 1, 1, 1)


def coc_scale(
    image_width_px: int,
    *,
    f_number: Scalar,
    focal_length_mm: Scalar,
    focus_m: Scalar,
    sensor_width_mm: Scalar = FULL_FRAME_WIDTH_MM,
    max_depth_m: float = MAX_DEPTH_M,
    like: Tensor | None = None,
) -> Tensor:
    """``A = f² S W / (N (S − f) w)`` in pixels × metres, shape (N, 1, 1, 1).

    Multiplied by ``u = 1/S − 1/D`` (1/m) it gives the signed CoC diameter in pixels.
    Scalars or per-sample tensors of shape (N,) are accepted; gradients flow to all of them.

    Examples
    --------
    >>> round(float(coc_scale(3600, f_number=2.0, focal_length_mm=50.0, focus_m=2.0)), 2)
    128.21
    """
    reference = like if like is not None else torch.zeros(1, 1, 1, 1, dtype=torch.float64)
    check_focus(focus_m, focal_length_mm)
    n = _per_sample(f_number, reference)
    if bool((n.detach() <= 0).any()):
        raise ConfigError(f"f-number must be > 0, got {n.flatten().tolist()}")
    f_m = _per_sample(focal_length_mm, reference) / 1000.0
    focus = torch.minimum(_per_sample(focus_m, reference), torch.full_like(f_m, max_depth_m))
    sensor_m = _per_sample(sensor_width_mm, reference) / 1000.0
    return f_m**2 * focus * image_width_px / (n * (focus - f_m) * sensor_m)


def inverse_depth_offset(
    depth_m: Tensor,
    *,
    focal_length_mm: Scalar,
    focus_m: Scalar,
    max_depth_m: float = MAX_DEPTH_M,
) -> Tensor:
    """``u = 1/S − 1/D`` in 1/m for depth (N, 1, H, W), depth clamped to ``[f, max_depth_m]``.

    Negative in front of the focus plane, positive behind it, 0 on it.
    """
    f_m = _per_sample(focal_length_mm, depth_m) / 1000.0
    ceiling = torch.full_like(f_m, max_depth_m)
    depth = torch.minimum(torch.maximum(depth_m, f_m), ceiling)
    focus = torch.minimum(_per_sample(focus_m, depth_m), ceiling)
    return 1.0 / focus - 1.0 / depth


def coc_terms(
    depth_m: Tensor,
    *,
    f_number: Scalar,
    focal_length_mm: Scalar,
    focus_m: Scalar,
    sensor_width_mm: Scalar = FULL_FRAME_WIDTH_MM,
    max_depth_m: float = MAX_DEPTH_M,
) -> tuple[Tensor, Tensor]:
    """The two factors of the signed CoC: ``(A, u)`` with CoC = ``A * u`` in pixels.

    ``A`` (N, 1, 1, 1) in px·m depends on the camera only; ``u = 1/S − 1/D`` (N, 1, H, W) in
    1/m on the depth only. The renderer slices the scene in ``u``, so it needs them apart.
    """
    scale = coc_scale(
        depth_m.shape[-1],
        f_number=f_number,
        focal_length_mm=focal_length_mm,
        focus_m=focus_m,
        sensor_width_mm=sensor_width_mm,
        max_depth_m=max_depth_m,
        like=depth_m,
    )
    offset = inverse_depth_offset(
        depth_m, focal_length_mm=focal_length_mm, focus_m=focus_m, max_depth_m=max_depth_m
    )
    return scale, offset


def signed_coc_px(
    depth_m: Tensor,
    *,
    f_number: Scalar,
    focal_length_mm: Scalar,
    focus_m: Scalar,
    sensor_width_mm: Scalar = FULL_FRAME_WIDTH_MM,
    max_depth_m: float = MAX_DEPTH_M,
) -> Tensor:
    """Signed CoC diameter in pixels for depth (N, 1, H, W) in metres (same shape).

    Negative for points in front of the focus plane; ``abs`` of it is the thin-lens CoC
    ``f² |D − S| / (N D (S − f))`` converted to pixels with the image width ``W`` (the last
    axis) and the sensor width.

    Examples
    --------
    >>> depth = torch.tensor([2.0, 4.0, 1.0]).reshape(1, 1, 1, 3)
    >>> coc = signed_coc_px(depth, f_number=2.0, focal_length_mm=50, focus_m=2.0)
    >>> [round(v, 5) for v in coc.flatten().tolist()]
    [0.0, 0.02671, -0.05342]
    """
    scale, offset = coc_terms(
        depth_m,
        f_number=f_number,
        focal_length_mm=focal_length_mm,
        focus_m=focus_m,
        sensor_width_mm=sensor_width_mm,
        max_depth_m=max_depth_m,
    )
    return scale * offset


def coc_px(depth_m: Tensor, **camera: Scalar) -> Tensor:
    """Unsigned thin-lens CoC diameter in pixels (see :func:`signed_coc_px`)."""
    return signed_coc_px(depth_m, **camera).abs()  # type: ignore[arg-type]
