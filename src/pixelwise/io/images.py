"""Read and write 2-D images: PNG, JPEG, BMP (OpenCV), TIFF (tifffile) and NumPy ``.npy``.

Images live in memory as float32 HxW or HxWxC arrays (C in 1..4, RGB(A) channel order).
Integer files are scaled by their dtype's maximum, so 8- and 16-bit data land in [0, 1];
float files are kept as they are. OpenCV handles the raster formats because it reads and
writes 16-bit colour PNGs, which Pillow cannot. Every problem with a file is raised as an
:class:`~pixelwise.errors.InputError` naming the file; every write is atomic.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import tifffile

from pixelwise.errors import InputError
from pixelwise.io.atomic import atomic_path

RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
TIFF_SUFFIXES = (".tif", ".tiff")
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
_RASTER_CHANNELS = {".png": (1, 3, 4), ".jpg": (1, 3), ".jpeg": (1, 3), ".bmp": (1, 3, 4)}
_INTEGER_DTYPES = {8: np.uint8, 16: np.uint16}
# JPEGs are read with EXIF orientation applied; the others unchanged, so that alpha survives.
_JPEG_READ_FLAGS = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        expected = ", ".join(IMAGE_SUFFIXES)
        raise InputError(
            path, f"unsupported image format '{path.suffix}'; expected one of {expected}"
        )
    return suffix


def _check_layout(array: np.ndarray, source: str | Path) -> None:
    if array.size == 0:
        raise InputError(source, f"image is empty (shape {array.shape})")
    if array.ndim not in (2, 3) or (array.ndim == 3 and not 1 <= array.shape[2] <= 4):
        raise InputError(
            source,
            f"expected an HxW or HxWxC image with 1 to 4 channels, got shape {array.shape} "
            "(multi-page stacks and channel-first layouts are not supported)",
        )


def _decode(path: Path, suffix: str) -> np.ndarray:
    if suffix == ".npy":
        return np.load(path, allow_pickle=False)
    if suffix in TIFF_SUFFIXES:
        return tifffile.imread(path)
    flags = _JPEG_READ_FLAGS if suffix in (".jpg", ".jpeg") else cv2.IMREAD_UNCHANGED
    array = cv2.imdecode(np.fromfile(path, dtype=np.uint8), flags)
    if array is None:
        raise ValueError("the decoder does not recognise the data")
    if array.ndim == 3:  # OpenCV stores colour as BGR(A)
        array = cv2.cvtColor(
            array, cv2.COLOR_BGR2RGB if array.shape[2] == 3 else cv2.COLOR_BGRA2RGBA
        )
    return array


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
    except Exception as error:  # decoders raise many exception types on corrupt data
        raise InputError(path, f"cannot read as {suffix[1:].upper()}: {error}") from None
    _check_layout(array, path)
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


def _write_raster(target: Path, data: np.ndarray, suffix: str) -> None:
    if data.ndim == 3 and data.shape[2] == 1:
        data = data[..., 0]
    channels = 1 if data.ndim == 2 else data.shape[2]
    if channels not in _RASTER_CHANNELS[suffix]:
        raise InputError(
            target,
            f"{suffix[1:].upper()} cannot store {channels}-channel images; use TIFF or .npy",
        )
    if data.ndim == 3 and data.shape[2] in (3, 4):
        data = cv2.cvtColor(data, cv2.COLOR_RGB2BGR if data.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    ok, encoded = cv2.imencode(suffix, data)
    if not ok:
        raise InputError(
            target, f"OpenCV could not encode a {data.dtype} image of shape {data.shape}"
        )
    with atomic_path(target) as tmp:
        tmp.write_bytes(encoded.tobytes())


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
    _check_layout(array, target)
    data = _encode(to_float_image(array, target), bit_depth)
    if suffix in RASTER_SUFFIXES:
        _write_raster(target, data, suffix)
    elif suffix in TIFF_SUFFIXES:
        photometric = "rgb" if data.ndim == 3 and data.shape[2] in (3, 4) else "minisblack"
        with atomic_path(target) as tmp:
            tifffile.imwrite(tmp, data, photometric=photometric)
    else:
        with atomic_path(target) as tmp, tmp.open("wb") as handle:
            np.save(handle, data)
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
