"""Where and how :meth:`Pipeline.run_files` writes the results for one input file.

Files are named ``<input stem>_<step>.<ext>``, or ``<input stem>_<step>_<output>.<ext>`` for a
step with several outputs. Formats keep each input's family and never lose range it had:

* images: an 8-bit PNG/JPEG/BMP input gives an 8-bit PNG (JPEG is not re-encoded lossily), a
  16-bit one a 16-bit PNG; an integer TIFF gives a TIFF of the same depth (8 or 16 bits); a
  float TIFF gives a float32 TIFF and a ``.npy`` a float32 ``.npy`` (values kept unclipped);
* masks: 8-bit PNG (0 and 255);
* kernels: float32 TIFF (``.npy`` for ``.npy`` inputs), since their values are small;
* tables and scalars: JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pixelwise.io.atomic import write_text_atomic
from pixelwise.io.images import TIFF_SUFFIXES, write_image
from pixelwise.nodes import Kind
from pixelwise.pipeline.graph import Graph, Port


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


def image_format_for(input_suffix: str, dtype: np.dtype) -> ImageFormat:
    """The format for image outputs of an input file with ``input_suffix`` and pixel ``dtype``."""
    input_suffix = input_suffix.lower()
    if input_suffix == ".npy":
        return ImageFormat(".npy", 32)
    if np.issubdtype(dtype, np.floating):
        return ImageFormat(".tif", 32)
    depth = 8 if np.dtype(dtype).itemsize == 1 else 16
    return ImageFormat(".tif" if input_suffix in TIFF_SUFFIXES else ".png", depth)


def plan_outputs(graph: Graph) -> list[PlannedOutput]:
    """The results ``graph`` selects for writing, with their kinds and file-name labels."""
    nodes = {step.name: step.node for step in graph.steps}
    plan = []
    for port in graph.outputs:
        outputs = nodes[port.step].outputs
        label = port.step if len(outputs) == 1 else f"{port.step}_{port.output}"
        plan.append(PlannedOutput(port, outputs[port.output], label))
    return plan


def _write_one(base: Path, kind: Kind, value: Any, image_format: ImageFormat) -> Path:
    if kind in (Kind.TABLE, Kind.SCALAR):
        target = Path(f"{base}.json")
        write_text_atomic(target, json.dumps(value, indent=2) + "\n")
        return target
    if kind is Kind.MASK:
        image_format = ImageFormat(".png", 8)
    elif kind is Kind.KERNEL:
        image_format = ImageFormat(".npy" if image_format.suffix == ".npy" else ".tif", 32)
    return write_image(f"{base}{image_format.suffix}", value, bit_depth=image_format.bit_depth)


def write_outputs(
    plan: list[PlannedOutput],
    results: dict[str, Any],
    out_dir: Path,
    stem: str,
    image_format: ImageFormat,
) -> dict[str, str]:
    """Write the planned ``results`` for one input; return ``'step.output'`` -> file name.

    Each file is written atomically; if any write fails, the files already written for this
    input are removed, so an input has either all its outputs or none.
    """
    written: dict[str, str] = {}
    try:
        for item in plan:
            path = _write_one(
                out_dir / f"{stem}_{item.label}", item.kind, results[str(item.port)], image_format
            )
            written[str(item.port)] = path.name
    except BaseException:
        for name in written.values():
            (out_dir / name).unlink(missing_ok=True)
        raise
    return written
