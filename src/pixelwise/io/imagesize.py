"""The decompression-bomb guard: image dimensions from file headers, checked before decoding.

A few hundred KB of PNG can decode to tens of GB of pixels. Every image reader reads the
width and height from the file header first (PNG IHDR, JPEG frame header, BMP info header,
TIFF page shapes) and refuses images above :func:`max_image_pixels` before any decoder
allocates memory. OpenCV has no header-only API, hence the small parsers here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from pixelwise.errors import ConfigError, InputError

#: Default pixel limit, about 268 megapixels (a 16384 x 16384 image).
DEFAULT_MAX_IMAGE_PIXELS = 2**28
#: Environment variable overriding :data:`DEFAULT_MAX_IMAGE_PIXELS`.
MAX_PIXELS_ENV = "PIXELWISE_MAX_IMAGE_PIXELS"

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
BMP_MAGIC = b"BM"
# JPEG start-of-frame markers (SOF0-SOF15 without DHT C4, JPG C8 and DAC CC) and markers
# that stand alone, without a length field (TEM, RST0-7, SOI).
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD9)})


def max_image_pixels() -> int:
    """The pixel limit: ``$PIXELWISE_MAX_IMAGE_PIXELS`` if set, else 2**28.

    >>> max_image_pixels() > 0
    True
    """
    value = os.environ.get(MAX_PIXELS_ENV)
    if value is None:
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit <= 0:
        raise ConfigError(f"{MAX_PIXELS_ENV} must be a positive whole number, got {value!r}")
    return limit


def require_pixel_limit(source: str | Path, height: int, width: int, pages: int = 1) -> None:
    """Raise :class:`InputError` naming ``source`` if the image has too many pixels.

    ``pages`` counts the images of a multi-page file decoded together.

    >>> require_pixel_limit("photo.png", 4000, 6000)
    """
    pixels = height * width * pages
    limit = max_image_pixels()
    if pixels > limit:
        size = f"{pages} pages of {height} x {width}" if pages > 1 else f"{height} x {width}"
        raise InputError(
            source,
            f"image is {size} = {pixels:,} pixels, above the limit of {limit:,} "
            f"(a decompression bomb?); set {MAX_PIXELS_ENV} to a larger number to read it",
        )


def _exact(stream: BinaryIO, count: int) -> bytes:
    data = stream.read(count)
    if len(data) != count:
        raise ValueError("file ends inside the image header")
    return data


def _jpeg_size(stream: BinaryIO) -> tuple[int, int]:
    """Height and width from the frame header, walking the marker segments before it."""
    stream.seek(2)
    while True:
        if _exact(stream, 1) != b"\xff":
            raise ValueError("damaged JPEG marker segments")
        marker = _exact(stream, 1)[0]
        while marker == 0xFF:  # fill bytes
            marker = _exact(stream, 1)[0]
        if marker in _JPEG_STANDALONE_MARKERS:
            continue
        length = int.from_bytes(_exact(stream, 2), "big")
        if marker in _JPEG_FRAME_MARKERS:
            frame = _exact(stream, 5)  # precision, height, width
            return int.from_bytes(frame[1:3], "big"), int.from_bytes(frame[3:5], "big")
        if marker == 0xDA or length < 2:
            raise ValueError("no JPEG frame header before the image data")
        stream.seek(length - 2, os.SEEK_CUR)


def raster_size(path: str | Path) -> tuple[int, int]:
    """``(height, width)`` of a PNG, JPEG or BMP file, read from its header only.

    The format is recognised from the content, as the decoder does. Raises ``ValueError``
    for anything else or a damaged header.

    >>> import tempfile, cv2, numpy as np
    >>> path = Path(tempfile.mkdtemp()) / "a.png"
    >>> _ = cv2.imwrite(str(path), np.zeros((3, 5), np.uint8))
    >>> raster_size(path)
    (3, 5)
    """
    with Path(path).open("rb") as stream:
        head = stream.read(26)
        if head.startswith(PNG_MAGIC) and head[12:16] == b"IHDR":
            return int.from_bytes(head[20:24], "big"), int.from_bytes(head[16:20], "big")
        if head.startswith(JPEG_MAGIC):
            return _jpeg_size(stream)
        if head.startswith(BMP_MAGIC) and len(head) == 26:
            if int.from_bytes(head[14:18], "little") == 12:  # OS/2 core header: 16-bit fields
                return int.from_bytes(head[20:22], "little"), int.from_bytes(head[18:20], "little")
            height = int.from_bytes(head[22:26], "little", signed=True)  # < 0: top-down rows
            return abs(height), int.from_bytes(head[18:22], "little", signed=True)
    raise ValueError("not a PNG, JPEG or BMP file (unrecognised header)")
