"""Where a patch is (a :class:`PatchSpec`) kept apart from reading it (:func:`read_field`).

A dataset is a list of *items* made of aligned *fields*: a noisy and a clean micrograph, a
B-scan with its label map and boundary rows, a photo with its depth. Each field's source is
described by a :class:`Layout`, a string of axis letters:

* ``n`` — a stack axis: items are its entries (a window takes one and drops the axis);
* ``c`` — channels, read whole and moved first;
* ``b`` — boundaries of a ``rows`` field, read whole;
* ``d``, ``h``, ``w`` — spatial axes (depth, height, width), cut by the patch window.

One spec (source index, stack index, spatial window) applies to every field of an item, so
patches of a noisy/clean pair or an image and its labels stay aligned by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from pixelwise.errors import ConfigError, InputError
from pixelwise.io.sources import ArraySource

_LETTERS = "ncbdhw"
SPATIAL_LETTERS = "dhw"


class FieldKind(str, Enum):
    """What a field holds, which decides how it is read, augmented and normalised."""

    IMAGE = "image"  #: intensities, float32 (C, *S); the only kind that is normalised
    FIELD = "field"  #: a float field (depth, disparity, flow), float32 (C, *S), never rescaled
    LABELS = "labels"  #: a class map, int64 (*S)
    MASK = "mask"  #: a boolean map, bool (*S)
    ROWS = "rows"  #: per-column boundary rows (B, W) in pixels along ``h``; NaN = unannotated


@dataclass(frozen=True)
class Layout:
    """The axis letters of a source, e.g. ``"hw"``, ``"nhw"``, ``"hwc"``, ``"nbw"``.

    Examples
    --------
    >>> Layout("nhwc").spatial
    'hw'
    """

    letters: str

    def __post_init__(self) -> None:
        letters = self.letters
        if not letters or any(letter not in _LETTERS for letter in letters):
            raise ConfigError(f"layout '{letters}' may use only the letters {_LETTERS}")
        if len(set(letters)) != len(letters):
            raise ConfigError(f"layout '{letters}' repeats an axis letter")
        if not any(letter in SPATIAL_LETTERS for letter in letters):
            raise ConfigError(f"layout '{letters}' has no spatial axis (d, h or w)")

    @property
    def spatial(self) -> str:
        """The spatial letters, in storage order."""
        return "".join(letter for letter in self.letters if letter in SPATIAL_LETTERS)

    @property
    def stacked(self) -> bool:
        return "n" in self.letters

    def extent(self, shape: tuple[int, ...], source: str) -> tuple[int, dict[str, int]]:
        """``(stack length, {spatial letter: size})`` of a source of this layout."""
        if len(shape) != len(self.letters):
            raise InputError(
                source,
                f"expected {len(self.letters)} axes ({self.letters}), got shape {shape}",
            )
        sizes = dict(zip(self.letters, shape, strict=True))
        return sizes.get("n", 1), {letter: sizes[letter] for letter in self.spatial}


@dataclass(frozen=True)
class PatchSpec:
    """Where one patch is: a source, an entry of its stack, and a spatial window.

    ``start`` and ``size`` are keyed by spatial letter, so the same spec fits a ``rows``
    field (which has only ``w``) and the image it annotates (``h`` and ``w``).
    """

    source: int
    index: int
    start: dict[str, int]
    size: dict[str, int]

    def slices(self) -> dict[str, slice]:
        return {key: slice(self.start[key], self.start[key] + self.size[key]) for key in self.start}


def _window(layout: Layout, shape: tuple[int, ...], spec: PatchSpec) -> tuple[slice, ...]:
    spatial = spec.slices()
    window = []
    for letter, size in zip(layout.letters, shape, strict=True):
        if letter == "n":
            window.append(slice(spec.index, spec.index + 1))
        elif letter in spatial:
            window.append(spatial[letter])
        else:  # channels, boundaries, or a spatial axis the spec does not cut
            window.append(slice(0, size))
    return tuple(window)


def read_field(source: ArraySource, layout: Layout, kind: FieldKind, spec: PatchSpec) -> np.ndarray:
    """Read the part of one field that ``spec`` selects, in the canonical form of ``kind``.

    Returns float32 ``(C, *S)`` for images and fields (C = 1 without a ``c`` axis), int64
    ``(*S)`` for labels, bool ``(*S)`` for masks, and float32 ``(B, W)`` for rows, whose
    values are shifted so that they count from the window's top row.

    Examples
    --------
    >>> from pixelwise.io.sources import InMemorySource
    >>> source = InMemorySource(np.arange(16.0).reshape(4, 4))
    >>> spec = PatchSpec(0, 0, {"h": 1, "w": 2}, {"h": 2, "w": 2})
    >>> read_field(source, Layout("hw"), FieldKind.IMAGE, spec).tolist()
    [[[6.0, 7.0], [10.0, 11.0]]]
    """
    values = source.read(_window(layout, source.shape, spec))
    letters = layout.letters
    if "n" in letters:
        values = values.squeeze(letters.index("n"))
        letters = letters.replace("n", "")
    if kind is FieldKind.ROWS:
        if letters not in ("bw", "w"):
            raise ConfigError(f"a rows field needs layout 'bw' or 'nbw', got '{layout.letters}'")
        rows = np.asarray(values, dtype=np.float32).reshape(-1, values.shape[-1])
        return rows - np.float32(spec.start.get("h", 0))
    if "c" in letters:
        values = np.moveaxis(values, letters.index("c"), 0)
    if kind in (FieldKind.IMAGE, FieldKind.FIELD):
        values = values if "c" in letters else values[None]
        return np.ascontiguousarray(values, dtype=np.float32)
    if "c" in letters:
        raise ConfigError(f"a {kind.value} field has no channel axis, got '{layout.letters}'")
    if kind is FieldKind.MASK:
        return np.ascontiguousarray(values != 0)
    if np.issubdtype(values.dtype, np.floating) and not np.array_equal(values, np.round(values)):
        raise InputError(source.source, "a label map holds non-integer values")
    return np.ascontiguousarray(values, dtype=np.int64)
