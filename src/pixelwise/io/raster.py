"""PNG, JPEG and BMP through OpenCV: decoded whole into memory, after the pixel-limit check.

Pixels are kept as stored: uint8 (or uint16 for 16-bit PNG), shape ``(H, W)`` or
``(H, W, C)`` with C in 3..4, RGB(A) channel order. OpenCV handles these formats because it
reads and writes 16-bit colour PNGs, which Pillow cannot. JPEGs are read with their EXIF
orientation applied; the others unchanged, so that alpha survives.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pixelwise.errors import InputError
from pixelwise.io.atomic import atomic_path
from pixelwise.io.formats import register_reader, register_writer
from pixelwise.io.imagesize import (
    BMP_MAGIC,
    JPEG_MAGIC,
    PNG_MAGIC,
    raster_size,
    require_pixel_limit,
)
from pixelwise.io.sources import FileSource, Window, validate_source

RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
#: Channel counts and pixel dtypes each format stores.
RASTER_CHANNELS = {".png": (1, 3, 4), ".jpg": (1, 3), ".jpeg": (1, 3), ".bmp": (1, 3, 4)}
RASTER_DTYPES = {
    ".png": (np.dtype(np.uint8), np.dtype(np.uint16)),
    ".jpg": (np.dtype(np.uint8),),
    ".jpeg": (np.dtype(np.uint8),),
    ".bmp": (np.dtype(np.uint8),),
}
_JPEG_READ_FLAGS = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH


def check_image_layout(array: np.ndarray, source: str | Path) -> None:
    """Raise :class:`InputError` unless ``array`` is a non-empty HxW or HxWxC image, C in 1..4.

    >>> check_image_layout(np.zeros((2, 3, 3)), "rgb.png")
    """
    if array.size == 0:
        raise InputError(source, f"image is empty (shape {array.shape})")
    if array.ndim not in (2, 3) or (array.ndim == 3 and not 1 <= array.shape[2] <= 4):
        raise InputError(
            source,
            f"expected an HxW or HxWxC image with 1 to 4 channels, got shape {array.shape} "
            "(multi-page stacks and channel-first layouts are not supported)",
        )


def decode_raster(path: str | Path) -> np.ndarray:
    """Decode a PNG, JPEG or BMP file (recognised by content) as stored, RGB(A) order.

    The header is read first and images above the pixel limit are refused before decoding
    (see :mod:`pixelwise.io.imagesize`). Raises :class:`InputError` naming the file.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.png"
    >>> write_raster(path, np.full((2, 3), 7, np.uint16))
    >>> decode_raster(path).tolist()
    [[7, 7, 7], [7, 7, 7]]
    """
    path = Path(path)
    try:
        require_pixel_limit(path, *raster_size(path))
    except ValueError as error:
        raise InputError(path, str(error)) from None
    encoded = np.fromfile(path, dtype=np.uint8)
    jpeg = encoded[: len(JPEG_MAGIC)].tobytes() == JPEG_MAGIC
    array = cv2.imdecode(encoded, _JPEG_READ_FLAGS if jpeg else cv2.IMREAD_UNCHANGED)
    if array is None:
        raise InputError(path, "the decoder does not recognise the data")
    if array.ndim == 3:  # OpenCV stores colour as BGR(A)
        array = cv2.cvtColor(
            array, cv2.COLOR_BGR2RGB if array.shape[2] == 3 else cv2.COLOR_BGRA2RGBA
        )
    return array


@register_reader("BMP", [".bmp"], magic=[BMP_MAGIC])
@register_reader("JPEG", [".jpg", ".jpeg"], magic=[JPEG_MAGIC])
@register_reader("PNG", [".png"], magic=[PNG_MAGIC])
class RasterSource(FileSource):
    """A PNG, JPEG or BMP image, decoded whole when opened (and once in each process).

    Shape ``(H, W)`` or ``(H, W, C)``, dtype as stored (uint8, or uint16 for 16-bit PNG).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.bmp"
    >>> write_raster(path, np.zeros((4, 6, 3), np.uint8))
    >>> RasterSource(path).shape
    (4, 6, 3)
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        array = self.handle
        self.shape = tuple(array.shape)
        self.dtype = array.dtype
        validate_source(self)

    def _open(self) -> np.ndarray:
        return decode_raster(self.path)

    def _read(self, handle: np.ndarray, window: Window) -> np.ndarray:
        return handle[window].copy()


@register_writer("BMP", [".bmp"])
@register_writer("JPEG", [".jpg", ".jpeg"])
@register_writer("PNG", [".png"])
def write_raster(path: str | Path, data: np.ndarray) -> None:
    """Encode ``data`` with OpenCV by the suffix of ``path``, atomically, pixels as they are.

    PNG takes uint8 or uint16, JPEG and BMP uint8; 1 or 3 channels (PNG and BMP also 4),
    RGB(A) order. Anything else raises :class:`InputError` before writing.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.jpg"
    >>> write_raster(path, np.zeros((8, 8), np.uint8))
    >>> path.exists()
    True
    """
    path = Path(path)
    data = np.asarray(data)
    suffix = path.suffix.lower()
    name = suffix[1:].upper()
    if data.dtype not in RASTER_DTYPES[suffix]:
        stored = " or ".join(map(str, RASTER_DTYPES[suffix]))
        raise InputError(
            path,
            f"{name} stores {stored} pixels, not {data.dtype}; convert first (or use write_image)",
        )
    check_image_layout(data, path)
    if data.ndim == 3 and data.shape[2] == 1:
        data = data[..., 0]
    channels = 1 if data.ndim == 2 else data.shape[2]
    if channels not in RASTER_CHANNELS[suffix]:
        raise InputError(path, f"{name} cannot store {channels}-channel images; use TIFF or .npy")
    if data.ndim == 3:
        data = cv2.cvtColor(data, cv2.COLOR_RGB2BGR if channels == 3 else cv2.COLOR_RGBA2BGRA)
    ok, encoded = cv2.imencode(suffix, data)
    if not ok:
        raise InputError(
            path, f"OpenCV could not encode a {data.dtype} image of shape {data.shape}"
        )
    with atomic_path(path) as tmp:
        tmp.write_bytes(encoded.tobytes())
