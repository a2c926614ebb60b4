"""Turn SIGTERM (and SIGINT) into an exception, so that long work unwinds and cleans up.

SIGTERM's default action kills the process without running ``finally`` blocks or ``except``
handlers, which would leave temporary files and unfinished records behind. Inside
:func:`terminate_as_interrupt` both signals raise :class:`Interrupted` (a
``KeyboardInterrupt``) in the main thread instead::

    with terminate_as_interrupt():
        long_running_work()          # SIGTERM now unwinds like Ctrl-C
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

Handler = Callable[[int, FrameType | None], Any] | int

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived while :func:`terminate_as_interrupt` was active.

    Parameters
    ----------
    signum : int
        The signal number; ``signal_name`` holds its name (``"SIGTERM"``).
    message : str, optional
        What was interrupted; by default ``"interrupted by <signal name>"``.
    """

    def __init__(self, signum: int, message: str = "") -> None:
        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        super().__init__(message or f"interrupted by {self.signal_name}")


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Raise :class:`Interrupted` on SIGINT or SIGTERM for the block; restore handlers after.

    Only the main thread can receive signals in Python, so elsewhere this does nothing. A
    signal that is ignored when the block starts (``nohup``, background jobs) stays ignored.
    Blocks nest: each restores the handlers it found.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[signal.Signals, Handler] = {}
    for signum in HANDLED_SIGNALS:
        handler = signal.getsignal(signum)
        if handler is not signal.SIG_IGN:
            # None: installed outside Python; the default action is the closest restorable one
            previous[signum] = signal.SIG_DFL if handler is None else handler
            signal.signal(signum, _raise_interrupted)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
