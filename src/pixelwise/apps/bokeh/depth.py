"""Depth maps for rendering: metric depth or stereo disparity from files, holes filled.

Depth is float metres ``(H, W)``. Files: ``.npy``/float TIFF (metres as stored), OpenEXR
(``.exr``: the ``Z``, ``Y`` or ``R`` channel, or the only one), and integer PNG/TIFF, whose
units are multiplied by ``scale`` (default 0.001: 16-bit PNGs in millimetres). Disparity maps
(pixels) become depth with ``Z = baseline · focal_px / (d + doffs)`` (Middlebury convention:
``doffs`` is the principal-point offset between the rectified cameras); non-finite
disparities are holes (Middlebury marks unknown pixels with +inf, scikit-image with NaN) and
take the disparity of the nearest known pixel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from pixelwise.errors import InputError
from pixelwise.io.images import read_raw_image

#: Metres per unit of integer depth files (millimetres, the Kinect/RealSense convention).
INTEGER_DEPTH_SCALE = 0.001
#: Calibration of scikit-image's ``stereo_motorcycle`` (Middlebury 2014, downsampled 4x).
MOTORCYCLE_CALIBRATION = {"baseline_mm": 193.001, "focal_px": 994.978, "doffs_px": 31.086}


def _read_exr(path: Path) -> np.ndarray:
    try:
        import OpenEXR
    except ImportError:  # pragma: no cover - OpenEXR is a dependency
        raise InputError(
            path, "reading .exr needs the OpenEXR package (pip install OpenEXR)"
        ) from None
    try:
        with OpenEXR.File(str(path)) as exr:
            channels = {name: channel.pixels for name, channel in exr.channels().items()}
    except Exception as error:  # the bindings raise several types on corrupt files
        raise InputError(path, f"cannot read as OpenEXR: {error}") from None
    for name in ("Z", "Y", "R", "depth.Z", "depth", *channels):
        if name in channels:
            pixels = np.asarray(channels[name])
            return pixels[..., 0] if pixels.ndim == 3 else pixels
    raise InputError(path, "OpenEXR file holds no channels")


def read_map(path: str | Path, *, scale: float | None = None) -> np.ndarray:
    """Read a single-channel map as float64 ``(H, W)``; integer files times ``scale``."""
    path = Path(path)
    if path.suffix.lower() == ".exr":
        if not path.is_file():
            raise InputError(path, "file not found")
        values = _read_exr(path).astype(np.float64)
    else:
        raw = read_raw_image(path)
        if raw.ndim == 3:
            if any(not np.array_equal(raw[..., 0], raw[..., c]) for c in range(1, raw.shape[2])):
                raise InputError(path, f"a depth map has one channel, got {raw.shape[2]}")
            raw = raw[..., 0]
        integer = np.issubdtype(raw.dtype, np.integer)
        values = raw.astype(np.float64)
        if integer and scale is None:
            scale = INTEGER_DEPTH_SCALE
    return values * (1.0 if scale is None else scale)


def check_depth(depth: np.ndarray, source: str | Path = "depth") -> np.ndarray:
    """Return ``depth`` as float32 after checking that it is finite and > 0 everywhere."""
    bad = ~np.isfinite(depth) | (depth <= 0)
    if bad.any():
        first = np.argwhere(bad)[0]
        raise InputError(
            source,
            f"depth must be finite and > 0 metres; {int(bad.sum())} pixels are not "
            f"(first at row {first[0]}, column {first[1]}: {depth[tuple(first)]})",
        )
    return depth.astype(np.float32)


def fill_holes(values: np.ndarray) -> np.ndarray:
    """Replace non-finite entries with the value of the nearest finite one (float64 copy)."""
    holes = ~np.isfinite(values)
    if holes.all():
        raise InputError("disparity", "holds no finite value")
    if not holes.any():
        return values.astype(np.float64)
    index = ndimage.distance_transform_edt(holes, return_distances=False, return_indices=True)
    return values[tuple(index)].astype(np.float64)


def disparity_to_depth(
    disparity: np.ndarray,
    *,
    baseline_mm: float,
    focal_px: float,
    doffs_px: float = 0.0,
    source: str | Path = "disparity",
) -> np.ndarray:
    """Metric depth (float32 metres) from disparity in pixels; holes filled first.

    Examples
    --------
    >>> disparity = np.array([[10.0, np.inf], [20.0, 20.0]])
    >>> disparity_to_depth(disparity, baseline_mm=100, focal_px=1000).round(2).tolist()
    [[10.0, 10.0], [5.0, 5.0]]
    """
    if baseline_mm <= 0 or focal_px <= 0:
        raise InputError(source, "baseline and focal length in pixels must be > 0")
    filled = fill_holes(disparity)
    shifted = filled + doffs_px
    if (shifted <= 0).any():
        raise InputError(
            source,
            f"disparity + doffs must be > 0 (got minimum {shifted.min():.4g}); "
            "is this a disparity map, and is doffs right?",
        )
    return check_depth(baseline_mm * focal_px / shifted / 1000.0, source)


def read_depth(
    path: str | Path,
    *,
    scale: float | None = None,
    disparity: bool = False,
    baseline_mm: float | None = None,
    focal_px: float | None = None,
    doffs_px: float = 0.0,
) -> np.ndarray:
    """Read a depth map (metres) or, with ``disparity=True``, a disparity map made metric."""
    values = read_map(path, scale=scale)
    if not disparity:
        return check_depth(values, path)
    if baseline_mm is None or focal_px is None:
        raise InputError(path, "a disparity map needs --baseline-mm and --focal-px")
    return disparity_to_depth(
        values, baseline_mm=baseline_mm, focal_px=focal_px, doffs_px=doffs_px, source=path
    )


def motorcycle() -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's Middlebury ``stereo_motorcycle`` as (RGB float32 (H, W, 3) in [0, 1],
    metric depth float32 (H, W)), depth from the documented calibration (about 2–5 m)."""
    from skimage.data import stereo_motorcycle

    left, _, disparity = stereo_motorcycle()
    calibration = MOTORCYCLE_CALIBRATION
    depth = disparity_to_depth(
        disparity.astype(np.float64),
        baseline_mm=calibration["baseline_mm"],
        focal_px=calibration["focal_px"],
        doffs_px=calibration["doffs_px"],
    )
    return (left.astype(np.float32) / 255.0), depth
