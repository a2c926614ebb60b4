"""The ``pixelwise`` command line: one sub-command group per application, plus nodes and run."""

from pixelwise.cli.main import app, main

__all__ = ["app", "main"]
