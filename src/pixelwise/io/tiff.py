"""TIFF images and multi-page stacks through tifffile.

One image series of the file is read (the first by default; others, such as thumbnails or
pyramid levels, by index). Shapes follow tifffile's series with colour samples moved last:
``(H, W)``, ``(H, W, C)``, ``(N, H, W)`` or ``(N, H, W, C)``. Uncompressed, contiguous
series are memory-mapped (``tifffile.memmap``); others are decoded into memory, after the
decompression-bomb check of :mod:`pixelwise.io.imagesize`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import tifffile

from pixelwise.errors import InputError
from pixelwise.io.atomic import atomic_path
from pixelwise.io.formats import register_reader, register_writer
from pixelwise.io.imagesize import require_pixel_limit
from pixelwise.io.sources import (
    FileSource,
    Window,
    copy_window,
    validate_array,
    validate_source,
)

TIFF_SUFFIXES = (".tif", ".tiff")
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF


def _samples_last(array: np.ndarray, axes: str) -> np.ndarray:
    """Move tifffile's colour-sample axis ``S`` (planar files store it first) to the end."""
    return np.moveaxis(array, axes.index("S"), -1) if "S" in axes else array


def load_tiff(path: str | Path, series: int = 0) -> np.ndarray:
    """Series ``series`` of a TIFF file: memory-mapped when possible, else decoded.

    Parameters
    ----------
    path : str or Path
        The TIFF file.
    series : int
        Index of the image series.

    Returns
    -------
    numpy.ndarray
        Stored dtype, colour samples last; a read-only ``np.memmap`` for uncompressed
        contiguous data. Values are not checked.

    Raises
    ------
    InputError
        Missing, not a TIFF, no such series, truncated, undecodable, or (when decoding)
        more pixels than :func:`~pixelwise.io.imagesize.max_image_pixels`.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "stack.tif"
    >>> write_tiff(path, np.zeros((3, 4, 5), np.uint16))
    >>> load_tiff(path).shape
    (3, 4, 5)
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        tif = tifffile.TiffFile(path)
    except (tifffile.TiffFileError, OSError) as error:
        raise InputError(path, f"not a readable TIFF file ({error})") from None
    with tif:
        if not 0 <= series < len(tif.series):
            raise InputError(path, f"has {len(tif.series)} image series; no series {series}")
        images = tif.series[series]
        axes, shape, offset = images.axes, images.shape, images.dataoffset
        if offset is not None:
            end = offset + math.prod(shape) * images.dtype.itemsize
            if end > path.stat().st_size:
                raise InputError(
                    path,
                    f"truncated: the header puts image data up to byte {end}, "
                    f"file has {path.stat().st_size}",
                )
            return _samples_last(tifffile.memmap(path, series=series, mode="r"), axes)
        sizes = dict(zip(axes, shape, strict=True))
        height, width = sizes.get("Y", 1), sizes.get("X", 1)
        require_pixel_limit(
            path, height, width, math.prod(shape) // (height * width * sizes.get("S", 1))
        )
        try:
            data = images.asarray()
        except Exception as error:  # codecs raise many exception types on corrupt data
            raise InputError(
                path, f"cannot decode TIFF data ({type(error).__name__}: {error})"
            ) from None
    return _samples_last(data, axes)


@register_reader("TIFF", TIFF_SUFFIXES, magic=TIFF_MAGIC)
class TiffSource(FileSource):
    """One image series of a TIFF file, read window by window (see :func:`load_tiff`).

    Checked at open: real dtype, non-empty, no NaN/Inf. ``handle`` is the memory map or the
    decoded array; ``memory_mapped`` says which.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "rgb.tiff"
    >>> write_tiff(path, np.zeros((4, 5, 3), np.uint8))
    >>> source = TiffSource(path)
    >>> source.shape, source.memory_mapped
    ((4, 5, 3), True)
    """

    def __init__(self, path: str | Path, series: int = 0) -> None:
        super().__init__(path)
        self.series = series
        array = self.handle
        self.shape = tuple(array.shape)
        self.dtype = array.dtype.newbyteorder("=")
        self.memory_mapped = isinstance(array, np.memmap)
        validate_source(self)

    def _open(self) -> np.ndarray:
        return load_tiff(self.path, self.series)

    def _read(self, handle: np.ndarray, window: Window) -> np.ndarray:
        return copy_window(handle, window, self.dtype)


@register_writer("TIFF", TIFF_SUFFIXES)
def write_tiff(
    path: str | Path,
    array: np.ndarray,
    photometric: str | None = None,
    compression: str | None = None,
) -> None:
    """Write an image or stack as TIFF through tifffile, atomically, in its dtype.

    Parameters
    ----------
    path : str or Path
        Target file.
    array : numpy.ndarray
        ``(H, W)``, ``(H, W, C)``, ``(N, H, W)`` or ``(N, H, W, C)``, real and finite.
    photometric : str, optional
        tifffile's photometric interpretation; by default ``"rgb"`` when the last axis of a
        3-D or 4-D array has 3 or 4 entries (colour, alpha last), else ``"minisblack"``.
    compression : str, optional
        tifffile compression, e.g. ``"zlib"``; compressed files are not memory-mapped.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.tif"
    >>> write_tiff(path, np.ones((2, 8, 8), np.float32), compression="zlib")
    >>> TiffSource(path).memory_mapped
    False
    """
    path = Path(path)
    array = np.asarray(array)
    validate_array(path, array)
    if photometric is None:
        colour = array.ndim in (3, 4) and array.shape[-1] in (3, 4)
        photometric = "rgb" if colour else "minisblack"
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, array, photometric=photometric, compression=compression)
