"""Read and write 2-D images: PNG, JPEG, BMP (OpenCV), TIFF (tifffile) and NumPy ``.npy``.

Images live in memory as float32 HxW or HxWxC arrays (C in 1..4, RGB(A) channel order).
Integer files are scaled by their dtype's maximum, so 8- and 16-bit data land in [0, 1];
float files are kept as they are. Decoding goes through the format modules
(:mod:`~pixelwise.io.raster`, :mod:`~pixelwise.io.tiff`, :mod:`~pixelwise.io.npy`), so the
decompression-bomb guard and the ``.npy`` header checks apply here too. Every problem with
a file is raised as an :class:`~pixelwise.errors.InputError` naming the file; every write is
atomic.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from pixelwise.errors import ConfigError, InputError
from pixelwise.io.npy import map_npy, save_npy
from pixelwise.io.raster import RASTER_SUFFIXES, check_image_layout, decode_raster, write_raster
from pixelwise.io.tiff import TIFF_SUFFIXES, load_tiff, write_tiff

IMAGE_SUFFIXES = (*RASTER_SUFFIXES, *TIFF_SUFFIXES, ".npy")

# Bit depths each format can store; the first is the default. 32 means float32.
_BIT_DEPTHS = {
    ".png": (8, 16),
    ".jpg": (8,),
    ".jpeg": (8,),
    ".bmp": (8,),
    ".tif": (32, 16, 8),
    ".tiff": (32, 16, 8),
    ".npy": (32,),
}
_INTEGER_DTYPES = {8: np.uint8, 16: np.uint16}


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        expected = ", ".join(IMAGE_SUFFIXES)
        raise InputError(
            path, f"unsupported image format '{path.suffix}'; expected one of {expected}"
        )
    return suffix


def _decode(path: Path, suffix: str) -> np.ndarray:
    """The stored pixels, in memory (a memory map is copied, so the file can change after)."""
    if suffix in RASTER_SUFFIXES:
        return decode_raster(path)
    array = map_npy(path) if suffix == ".npy" else load_tiff(path)
    return np.array(array) if isinstance(array, np.memmap) else array


def read_raw_image(path: str | Path) -> np.ndarray:
    """Read an image file as stored: native dtype, HxW or HxWxC, RGB(A) channel order."""
    path = Path(path)
    suffix = _suffix(path)
    if not path.exists():
        raise InputError(path, "file not found")
    if not path.is_file():
        raise InputError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise InputError(path, "file is empty")
    try:
        array = _decode(path, suffix)
    except InputError as error:
        raise InputError(path, f"cannot read as {suffix[1:].upper()}: {error.problem}") from None
    except ConfigError:
        raise
    except Exception as error:  # decoders raise many exception types on corrupt data
        raise InputError(path, f"cannot read as {suffix[1:].upper()}: {error}") from None
    check_image_layout(array, path)
    return array


def to_float_image(
    array: np.ndarray, source: str | Path = "image", *, copy: bool = True
) -> np.ndarray:
    """Convert ``array`` to C-contiguous float32: integers divided by their dtype's maximum.

    Booleans map to {0, 1}; floats keep their values. NaN or infinite values are an error.
    With ``copy=False`` a float32 C-contiguous input is returned as it is.
    """
    if array.dtype == bool:
        result = array.astype(np.float32)
    elif np.issubdtype(array.dtype, np.integer):
        result = array.astype(np.float32) / np.float32(np.iinfo(array.dtype).max)
    elif np.issubdtype(array.dtype, np.floating):
        result = array.astype(np.float32, copy=copy)
    else:
        raise InputError(source, f"unsupported pixel type {array.dtype}")
    if not np.isfinite(result).all():
        raise InputError(source, "image contains NaN or infinite values")
    return np.ascontiguousarray(result)


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as float32 HxW or HxWxC; integer data is scaled to [0, 1]."""
    return to_float_image(read_raw_image(path), path)


def _encode(image: np.ndarray, bit_depth: int) -> np.ndarray:
    if bit_depth == 32:
        return image
    scale = np.iinfo(_INTEGER_DTYPES[bit_depth]).max
    return np.rint(np.clip(image, 0.0, 1.0) * scale).astype(_INTEGER_DTYPES[bit_depth])


def write_image(path: str | Path, image: np.ndarray, *, bit_depth: int | None = None) -> Path:
    """Write ``image`` to ``path`` atomically, in the format given by the suffix; return the path.

    ``bit_depth`` is 8 or 16 for integer pixels, or 32 for float32; by default 8 for PNG, JPEG
    and BMP and 32 for TIFF and ``.npy``. PNG stores 8 or 16 bits, TIFF 8, 16 or 32, JPEG and
    BMP 8, ``.npy`` 32. Integer formats clip the image to [0, 1] first; float formats keep the
    values. Integer input arrays are scaled by their dtype's maximum, as when reading.
    """
    target = Path(path)
    suffix = _suffix(target)
    depths = _BIT_DEPTHS[suffix]
    bit_depth = depths[0] if bit_depth is None else bit_depth
    if bit_depth not in depths:
        raise InputError(
            target, f"{suffix[1:].upper()} stores bit depths {depths}, not {bit_depth}"
        )
    array = np.asarray(image)
    check_image_layout(array, target)
    data = _encode(to_float_image(array, target), bit_depth)
    if suffix in RASTER_SUFFIXES:
        write_raster(target, data)
    elif suffix in TIFF_SUFFIXES:
        write_tiff(target, data)  # colour (3 or 4 channels) as RGB(A), else greyscale
    else:
        save_npy(target, data)
    return target


def collect_image_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand ``paths`` into image files: folders give their image files (sorted, not recursive).

    A missing path, a file with an unsupported suffix or a folder without images is an error.
    A file named twice is kept once, at its first place.
    """
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(
                child
                for child in path.iterdir()
                if child.is_file() and child.suffix.lower() in IMAGE_SUFFIXES
            )
            if not found:
                raise InputError(path, f"folder holds no image files ({', '.join(IMAGE_SUFFIXES)})")
            files.extend(found)
        elif path.exists():
            _suffix(path)
            files.append(path)
        else:
            raise InputError(path, "file not found")
    return list(dict.fromkeys(files))
