"""Test-wide settings."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
import torch

from pixelwise.cli.main import main

# The test networks are tiny: intra-op threads gain nothing, and on a CPU shared with other
# processes they spin against each other and run 5-10x slower. Results do not depend on it.
torch.set_num_threads(1)


class CliResult(NamedTuple):
    """What one in-process ``pixelwise`` command left: exit status and captured streams."""

    code: int
    out: str
    err: str

    def error_line(self) -> str:
        """The failure's only stderr line without its ``error:`` prefix (asserts the shape)."""
        assert self.err.count("\n") == 1, self.err
        assert self.err.startswith("error: "), self.err
        assert "Traceback" not in self.err, self.err
        return self.err.removeprefix("error: ").rstrip("\n")


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``pixelwise ARGV...`` in this process and return a :class:`CliResult`.

    Paths and numbers may be passed as they are; streams captured before the call are
    discarded so that the result holds this command's output only.
    """

    def run(*argv: object) -> CliResult:
        capsys.readouterr()
        try:
            main([str(arg) for arg in argv])
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def resident_file_mb() -> Callable[[], float]:
    """A reading of the memory-mapped file pages resident in this process (``RssFile``), MB.

    Skips the test where ``/proc`` does not exist (not Linux).
    """
    status = Path("/proc/self/status")
    if not status.exists():
        pytest.skip("reads /proc/self/status (Linux)")

    def read() -> float:
        found = re.search(r"^RssFile:\s+(\d+) kB", status.read_text(), re.M)
        assert found is not None, "no RssFile line in /proc/self/status"
        return int(found.group(1)) / 1024

    return read
