"""One-line messages of the command line on stderr: ``error:``, ``failed:`` and ``note:``.

Library warnings of a command are collected (:func:`library_notes`) and shown as one ``note:``
line above its result or its ``error:`` line (:func:`print_notes`).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

from rich.console import Console
from rich.markup import escape

_STYLES = {"error": "bold red", "failed": "red", "note": "yellow"}


def print_line(label: str, message: str) -> None:
    """Print ``label: message`` on stderr as one line (never wrapped; ``[`` is literal)."""
    console = Console(stderr=True, highlight=False)
    console.print(f"[{_STYLES[label]}]{label}:[/] {escape(message)}", soft_wrap=True)


class _Collector(logging.Handler):
    """Keeps the text of every WARNING-or-worse log record (tifffile, imageio, ...)."""

    def __init__(self, notes: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.notes = notes

    def emit(self, record: logging.LogRecord) -> None:
        _add_note(self.notes, f"{record.name}: {record.getMessage()}")


def _add_note(notes: list[str], text: str) -> None:
    note = " ".join(text.split())
    if note not in notes:
        notes.append(note)


@contextlib.contextmanager
def library_notes(notes: list[str]) -> Iterator[None]:
    """Collect the warnings of the block into ``notes`` instead of printing them.

    Python warnings (torch, scikit-image, segyio, ...) and WARNING log records become one-line
    texts ``"Category: message"``, each once; :func:`print_notes` shows them as one line.
    Warnings that a command turns into notes of its own never reach here.

    >>> import warnings
    >>> notes = []
    >>> with library_notes(notes):
    ...     warnings.warn("low contrast\\n image", UserWarning)
    >>> notes
    ['UserWarning: low contrast image']
    """
    collector = _Collector(notes)
    root = logging.getLogger()
    root.addHandler(collector)
    try:
        with warnings.catch_warnings(record=True) as caught:
            try:
                yield
            finally:
                for item in caught:
                    _add_note(notes, f"{item.category.__name__}: {item.message}")
    finally:
        root.removeHandler(collector)


def print_notes(notes: list[str]) -> None:
    """Print collected library warnings as one ``note:`` line (nothing when there are none)."""
    if notes:
        count = f"{len(notes)} library warning{'s' if len(notes) > 1 else ''}"
        print_line("note", f"{count}: " + "; ".join(notes))
