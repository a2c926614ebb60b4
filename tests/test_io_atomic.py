"""Atomic writes: all or nothing, with ordinary file modes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pixelwise.io.atomic import atomic_path, write_text_atomic


def test_outputs_get_the_usual_file_mode(tmp_path: Path):
    target = tmp_path / "out.txt"
    write_text_atomic(target, "x")
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_a_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path):
    target = tmp_path / "result.png"
    target.write_text("previous")

    def crash_midway() -> None:
        with atomic_path(target) as tmp:
            assert tmp.suffix == ".png", "libraries pick formats by suffix"
            tmp.write_text("half-written")
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        crash_midway()
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["result.png"]
