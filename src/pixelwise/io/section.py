"""The 2-D checks for seismic sections: arrays of shape ``(n_samples, n_traces)``.

Time or depth runs down the rows and every column is one trace. The SEG-Y writers and
:mod:`pixelwise.io.arrays` apply these checks; readers of any dimension live in the format
modules behind :mod:`pixelwise.io.registry`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pixelwise.errors import InputError
from pixelwise.io.sources import validate_array


def require_2d(source: str | Path, shape: tuple[int, ...]) -> None:
    """Raise :class:`InputError` naming ``source`` unless ``shape`` is 2-D.

    >>> require_2d("line.npy", (100, 20))
    """
    if len(shape) != 2:
        raise InputError(
            source,
            f"expected a 2-D section (n_samples, n_traces), got {len(shape)}-D shape {shape}",
        )


def validate_section_array(source: str | Path, array: np.ndarray) -> None:
    """Check that ``array`` is a non-empty, finite, real-valued 2-D section.

    Works on memory maps without loading them: finiteness is checked block by block.
    Raises :class:`InputError` naming ``source`` on the first problem found.

    >>> validate_section_array("line.npy", np.zeros((4, 3), np.float32))
    """
    require_2d(source, array.shape)
    validate_array(source, array)
