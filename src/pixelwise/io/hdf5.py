"""HDF5 datasets (OCT B-scan stacks, detector frames, ...) through h5py.

A file can hold many datasets: the reader takes the one named by ``dataset`` (a path such
as ``"bscans"`` or ``"/entry/data"``), or the only one when there is exactly one. Reads go
through h5py, so chunked and compressed datasets are decompressed window by window.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from pixelwise.errors import InputError
from pixelwise.io.atomic import atomic_path
from pixelwise.io.formats import register_reader, register_writer
from pixelwise.io.sources import FileSource, Window, validate_array, validate_source

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _dataset_paths(h5: h5py.File) -> list[str]:
    """Paths of every dataset in ``h5``, in h5py's visiting order."""
    found: list[str] = []

    def collect(name: str, item: h5py.HLObject) -> None:
        if isinstance(item, h5py.Dataset):
            found.append(f"/{name}")

    h5.visititems(collect)
    return found


def _select(path: Path, h5: h5py.File, dataset: str | None) -> h5py.Dataset:
    """The dataset called ``dataset``, or the only one; InputError listing them otherwise."""
    paths = _dataset_paths(h5)
    listing = ", ".join(paths) or "none"
    if dataset is None:
        if len(paths) != 1:
            raise InputError(
                path, f"holds {len(paths)} datasets ({listing}); choose one with dataset=..."
            )
        dataset = paths[0]
    item = h5.get(dataset)
    if not isinstance(item, h5py.Dataset):
        what = "a group" if isinstance(item, h5py.Group) else "missing"
        raise InputError(path, f"dataset {dataset!r} is {what}; datasets: {listing}")
    return item


@register_reader("HDF5", HDF5_SUFFIXES, magic=[HDF5_MAGIC])
class HdfSource(FileSource):
    """One dataset of an HDF5 file, read window by window through h5py.

    Any shape and real dtype, kept as stored (native byte order), checked at open (non-empty,
    no NaN/Inf, scanned in blocks along axis 0). ``handle`` is the ``h5py.Dataset``; its file
    is re-opened in each process.

    Parameters
    ----------
    path : str or Path
        The HDF5 file.
    dataset : str, optional
        Path of the dataset inside the file; needed when the file holds several.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "scan.h5"
    >>> write_hdf5(path, {"bscans": np.zeros((3, 4, 5), np.uint16), "meta/t": np.ones(3)})
    >>> source = HdfSource(path, dataset="bscans")
    >>> source.dataset, source.shape, source.dtype
    ('/bscans', (3, 4, 5), dtype('uint16'))
    """

    def __init__(self, path: str | Path, dataset: str | None = None) -> None:
        super().__init__(path)
        self.dataset = dataset
        data = self.handle
        self.dataset = data.name
        self.shape = tuple(data.shape or ())  # None: a null dataspace
        self.dtype = data.dtype.newbyteorder("=")
        validate_source(self)

    def _open(self) -> h5py.Dataset:
        try:
            h5 = h5py.File(self.path, "r")
        except OSError as error:
            raise InputError(self.path, f"not a readable HDF5 file ({error})") from None
        try:
            return _select(self.path, h5, self.dataset)
        except InputError:
            h5.close()
            raise

    def _close_handle(self, handle: h5py.Dataset) -> None:
        handle.file.close()

    def _read(self, handle: h5py.Dataset, window: Window) -> np.ndarray:
        try:
            return np.array(handle[window], dtype=self.dtype)
        except (OSError, ValueError, TypeError) as error:
            raise InputError(self.source, f"cannot read dataset {self.dataset} ({error})") from None


def write_hdf5(
    path: str | Path, datasets: Mapping[str, np.ndarray], attrs: Mapping[str, Any] | None = None
) -> None:
    """Write named arrays (and root attributes) to a new HDF5 file, atomically.

    Parameters
    ----------
    path : str or Path
        Target file; replaced when it exists.
    datasets : mapping of str to numpy.ndarray
        Dataset paths (``"bscans"``, ``"meta/times"``; groups are created) to real, finite,
        non-empty arrays, stored in their dtype.
    attrs : mapping, optional
        Attributes of the root group (numbers, strings, small arrays).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "out.hdf5"
    >>> write_hdf5(path, {"data": np.ones((2, 2))}, attrs={"units": "mm"})
    >>> HdfSource(path).shape
    (2, 2)
    """
    path = Path(path)
    if not datasets:
        raise InputError(path, "nothing to write: no datasets given")
    arrays = {name: np.asarray(array) for name, array in datasets.items()}
    for name, array in arrays.items():
        try:
            validate_array(path, array)
        except InputError as error:
            raise InputError(path, f"dataset {name!r}: {error.problem}") from None
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        for name, array in arrays.items():
            h5.create_dataset(name, data=array)
        h5.attrs.update(dict(attrs or {}))


@register_writer("HDF5", HDF5_SUFFIXES)
def write_hdf5_array(
    path: str | Path,
    array: np.ndarray,
    dataset: str = "data",
    attrs: Mapping[str, Any] | None = None,
) -> None:
    """Write one array as dataset ``dataset`` of a new HDF5 file (see :func:`write_hdf5`).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "one.h5"
    >>> write_hdf5_array(path, np.zeros((2, 3)), dataset="frames")
    >>> HdfSource(path).dataset
    '/frames'
    """
    write_hdf5(path, {dataset: array}, attrs)
