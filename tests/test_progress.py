"""Progress bars: drawn on a terminal, silent (no blank lines) in logs and pipes."""

from __future__ import annotations

import io

from rich.console import Console

from pixelwise.engine import RichProgress


def _three_phases(console: Console) -> str:
    progress = RichProgress(console=console)
    for epoch in range(3):
        progress.start("train", 4, f"epoch {epoch + 1}")
        for _ in range(4):
            progress.advance("train", {"loss": 0.25})
        progress.finish("train")
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_progress_writes_nothing_when_the_stream_is_not_a_terminal():
    # A log file: transient bars cannot be erased there, and rich used to leave one blank
    # line per epoch; now not a single character (blank line or bar) is written.
    assert _three_phases(Console(file=io.StringIO(), force_terminal=False)) == ""


def test_progress_draws_bars_on_a_terminal():
    # rich refreshes on a timer, so which counts get drawn varies; every phase's bar is
    # drawn when it starts and erased when it ends.
    text = _three_phases(Console(file=io.StringIO(), force_terminal=True, width=100))
    assert all(f"epoch {epoch} " in text for epoch in (1, 2, 3)) and "0/4" in text
