"""Exceptions that reach the user.

Every error a user can cause (bad file, bad config, bad checkpoint, bad data) is raised as a
:class:`PixelwiseError` subclass whose message is one line naming the offending file or field
and the problem. The CLI prints these messages without a traceback; anything else is a bug.
"""

from __future__ import annotations

from pathlib import Path


class PixelwiseError(Exception):
    """Base class of every error caused by user input."""


class InputError(PixelwiseError):
    """A data file or array is missing, unreadable, truncated or holds invalid values."""

    def __init__(self, source: str | Path, problem: str) -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")


class OutputError(InputError):
    """An output file or folder cannot be written, or must not be overwritten.

    Raised for read-only or full disks, a folder locked by another run, and outputs that would
    replace an input or a file that pixelwise did not write.
    """


class ConfigError(PixelwiseError):
    """A configuration file or parameter set failed validation."""


class CheckpointError(PixelwiseError):
    """A checkpoint is corrupt, incomplete, or belongs to another model."""


class TrainingError(PixelwiseError):
    """Training cannot continue (for example, the loss became NaN or infinite)."""
