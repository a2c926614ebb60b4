"""MRC / MRC2014 cryo-EM images, stacks and volumes through mrcfile.

Uncompressed files (``.mrc .mrcs .map .rec .st``) are memory-mapped, so stacks larger than
RAM are served window by window. Gzip and bzip2 files (``.mrc.gz``, ``.map.bz2``, ...)
cannot be mapped: they are decompressed into memory when opened (in every process that
reads them). Windows are copied out of the map and their pages released
(:func:`~pixelwise.io.sources.copy_window`), so sweeps over whole files and long random
sampling keep the resident set small however large the data. Modes 0, 1, 2, 6 and 12 keep
their dtype: int8, int16, float32, uint16 and float16. Headers damaged in the ways real
software writes them (a wrong map ID, an odd machine stamp) are read in mrcfile's permissive
mode with a warning naming the file.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import math
import warnings
import zlib
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np
from mrcfile.dtypes import HEADER_DTYPE
from mrcfile.mrcinterpreter import MrcInterpreter
from mrcfile.utils import byte_order_from_machine_stamp, dtype_from_mode
from numpy.typing import DTypeLike

from pixelwise.errors import InputError
from pixelwise.io.atomic import atomic_path
from pixelwise.io.formats import register_reader, register_writer
from pixelwise.io.sources import (
    FileSource,
    Window,
    cast_for_storage,
    copy_window,
    validate_array,
    validate_source,
)

MAPPED_SUFFIXES = (".mrc", ".mrcs", ".map", ".rec", ".st")
#: mrcfile's compression names by file ending.
COMPRESSION = {".gz": "gzip", ".bz2": "bzip2"}
COMPRESSED_SUFFIXES = tuple(
    f"{base}{end}" for base in (".mrc", ".mrcs", ".map") for end in COMPRESSION
)
MRC_SUFFIXES = MAPPED_SUFFIXES + COMPRESSED_SUFFIXES
#: The dtypes of modes 0, 1, 2, 6 and 12.
MRC_DTYPES = tuple(map(np.dtype, (np.int8, np.int16, np.float32, np.uint16, np.float16)))
HEADER_BYTES = 1024
#: Widening or narrowing of dtypes MRC lacks, when no dtype is requested.
_DEFAULT_CONVERSIONS: dict[np.dtype[Any], np.dtype[Any]] = {
    np.dtype(np.float64): np.dtype(np.float32),
    np.dtype(np.uint8): np.dtype(np.uint16),
}
_OPEN_ERRORS = (ValueError, OSError, EOFError, zlib.error)

VoxelSize = float | tuple[float, float, float]


def _compression(path: Path) -> str | None:
    """``"gzip"``, ``"bzip2"`` or None, from the file ending."""
    return next(
        (name for end, name in COMPRESSION.items() if path.name.lower().endswith(end)), None
    )


def _stream(path: Path, compression: str | None) -> io.BufferedIOBase:
    """The (decompressed) bytes of ``path``."""
    if compression == "gzip":
        return gzip.GzipFile(path)
    if compression == "bzip2":
        return bz2.BZ2File(path)
    return path.open("rb")


def _parse_header(raw: bytes) -> np.recarray:
    """Parse the 1024-byte header in the file's byte order.

    The order is the machine stamp's, else whichever gives a known mode, as mrcfile's
    permissive mode guesses.
    """
    header = np.frombuffer(raw, dtype=HEADER_DTYPE).reshape(()).view(np.recarray)
    try:
        order = byte_order_from_machine_stamp(header.machst)
    except ValueError:
        order = "<"
    header = header.view(HEADER_DTYPE.newbyteorder(order)).view(np.recarray)
    with contextlib.suppress(ValueError):
        dtype_from_mode(header.mode)
        return header
    return header.view(header.dtype.newbyteorder()).view(np.recarray)


def _block_sizes(path: Path, raw: bytes) -> tuple[int, int]:
    """Bytes of the extended header and of the data block declared by the header ``raw``."""
    if len(raw) < HEADER_BYTES:
        raise InputError(path, f"not an MRC file: {len(raw)} bytes, less than the header")
    header = _parse_header(raw)
    try:
        itemsize = dtype_from_mode(header.mode).itemsize
    except ValueError:
        raise InputError(path, f"not an MRC file (unknown mode {int(header.mode)})") from None
    sizes = [int(header.nx), int(header.ny), int(header.nz)]
    extended = int(header.nsymbt)
    if min(*sizes, extended) < 0:
        raise InputError(path, "not an MRC file (negative sizes in the header)")
    return extended, math.prod(sizes) * itemsize


def _check_layout(path: Path, compression: str | None, whole: bool) -> None:
    """Refuse ``path`` unless its header is MRC-like and the file is as long as it says.

    mrcfile allocates the extended header and data block that the header declares before
    reading them, so a damaged header claiming gigabytes must be refused first. ``whole``
    also measures the data block, which for a compressed file means decompressing it.
    """
    try:
        with _stream(path, compression) as stream:
            extended, declared = _block_sizes(path, stream.read(HEADER_BYTES))
            wanted = HEADER_BYTES + extended + (declared if whole else 0)
            end = path.stat().st_size if compression is None else stream.seek(wanted)
    except EOFError as error:
        raise InputError(path, f"truncated {compression} stream ({error})") from None
    except (OSError, zlib.error) as error:
        raise InputError(path, f"not a readable {compression or 'MRC'} file ({error})") from None
    if end < HEADER_BYTES + extended:
        raise InputError(
            path,
            f"truncated: header declares a {extended}-byte extended header, "
            f"file has {end - HEADER_BYTES} bytes after the header",
        )
    available = end - HEADER_BYTES - extended
    if whole and available < declared:
        raise InputError(
            path, f"truncated: header declares {declared} bytes of data, file has {available}"
        )


def _open_mrc(path: Path, compression: str | None) -> tuple[MrcInterpreter, list[str]]:
    """Open ``path`` read-only (mapped unless compressed) in permissive mode.

    Returns the file and the header problems mrcfile found; raises :class:`InputError` when
    the data block cannot be read.
    """
    _check_layout(path, compression, whole=compression is None)
    opener = mrcfile.mmap if compression is None else mrcfile.open
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            mrc = opener(path, mode="r", permissive=True)
        except EOFError as error:
            raise InputError(path, f"truncated {compression} stream ({error})") from None
        except _OPEN_ERRORS as error:
            raise InputError(path, f"not a readable MRC file ({error})") from None
    problems = [str(warning.message) for warning in caught]
    if mrc.data is None:
        mrc.close()
        if compression is not None:
            _check_layout(path, compression, whole=True)  # a short data block is the usual cause
        raise InputError(path, f"not a readable MRC file ({'; '.join(problems)})")
    return mrc, problems


@register_reader("MRC", MRC_SUFFIXES, magic=[(208, b"MAP ")])
class MrcSource(FileSource):
    """An MRC image, stack or volume read window by window.

    Shape ``(Y, X)`` for a single image, ``(N, Y, X)`` for an image stack or a volume
    (``(N, Z, Y, X)`` for a volume stack); dtype as stored (modes 0/1/2/6/12). The data are
    checked at open (real, non-empty, no NaN/Inf, scanned in blocks). ``handle`` is the
    ``mrcfile`` object.

    Attributes
    ----------
    voxel_size : tuple of float
        ``(x, y, z)`` voxel size in Ångström, from the header.
    is_stack : bool
        True for an image stack (space group 0 with 3-D data), False for a volume or image.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "particles.mrcs"
    >>> write_mrc(path, np.zeros((5, 8, 8), np.float16), voxel_size=1.06, stack=True)
    >>> source = MrcSource(path)
    >>> source.shape, source.dtype, source.is_stack, source.voxel_size[0]
    ((5, 8, 8), dtype('float16'), True, 1.059999942779541)
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self.compression = _compression(self.path)
        self._problems: list[str] = []
        mrc = self.handle
        if self._problems:
            warnings.warn(
                f"{self.source}: damaged MRC header, read anyway ({'; '.join(self._problems)})",
                RuntimeWarning,
                stacklevel=2,
            )
        self.shape = tuple(mrc.data.shape)
        self.dtype = mrc.data.dtype.newbyteorder("=")
        size = mrc.voxel_size
        self.voxel_size = (float(size.x), float(size.y), float(size.z))
        self.is_stack = bool(mrc.is_image_stack())
        validate_source(self)

    def _open(self) -> MrcInterpreter:
        mrc, self._problems = _open_mrc(self.path, self.compression)
        return mrc

    def _read(self, handle: MrcInterpreter, window: Window) -> np.ndarray:
        return copy_window(handle.data, window, self.dtype)


def _read_template(path: Path) -> tuple[np.recarray, Any]:
    """The header and voxel size of the MRC file ``path`` (damaged headers accepted)."""
    if not path.is_file():
        raise InputError(path, "file not found")
    _check_layout(path, _compression(path), whole=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with mrcfile.open(path, mode="r", permissive=True, header_only=True) as mrc:
                return mrc.header.copy(), mrc.voxel_size.copy()
        except _OPEN_ERRORS as error:
            raise InputError(path, f"not a readable MRC file ({error})") from None


def _storage_dtype(path: Path, stored: np.dtype[Any], requested: DTypeLike | None) -> np.dtype[Any]:
    """The dtype to write: ``requested``, else ``stored`` (float64 narrowed, uint8 widened)."""
    target = (
        np.dtype(requested) if requested is not None else _DEFAULT_CONVERSIONS.get(stored, stored)
    )
    if target not in MRC_DTYPES:
        names = ", ".join(map(str, MRC_DTYPES))
        raise InputError(path, f"MRC stores {names}, not {target}; pass dtype= to convert")
    return target


@register_writer("MRC", MRC_SUFFIXES)
def write_mrc(
    path: str | Path,
    array: np.ndarray,
    voxel_size: VoxelSize | None = None,
    header_like: str | Path | None = None,
    stack: bool | None = None,
    dtype: DTypeLike | None = None,
) -> None:
    """Write a 2-D image or 3-D stack/volume as MRC2014, atomically (gzip/bzip2 by suffix).

    Parameters
    ----------
    path : str or Path
        Target; ``.gz`` / ``.bz2`` endings are compressed.
    array : numpy.ndarray
        ``(Y, X)`` or ``(N, Y, X)``, real and finite.
    voxel_size : float or (x, y, z), optional
        Voxel size in Ångström; by default the template's, else 0.
    header_like : str or Path, optional
        MRC file whose voxel size, origin, start indices, labels and stack flag are copied.
    stack : bool, optional
        Mark 3-D data as an image stack (space group 0) rather than a volume; by default as
        the template, else a volume.
    dtype : dtype-like, optional
        Stored dtype: int8, int16, uint16, float16 or float32. By default the array's (float64
        is written as float32, uint8 as uint16). Values that do not fit raise InputError.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "map.mrc.gz"
    >>> write_mrc(path, np.ones((4, 6, 6)), voxel_size=(1.0, 1.0, 2.0))
    >>> source = MrcSource(path)
    >>> source.dtype, source.voxel_size
    (dtype('float32'), (1.0, 1.0, 2.0))
    """
    path = Path(path)
    array = np.asarray(array)
    validate_array(path, array)
    if array.ndim not in (2, 3):
        raise InputError(
            path,
            f"MRC stores (Y, X) images and (N, Y, X) stacks or volumes, not shape {array.shape}",
        )
    template, template_voxel = (
        (None, None) if header_like is None else _read_template(Path(header_like))
    )
    if stack is None:
        stack = template is not None and int(template.ispg) == 0 and int(template.nz) > 1
    if stack and array.ndim != 3:
        raise InputError(path, f"an image stack needs (N, Y, X) data, not shape {array.shape}")
    data = cast_for_storage(path, array, _storage_dtype(path, array.dtype, dtype))
    with (
        atomic_path(path) as tmp,
        mrcfile.new(tmp, overwrite=True, compression=_compression(path)) as mrc,
    ):
        mrc.set_data(data)
        if stack:  # before the voxel size: marking a stack resets the z sampling
            mrc.set_image_stack()
        if template is not None:
            for field in ("origin", "nxstart", "nystart", "nzstart", "nlabl", "label"):
                mrc.header[field] = template[field]
        voxel = voxel_size if voxel_size is not None else template_voxel
        if voxel is not None:
            mrc.voxel_size = voxel
