"""Progress reporting for training and evaluation loops.

The engine talks to a :class:`ProgressReporter`; the default draws rich progress bars, and tests
substitute a recorder to count updates. Train and eval bars advance through the same calls, so
they cannot drift apart.
"""

from __future__ import annotations

from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class ProgressReporter(Protocol):
    """Receives the engine's progress events."""

    def start(self, phase: str, total: int | None, description: str) -> None:
        """A phase ("train" or "eval") begins with ``total`` batches."""

    def advance(self, phase: str, metrics: dict[str, float] | None = None) -> None:
        """One batch of ``phase`` finished; ``metrics`` are shown beside the bar."""

    def finish(self, phase: str) -> None:
        """The phase ended."""


class RichProgress:
    """Progress bars drawn with rich on stderr; one bar per phase, removed when it ends.

    Bars are drawn only on a terminal: in a log file or a pipe (``console`` not a terminal)
    a transient bar could not be erased and would leave one blank line per phase, so nothing
    is written there.
    """

    def __init__(self, enabled: bool = True, console: Console | None = None) -> None:
        console = console or Console(stderr=True)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[metrics]}"),
            console=console,
            transient=True,
            disable=not enabled or not console.is_terminal,
        )
        self._tasks: dict[str, TaskID] = {}

    def start(self, phase: str, total: int | None, description: str) -> None:
        if not self._tasks:
            self._progress.start()
        self._tasks[phase] = self._progress.add_task(description, total=total, metrics="")

    def advance(self, phase: str, metrics: dict[str, float] | None = None) -> None:
        text = "  ".join(f"{key}={value:.4g}" for key, value in (metrics or {}).items())
        self._progress.update(self._tasks[phase], advance=1, metrics=text)

    def finish(self, phase: str) -> None:
        self._progress.remove_task(self._tasks.pop(phase))
        if not self._tasks:
            self._progress.stop()


class SilentProgress:
    """Reports nothing (library use, CI logs)."""

    def start(self, phase: str, total: int | None, description: str) -> None:
        """Ignore the event."""

    def advance(self, phase: str, metrics: dict[str, float] | None = None) -> None:
        """Ignore the event."""

    def finish(self, phase: str) -> None:
        """Ignore the event."""
