"""One-line messages of the command line on stderr: ``error:``, ``failed:`` and ``note:``."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

_STYLES = {"error": "bold red", "failed": "red", "note": "yellow"}


def print_line(label: str, message: str) -> None:
    """Print ``label: message`` on stderr as one line (never wrapped; ``[`` is literal)."""
    console = Console(stderr=True, highlight=False)
    console.print(f"[{_STYLES[label]}]{label}:[/] {escape(message)}", soft_wrap=True)
