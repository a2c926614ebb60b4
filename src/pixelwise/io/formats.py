"""The tables behind :mod:`pixelwise.io.registry`: which opener or writer serves which suffix.

Format modules register themselves here with :func:`register_reader` and
:func:`register_writer` when they are imported; :mod:`pixelwise.io.registry` imports every
built-in format module and does the dispatch. This module imports no format module, so any
of them can be imported first without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pixelwise.io.sources import ArraySource

#: ``open_fn(path, **options) -> ArraySource``.
Opener = Callable[..., ArraySource]
#: ``write_fn(path, array, **options) -> None``; must write atomically.
Writer = Callable[..., None]

OpenerT = TypeVar("OpenerT", bound=Opener)
WriterT = TypeVar("WriterT", bound=Writer)


@dataclass(frozen=True)
class ReaderFormat:
    """A registered reader: its name, lower-case suffixes, magic signatures and opener."""

    name: str
    suffixes: tuple[str, ...]
    magic: tuple[tuple[int, bytes], ...]
    opener: Opener


@dataclass(frozen=True)
class WriterFormat:
    """A registered writer: its name, lower-case suffixes and write function."""

    name: str
    suffixes: tuple[str, ...]
    writer: Writer


#: Readers and writers by suffix; a later registration of a suffix replaces the earlier one.
READERS: dict[str, ReaderFormat] = {}
WRITERS: dict[str, WriterFormat] = {}


def _suffixes(suffixes: Sequence[str]) -> tuple[str, ...]:
    if isinstance(suffixes, str):
        suffixes = (suffixes,)
    bad = [suffix for suffix in suffixes if not suffix.startswith(".") or len(suffix) < 2]
    if not suffixes or bad:
        raise ValueError(f"suffixes must be like '.npy' or '.mrc.gz', got {list(suffixes)}")
    return tuple(suffix.lower() for suffix in suffixes)


def register_reader(
    name: str, suffixes: Sequence[str], magic: Sequence[bytes | tuple[int, bytes]] | None = None
) -> Callable[[OpenerT], OpenerT]:
    """Register ``open_fn(path: Path, **options) -> ArraySource`` for files ending in ``suffixes``.

    Parameters
    ----------
    name : str
        Format name used in messages and help texts, e.g. ``"MRC"``.
    suffixes : sequence of str
        Case-insensitive file endings, double ones included (``".mrc.gz"``).
    magic : sequence of bytes or (offset, bytes), optional
        Signatures identifying the format when the suffix is unknown; plain bytes are
        matched at offset 0. Any one matching is enough.

    Examples
    --------
    >>> import numpy as np
    >>> from pixelwise.io.sources import InMemorySource
    >>> @register_reader("Demo", [".demo"])
    ... def open_demo(path):
    ...     return InMemorySource(np.zeros((2, 2)), source=str(path))
    >>> READERS[".demo"].name
    'Demo'
    >>> del READERS[".demo"]
    """
    signatures = tuple((0, sig) if isinstance(sig, bytes) else sig for sig in magic or ())

    def decorate(opener: OpenerT) -> OpenerT:
        entry = ReaderFormat(name, _suffixes(suffixes), signatures, opener)
        READERS.update(dict.fromkeys(entry.suffixes, entry))
        return opener

    return decorate


def register_writer(name: str, suffixes: Sequence[str]) -> Callable[[WriterT], WriterT]:
    """Register ``write_fn(path: Path, array: np.ndarray, **options)`` for ``suffixes``.

    The writer must validate before writing and write through
    :func:`~pixelwise.io.atomic.atomic_path`, so a failure leaves no partial file.

    Examples
    --------
    >>> @register_writer("Demo", [".demo"])
    ... def write_demo(path, array):
    ...     pass
    >>> WRITERS[".demo"].name
    'Demo'
    >>> del WRITERS[".demo"]
    """

    def decorate(writer: WriterT) -> WriterT:
        entry = WriterFormat(name, _suffixes(suffixes), writer)
        WRITERS.update(dict.fromkeys(entry.suffixes, entry))
        return writer

    return decorate


def match_suffix(path: Path, table: dict[str, Any]) -> str | None:
    """The longest registered suffix that ``path``'s name ends with (case-insensitive)."""
    name = path.name.lower()
    matches = [suffix for suffix in table if name.endswith(suffix)]
    return max(matches, key=len) if matches else None
