"""Reading OCT data from the formats researchers have, into the native layout.

* HDF5 of the native layout (``.h5``/``.hdf5``), see :mod:`pixelwise.apps.oct.layout`;
* the Duke ``.mat`` layouts, through scipy.io: DME (Chiu et al. 2015) ``images``
  ``(H, W, N)`` with ``manualLayers1`` ``(8, W, N)`` (ILM = layer 0, BM = layer 7) and AMD
  (Farsiu et al. 2014) ``images`` ``(H, W, N)`` with ``layerMaps`` ``(N, W, 3)`` (ILM = 0,
  BM = 2). Their rows are MATLAB (1-based) indices: ``index_base=1`` subtracts 1; NaN and
  rows below 1 are unannotated;
* Heidelberg Spectralis ``.vol``, ``.e2e`` and ``.xml`` exports through the optional
  `eyepy <https://github.com/MedVisBonn/eyepy>`_ reader (MIT), layers ``ILM`` and ``BM``;
* PNG/TIFF/JPEG B-scans, a folder of them or single files (for prediction: no boundaries).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pixelwise.apps.oct.layout import OctData, read_oct
from pixelwise.errors import ConfigError, InputError
from pixelwise.io.images import IMAGE_SUFFIXES, collect_image_files, read_raw_image

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")
EYEPY_READERS = {".vol": "import_heyex_vol", ".e2e": "import_heyex_e2e", ".xml": "import_heyex_xml"}
#: Duke layer datasets: key -> (layout of the array, ILM index, BM index).
DUKE_LAYERS = {
    "manualLayers1": ("bwn", 0, 7),
    "manualLayers2": ("bwn", 0, 7),
    "layerMaps": ("nwb", 0, 2),
}


def _as_bscans(values: np.ndarray, source: str, what: str) -> np.ndarray:
    """uint8 kept; integer or float data in 0..255 to uint8; float data in [0, 1] kept."""
    if values.dtype == np.uint8:
        return values
    if values.dtype.kind not in "iuf":
        raise InputError(source, f"{what} must hold numbers, got {values.dtype}")
    data = values.astype(np.float32)
    if not np.isfinite(data).all():
        raise InputError(source, f"{what} holds NaN or Inf")
    low, high = float(data.min()), float(data.max())
    if low >= 0 and high <= 1 and values.dtype.kind == "f":
        return data
    if low >= 0 and high <= 255:
        return np.rint(data).astype(np.uint8)
    if low >= 0 and high <= 65535 and values.dtype.kind in "iu":
        return (data / 65535).astype(np.float32)
    raise InputError(source, f"{what} span [{low:g}, {high:g}]; expected 0..255 or 0..1")


def read_duke_mat(path: str | Path, *, layers: str | None = None, index_base: int = 1) -> OctData:
    """Read a Duke DME or AMD ``.mat`` file (see the module docstring).

    ``layers`` picks the annotation (default: ``manualLayers1``, else ``layerMaps``).
    Raises :class:`InputError` naming the file for an unreadable file, missing keys or
    shapes that do not match.
    """
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        content = scipy.io.loadmat(path)
    except Exception as error:  # scipy raises ValueError, TypeError, MatReadError, ...
        raise InputError(path, f"not a readable MATLAB .mat file ({error})") from None
    keys = sorted(key for key in content if not key.startswith("__"))
    if "images" not in content:
        raise InputError(path, f"no 'images' array (keys: {', '.join(keys) or 'none'})")
    images = np.asarray(content["images"])
    if images.ndim == 2:
        images = images[:, :, None]
    if images.ndim != 3:
        raise InputError(path, f"'images' must be (H, W, N), got shape {images.shape}")
    _, w, n = images.shape
    key = layers or next((k for k in DUKE_LAYERS if k in content), None)
    if key is None:
        raise InputError(
            path, f"no layer array ({', '.join(DUKE_LAYERS)}) (keys: {', '.join(keys)})"
        )
    if key not in DUKE_LAYERS or key not in content:
        raise InputError(path, f"no layer array '{key}' (keys: {', '.join(keys)})")
    order, ilm, bm = DUKE_LAYERS[key]
    maps = np.asarray(content[key], dtype=np.float64)
    if maps.ndim == 2 and n == 1:
        maps = maps[..., None] if order == "bwn" else maps[None]
    if maps.ndim != 3:
        raise InputError(path, f"'{key}' must be 3-D, got shape {maps.shape}")
    canonical = maps.transpose(2, 0, 1) if order == "bwn" else maps.transpose(0, 2, 1)
    if canonical.shape[0] != n or canonical.shape[2] != w or canonical.shape[1] <= bm:
        expected = f"({bm + 1}+, {w}, {n})" if order == "bwn" else f"({n}, {w}, {bm + 1}+)"
        raise InputError(
            path, f"'{key}' has shape {maps.shape}; for 'images' {images.shape} expected {expected}"
        )
    rows = canonical[:, [ilm, bm], :] - index_base
    rows[~np.isfinite(rows) | (rows < 0)] = np.nan
    bscans = _as_bscans(np.ascontiguousarray(images.transpose(2, 0, 1)), str(path), "'images'")
    return OctData(bscans, rows.astype(np.float32), None, None, source=str(path))


def read_eyepy(path: str | Path) -> OctData:
    """Read a Heidelberg ``.vol``/``.e2e``/``.xml`` export through eyepy (optional)."""
    path = Path(path)
    try:
        import eyepy
    except ImportError:
        raise ConfigError(
            f"{path}: reading {path.suffix} files needs the optional 'eyepy' package "
            "(pip install eyepy)"
        ) from None
    if not path.exists():
        raise InputError(path, "file not found")
    try:
        volume: Any = getattr(eyepy, EYEPY_READERS[path.suffix.lower()])(path)
        bscans = np.asarray(volume.data)
        layers = {name: np.asarray(layer.data, np.float64) for name, layer in volume.layers.items()}
        unit = str(getattr(volume, "scale_unit", "mm")).lower()
        factor = {"mm": 1000.0, "µm": 1.0, "um": 1.0}.get(unit)
        axial = float(volume.scale_y) * factor if factor else None
        lateral = float(volume.scale_x) * factor if factor else None
    except Exception as error:  # eyepy raises construct errors and many others on bad files
        raise InputError(path, f"eyepy cannot read this file ({error})") from None
    rows = None
    if "ILM" in layers and "BM" in layers:
        rows = np.stack([layers["ILM"], layers["BM"]], axis=1)
        rows[~np.isfinite(rows) | (rows < 0)] = np.nan
        rows = rows.astype(np.float32)
    scales = [s if s is not None and np.isfinite(s) and s > 0 else None for s in (axial, lateral)]
    return OctData(
        _as_bscans(bscans, str(path), "B-scans"), rows, scales[0], scales[1], source=str(path)
    )


def read_images(paths: list[Path], source: str) -> OctData:
    """B-scans from image files of one size; colour images are averaged to grey."""
    files = collect_image_files(paths)
    scans = []
    for file in files:
        image = read_raw_image(file)
        if image.ndim == 3:
            image = image[..., :3].astype(np.float32).mean(axis=2)
            image = image if file.suffix.lower() in (".tif", ".tiff", ".npy") else np.rint(image)
        scans.append(_as_bscans(np.asarray(image), str(file), "pixels"))
        if scans[-1].shape != scans[0].shape:
            raise InputError(
                file,
                f"is {scans[-1].shape[::-1]} (W x H); {files[0].name} is {scans[0].shape[::-1]}",
            )
    kinds = {scan.dtype for scan in scans}
    if len(kinds) > 1:
        scans = [s.astype(np.float32) / 255 if s.dtype == np.uint8 else s for s in scans]
    return OctData(np.stack(scans), names=[file.name for file in files], source=source)


def read_any(path: str | Path, **options: Any) -> OctData:
    """Read any supported input by its suffix (a folder: its image files).

    ``options`` go to :func:`read_duke_mat` (``layers``, ``index_base``).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        return read_images([path], str(path))
    if not path.exists():
        raise InputError(path, "file not found")
    if suffix in HDF5_SUFFIXES:
        return read_oct(path)
    if suffix == ".mat":
        return read_duke_mat(path, **options)
    if suffix in EYEPY_READERS:
        return read_eyepy(path)
    if suffix in IMAGE_SUFFIXES:
        return read_images([path], str(path))
    supported = ", ".join((*HDF5_SUFFIXES, ".mat", *EYEPY_READERS, *IMAGE_SUFFIXES))
    raise InputError(path, f"unknown OCT input format '{path.suffix}'; supported: {supported}")


def annotated_only(data: OctData) -> OctData:
    """Keep the B-scans with at least one annotated column (Duke DME annotates 11 of 61)."""
    if data.boundaries is None:
        raise InputError(data.source, "has no boundaries, so no annotated B-scans")
    keep = np.isfinite(data.boundaries).all(axis=1).any(axis=1)
    if not keep.any():
        raise InputError(data.source, "no B-scan has an annotated column")
    names = (
        [name for name, kept in zip(data.names, keep, strict=True) if kept] if data.names else []
    )
    return OctData(
        data.bscans[keep],
        data.boundaries[keep],
        data.scale_axial_um,
        data.scale_lateral_um,
        names,
        data.source,
    )
