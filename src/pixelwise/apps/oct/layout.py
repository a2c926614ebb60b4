"""The native OCT file layout (HDF5) and the label maps derived from its boundaries.

One HDF5 file holds a stack of B-scans and, when annotated, the ILM and BM boundary rows:

* ``/bscans``: ``(N, H, W)`` uint8 (0..255) or float (0..1) B-scans, depth down the rows;
* ``/boundaries``: ``(N, 2, W)`` float rows of the ILM (index 0) and BM (index 1) in every
  column, 0-based pixel centres, sub-pixel allowed, NaN where a column is not annotated;
  optional (prediction inputs need none);
* root attributes ``scale_axial_um`` and ``scale_lateral_um`` (µm per pixel down a column
  and across columns), when known; ``boundary_names`` = ``["ILM", "BM"]``; ``source``.

Any other groups and datasets are allowed and are copied into prediction outputs. Training
labels are derived from the boundaries (:func:`labels_from_boundaries`): 0 above the ILM
(vitreous), 1 between ILM and BM (retina), 2 below BM (choroid and sclera), and
:data:`IGNORE` in columns where either boundary is not annotated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from pixelwise.errors import InputError
from pixelwise.io.atomic import atomic_path

BSCANS = "bscans"
BOUNDARIES = "boundaries"
BOUNDARY_NAMES = ("ILM", "BM")
SCALE_AXIAL = "scale_axial_um"
SCALE_LATERAL = "scale_lateral_um"
NAMES = "bscan_names"
#: Label of pixels in unannotated columns; the loss and the Dice metric skip them.
IGNORE = 255
#: Boundary rows may lie half a pixel beyond the first and last pixel centres.
_MARGIN = 0.5


@dataclass
class OctData:
    """B-scans with optional boundaries and scale, as held in memory.

    ``bscans`` is ``(N, H, W)`` uint8 or float32; ``boundaries`` ``(N, 2, W)`` float32 or
    None; scales in µm per pixel or None; ``names`` one label per B-scan (file names of an
    image folder) or empty.
    """

    bscans: np.ndarray
    boundaries: np.ndarray | None = None
    scale_axial_um: float | None = None
    scale_lateral_um: float | None = None
    names: list[str] = field(default_factory=list)
    source: str = "<memory>"

    def __post_init__(self) -> None:
        validate(self)

    @property
    def shape(self) -> tuple[int, int, int]:
        n, h, w = self.bscans.shape
        return n, h, w


def validate(data: OctData) -> None:
    """Check shapes, dtypes, finiteness and boundary order; one InputError naming the file."""
    where = data.source
    bscans = data.bscans
    if bscans.ndim != 3 or 0 in bscans.shape:
        raise InputError(where, f"{BSCANS} must be (N, H, W), got shape {bscans.shape}")
    if bscans.dtype != np.uint8 and bscans.dtype.kind != "f":
        raise InputError(where, f"{BSCANS} must be uint8 or float, got {bscans.dtype}")
    if bscans.dtype.kind == "f":
        if not np.isfinite(bscans).all():
            index = int(np.flatnonzero(~np.isfinite(bscans).reshape(len(bscans), -1).all(1))[0])
            raise InputError(where, f"{BSCANS} holds NaN or Inf (first in B-scan {index})")
        low, high = float(bscans.min()), float(bscans.max())
        if low < 0 or high > 1:
            raise InputError(where, f"float {BSCANS} must lie in [0, 1], got [{low:g}, {high:g}]")
    n, h, w = bscans.shape
    if data.names and len(data.names) != n:
        raise InputError(where, f"{len(data.names)} B-scan names for {n} B-scans")
    for name in ("scale_axial_um", "scale_lateral_um"):
        value = getattr(data, name)
        if value is not None and not (np.isfinite(value) and value > 0):
            raise InputError(where, f"{name} must be a positive number, got {value}")
    if data.boundaries is None:
        return
    rows = data.boundaries
    if rows.ndim != 3 or rows.shape[1:] != (2, w) or rows.shape[0] != n:
        raise InputError(
            where,
            f"{BOUNDARIES} must be (N, 2, W) = ({n}, 2, {w}) to match {BSCANS}, "
            f"got shape {rows.shape}",
        )
    if rows.dtype.kind != "f":
        raise InputError(where, f"{BOUNDARIES} must be float (NaN = unannotated), got {rows.dtype}")
    if np.isinf(rows).any():
        raise InputError(where, f"{BOUNDARIES} hold Inf; use NaN for unannotated columns")
    annotated = np.isfinite(rows)
    outside = annotated & ((rows < -_MARGIN) | (rows > h - 1 + _MARGIN))
    if outside.any():
        scan, boundary, column = (int(i[0]) for i in np.nonzero(outside))
        raise InputError(
            where,
            f"{BOUNDARY_NAMES[boundary]} row {rows[scan, boundary, column]:g} of B-scan {scan}, "
            f"column {column} lies outside the image (0..{h - 1})",
        )
    both = annotated.all(axis=1)
    inverted = both & (rows[:, 1] < rows[:, 0])
    if inverted.any():
        scan, column = (int(i[0]) for i in np.nonzero(inverted))
        raise InputError(
            where,
            f"BM ({rows[scan, 1, column]:g}) lies above ILM ({rows[scan, 0, column]:g}) in "
            f"B-scan {scan}, column {column}",
        )


def labels_from_boundaries(boundaries: np.ndarray, height: int) -> np.ndarray:
    """Class map ``(N, H, W)`` uint8 from boundary rows ``(N, 2, W)``.

    Pixel ``r`` of a column is 0 if its centre lies above the ILM (``r < ILM``), 1 if
    ``ILM <= r < BM`` and 2 if ``r >= BM``; columns where either boundary is NaN get
    :data:`IGNORE`. With this convention the number of class-0 pixels in a column is
    ``ceil(ILM)``, so ``sum_r p0 - 0.5`` estimates the ILM without bias
    (see :func:`pixelwise.methods.segmentation.boundaries_from_probabilities`).

    Examples
    --------
    >>> labels_from_boundaries(np.array([[[1.2, np.nan], [2.5, 3.0]]]), 4)[0].T.tolist()
    [[0, 0, 1, 2], [255, 255, 255, 255]]
    """
    rows = np.arange(height, dtype=np.float32)[None, :, None]
    ilm, bm = boundaries[:, 0:1, :], boundaries[:, 1:2, :]
    labels = (rows >= ilm).astype(np.uint8) + (rows >= bm).astype(np.uint8)
    unannotated = ~np.isfinite(boundaries).all(axis=1)
    labels[np.broadcast_to(unannotated[:, None, :], labels.shape)] = IGNORE
    return labels


def _dataset(path: Path, h5: h5py.File, name: str, required: bool) -> np.ndarray | None:
    item = h5.get(name)
    if item is None:
        if not required:
            return None
        found = []
        h5.visititems(lambda key, obj: found.append(key) if isinstance(obj, h5py.Dataset) else None)
        raise InputError(
            path,
            f"no dataset '/{name}' (datasets: {', '.join(found) or 'none'}); the OCT layout "
            f"needs /{BSCANS} (N, H, W) and optionally /{BOUNDARIES} (N, 2, W)",
        )
    if not isinstance(item, h5py.Dataset):
        raise InputError(path, f"'/{name}' is a group, expected a dataset")
    try:
        return np.asarray(item[()])
    except (OSError, ValueError, TypeError) as error:
        raise InputError(path, f"cannot read dataset /{name} ({error})") from None


def _scale(path: Path, attrs: h5py.AttributeManager, name: str) -> float | None:
    if name not in attrs:
        return None
    try:
        return float(attrs[name])
    except (TypeError, ValueError):
        raise InputError(path, f"attribute {name} is not a number: {attrs[name]!r}") from None


def read_oct(path: str | Path) -> OctData:
    """Read and validate an OCT HDF5 file of the native layout (see the module docstring).

    Raises :class:`InputError` naming the file for a missing or malformed dataset, NaN in
    the B-scans, boundaries outside the image or BM above ILM.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        h5 = h5py.File(path, "r")
    except OSError as error:
        raise InputError(path, f"not a readable HDF5 file ({error})") from None
    with h5:
        bscans = _dataset(path, h5, BSCANS, required=True)
        boundaries = _dataset(path, h5, BOUNDARIES, required=False)
        names_data = _dataset(path, h5, NAMES, required=False)
        axial = _scale(path, h5.attrs, SCALE_AXIAL)
        lateral = _scale(path, h5.attrs, SCALE_LATERAL)
    if bscans is None:  # pragma: no cover - required=True raises instead
        raise InputError(path, f"no dataset /{BSCANS}")
    if bscans.dtype.kind == "f":
        bscans = bscans.astype(np.float32, copy=False)
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in (names_data or [])]
    rows = None if boundaries is None else boundaries.astype(np.float32, copy=False)
    return OctData(bscans, rows, axial, lateral, names, source=str(path))


def write_datasets(h5: h5py.Group, data: OctData) -> None:
    """Store ``data`` in an open HDF5 file or group with the native layout."""
    h5.create_dataset(BSCANS, data=data.bscans, compression="gzip", compression_opts=4)
    if data.boundaries is not None:
        h5.create_dataset(BOUNDARIES, data=data.boundaries.astype(np.float32))
    if data.names:
        h5.create_dataset(NAMES, data=np.array(data.names, dtype=h5py.string_dtype()))
    h5.attrs["boundary_names"] = list(BOUNDARY_NAMES)
    for name, value in ((SCALE_AXIAL, data.scale_axial_um), (SCALE_LATERAL, data.scale_lateral_um)):
        if value is not None:
            h5.attrs[name] = float(value)
    h5.attrs["source"] = data.source


def write_oct(path: str | Path, data: OctData) -> Path:
    """Write ``data`` to a new HDF5 file of the native layout, atomically.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "scans.h5"
    >>> scans = OctData(np.zeros((2, 8, 5), np.uint8), np.full((2, 2, 5), np.nan, np.float32))
    >>> read_oct(write_oct(path, scans)).shape
    (2, 8, 5)
    """
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        write_datasets(h5, data)
    return path


def stack(parts: Sequence[OctData], source: str) -> OctData:
    """Concatenate B-scan sets of one size (boundaries NaN where a part has none)."""
    sizes = {part.bscans.shape[1:] for part in parts}
    if len(sizes) != 1:
        raise InputError(source, f"B-scans of different sizes cannot be stacked: {sorted(sizes)}")
    kinds = {part.bscans.dtype for part in parts}
    bscans = (
        np.concatenate([p.bscans for p in parts])
        if len(kinds) == 1
        else np.concatenate([to_unit(p.bscans) for p in parts])
    )
    rows = None
    if any(part.boundaries is not None for part in parts):
        rows = np.concatenate(
            [
                p.boundaries
                if p.boundaries is not None
                else np.full((len(p.bscans), 2, p.bscans.shape[2]), np.nan, np.float32)
                for p in parts
            ]
        )
    names = [name for part in parts for name in part.names] if all(p.names for p in parts) else []
    first = parts[0]
    return OctData(bscans, rows, first.scale_axial_um, first.scale_lateral_um, names, source)


def to_unit(bscans: np.ndarray) -> np.ndarray:
    """B-scans as float32 in [0, 1]: uint8 divided by 255, floats kept."""
    if bscans.dtype == np.uint8:
        return bscans.astype(np.float32) / np.float32(255)
    return bscans.astype(np.float32, copy=False)
