"""Video in and out: files through PyAV (FFmpeg inside the wheel) or folders of frames.

Frames are float32 (H, W, 3) sRGB in [0, 1]. A path that is a folder (or has no suffix when
writing) is a sequence of images, sorted by name (``frame_000000.png``, ...); anything else
is a video file decoded or encoded by PyAV (H.264 in ``.mp4``/``.mov``/``.mkv``, VP9 in
``.webm``). Writes are atomic: the file appears only when the last frame is encoded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from pixelwise.apps.bokeh.photo import read_rgb
from pixelwise.errors import InputError
from pixelwise.io.atomic import atomic_path
from pixelwise.io.images import collect_image_files, write_image

_CODECS = {".webm": "libvpx-vp9"}


def read_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Yield the frames of a video file or a folder of images, float32 (H, W, 3)."""
    path = Path(path)
    if path.is_dir():
        for file in collect_image_files([path]):
            yield read_rgb(file)
        return
    if not path.is_file():
        raise InputError(path, "video file not found")
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as error:
        raise InputError(path, f"cannot read as video: {error}") from None
    with container:
        if not container.streams.video:
            raise InputError(path, "holds no video stream")
        try:
            for frame in container.decode(video=0):
                yield frame.to_ndarray(format="rgb24").astype(np.float32) / 255.0
        except av.FFmpegError as error:
            raise InputError(path, f"cannot decode video: {error}") from None


def video_rate(path: str | Path, default: float = 25.0) -> float:
    """Frames per second of a video file; ``default`` for folders and unknown rates."""
    path = Path(path)
    if path.is_dir():
        return default
    if not path.is_file():
        raise InputError(path, "video file not found")
    import av

    try:
        with av.open(str(path)) as container:
            rate = container.streams.video[0].average_rate
    except (av.FFmpegError, OSError, ValueError, IndexError) as error:
        raise InputError(path, f"cannot read as video: {error}") from None
    return float(rate) if rate else default


def write_frames(path: str | Path, frames: Iterable[np.ndarray], *, fps: float = 25.0) -> int:
    """Write frames (H, W, 3) in [0, 1] as a video file or a folder of PNGs; return the count."""
    path = Path(path)
    if path.is_dir() or not path.suffix:
        count = 0
        for count, frame in enumerate(frames, start=1):
            write_image(path / f"frame_{count - 1:06d}.png", frame)
        return count
    import av

    count = 0
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w") as container:
        stream = None
        for frame in frames:
            pixels = np.rint(np.clip(frame, 0, 1) * 255).astype(np.uint8)
            if stream is None:
                stream = container.add_stream(
                    _CODECS.get(path.suffix.lower(), "libx264"),
                    rate=Fraction(fps).limit_denominator(1001),
                )
                stream.width, stream.height = pixels.shape[1] // 2 * 2, pixels.shape[0] // 2 * 2
                stream.pix_fmt = "yuv420p"
            pixels = pixels[: stream.height, : stream.width]
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            ):
                container.mux(packet)
            count += 1
        if stream is None:
            raise InputError(path, "no frames to write")
        for packet in stream.encode():
            container.mux(packet)
    return count
