"""Where and how :meth:`Pipeline.run_files` writes the results for one input file.

Files are named ``<input stem>_<step>.<ext>``, or ``<input stem>_<step>_<output>.<ext>`` for a
step with several outputs. Formats keep each input's family and never lose range it had:

* images: an 8-bit PNG/JPEG/BMP input gives an 8-bit PNG (JPEG is not re-encoded lossily), a
  16-bit one a 16-bit PNG; an integer TIFF gives a TIFF of the same depth (8 or 16 bits); a
  float TIFF gives a float32 TIFF and a ``.npy`` a float32 ``.npy`` (values kept unclipped);
* masks: 8-bit PNG (0 and 255);
* kernels: float32 TIFF (``.npy`` for ``.npy`` inputs), since their values are small;
* label maps: the label values themselves, unscaled, in an 8-bit PNG if they fit 0..255, a
  16-bit PNG if they fit 0..65535, else (and for ``.npy`` inputs) an int32/int64 ``.npy``;
* fields: float32, unscaled, any channel count, NaN kept: TIFF (``.npy`` for ``.npy`` inputs);
* tables and scalars: JSON.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from pixelwise.errors import OutputError
from pixelwise.io.atomic import atomic_path
from pixelwise.io.images import TIFF_SUFFIXES, write_image
from pixelwise.nodes import Kind
from pixelwise.pipeline.graph import Graph, Port
from pixelwise.pipeline.manifest import MANIFEST_NAME


@dataclass(frozen=True)
class ImageFormat:
    """File suffix and bit depth (32 = float32) for written images."""

    suffix: str
    bit_depth: int


@dataclass(frozen=True)
class PlannedOutput:
    """One selected result: its port, kind, and the file-name part after the input stem."""

    port: Port
    kind: Kind
    label: str


def output_suffix(input_suffix: str) -> str:
    """The suffix of image outputs for an input file with ``input_suffix``."""
    input_suffix = input_suffix.lower()
    if input_suffix == ".npy":
        return ".npy"
    return ".tif" if input_suffix in TIFF_SUFFIXES else ".png"


def image_format_for(input_suffix: str, dtype: np.dtype) -> ImageFormat:
    """The format for image outputs of an input file with ``input_suffix`` and pixel ``dtype``."""
    suffix = output_suffix(input_suffix)
    if suffix == ".npy" or np.issubdtype(dtype, np.floating):
        return ImageFormat(suffix, 32)
    return ImageFormat(suffix, 8 if np.dtype(dtype).itemsize == 1 else 16)


def plan_outputs(graph: Graph) -> list[PlannedOutput]:
    """The results ``graph`` selects for writing, with their kinds and file-name labels."""
    nodes = {step.name: step.node for step in graph.steps}
    plan = []
    for port in graph.outputs:
        outputs = nodes[port.step].outputs
        label = port.step if len(outputs) == 1 else f"{port.step}_{port.output}"
        plan.append(PlannedOutput(port, outputs[port.output], label))
    return plan


def _suffixes(kind: Kind, image_suffix: str) -> tuple[str, ...]:
    """Suffixes an output of ``kind`` can get, preferred first, when images get ``image_suffix``."""
    arrays = ".npy" if image_suffix == ".npy" else ".tif"
    if kind in (Kind.TABLE, Kind.SCALAR):
        return (".json",)
    if kind is Kind.MASK:
        return (".png",)
    if kind in (Kind.KERNEL, Kind.FIELD):
        return (arrays,)
    if kind is Kind.LABELS:
        return (".npy",) if image_suffix == ".npy" else (".png", ".npy")
    return (image_suffix,)


def _labels_fit_png(labels: np.ndarray) -> bool:
    return int(labels.min()) >= 0 and int(labels.max()) <= np.iinfo(np.uint16).max


def _file_name(stem: str, item: PlannedOutput, suffix: str) -> str:
    return f"{stem}_{item.label}{suffix}"


def possible_names(plan: list[PlannedOutput], stem: str, input_suffix: str) -> list[str]:
    """Every file name the outputs of an input with ``stem`` and ``input_suffix`` may get."""
    image_suffix = output_suffix(input_suffix)
    return [
        _file_name(stem, item, suffix)
        for item in plan
        for suffix in _suffixes(item.kind, image_suffix)
    ]


def check_targets(
    plan: list[PlannedOutput], files: list[Path], out_dir: Path, pixelwise_files: set[str]
) -> None:
    """Refuse, before anything is written, outputs that would replace a file to be kept.

    ``pixelwise_files`` are the names that the folder's manifest lists as pixelwise outputs:
    only those may be overwritten. Raises :class:`~pixelwise.errors.OutputError` for the first
    output name that is one of the input ``files``, is planned for two inputs, is a folder,
    or is an existing file that pixelwise did not write.
    """
    inputs = {path.resolve() for path in files}
    owners: dict[str, Path] = {}
    for path in files:
        for name in possible_names(plan, path.stem, path.suffix):
            target = out_dir / name
            if name in owners:
                problem = f"would be written for both {owners[name]} and {path}; rename one"
            elif target.resolve() in inputs:
                problem = (
                    f"is an input and would be overwritten by an output of {path}; "
                    "write to another folder"
                )
            elif target.is_dir():
                problem = "an output of this name exists as a folder; move it away"
            elif target.exists() and name not in pixelwise_files:
                problem = (
                    f"exists and is not listed as a pixelwise output in {MANIFEST_NAME}; "
                    "move it away or write to another folder"
                )
            else:
                owners[name] = path
                continue
            raise OutputError(target, problem)


def _write_array(target: Path, array: np.ndarray) -> Path:
    """Write ``array`` as it is (no scaling, any channel count) to a ``.npy`` or TIFF file."""
    with atomic_path(target) as tmp:
        if target.suffix == ".npy":
            with tmp.open("wb") as handle:
                np.save(handle, array)
        else:
            # One page with C samples per pixel, not a stack of H pages.
            planar = "contig" if array.ndim == 3 and array.shape[2] > 1 else None
            tifffile.imwrite(tmp, array, photometric="minisblack", planarconfig=planar)
    return target


def _write_labels(target: Path, labels: np.ndarray) -> None:
    if target.suffix == ".npy":
        _write_array(target, labels)
        return
    dtype = np.uint8 if int(labels.max()) <= np.iinfo(np.uint8).max else np.uint16
    # write_image scales integer arrays by their dtype's maximum and back: values are kept.
    write_image(target, labels.astype(dtype), bit_depth=8 * np.dtype(dtype).itemsize)


def _write_one(target: Path, kind: Kind, value: Any, image_format: ImageFormat) -> None:
    if kind is Kind.LABELS:
        _write_labels(target, value)
    elif kind is Kind.FIELD:
        _write_array(target, value)
    elif kind in (Kind.TABLE, Kind.SCALAR):
        target.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
    else:
        depth = {Kind.MASK: 8, Kind.KERNEL: 32}.get(kind, image_format.bit_depth)
        write_image(target, value, bit_depth=depth)


def write_outputs(
    plan: list[PlannedOutput],
    results: dict[str, Any],
    out_dir: Path,
    stem: str,
    image_format: ImageFormat,
) -> dict[str, str]:
    """Write the planned ``results`` for one input; return ``'step.output'`` -> file name.

    All or nothing: every file is written to a temporary beside its target, and the
    temporaries replace their targets only once all are written, so a failure (or an
    interrupt) leaves every existing file, such as an earlier run's output, as it was.
    """
    written: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        for item in plan:
            value = results[str(item.port)]
            suffixes = _suffixes(item.kind, image_format.suffix)
            fits = item.kind is not Kind.LABELS or _labels_fit_png(value)
            name = _file_name(stem, item, suffixes[0] if fits else suffixes[-1])
            tmp = stack.enter_context(atomic_path(out_dir / name))
            _write_one(tmp, item.kind, value, image_format)
            written[str(item.port)] = name
    return written
