"""Atomic writes: all or nothing, with ordinary file modes, one-line errors, signal-safe."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from pixelwise.errors import InputError, OutputError
from pixelwise.io.atomic import LOCK_NAME, atomic_path, locked_folder, write_text_atomic
from pixelwise.signals import Interrupted, terminate_as_interrupt


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


# --- OS errors, signals and folder locks ---------------------------------------------------


def _hidden(folder: Path) -> list[str]:
    return [path.name for path in folder.iterdir() if path.name.startswith(".")]


def _write_half(target: Path, then: Callable[[Path], BaseException | None]) -> None:
    """Write half a file through ``atomic_path``, then call ``then`` and raise what it returns."""
    with atomic_path(target) as tmp:
        tmp.write_text("half-written")
        error = then(tmp)
        if error is not None:
            raise error


@pytest.mark.parametrize(
    ("make_error", "expected"),
    [
        (
            lambda target, tmp: OSError(errno.ENOSPC, "[Errno 28] 120000 requested"),
            "{target}: cannot write: No space left on device",
        ),
        (
            lambda target, tmp: OSError("120000 requested and 14304 written"),
            "{target}: cannot write: 120000 requested and 14304 written",
        ),
        (
            lambda target, tmp: PermissionError(errno.EACCES, "denied", str(tmp)),
            "{target}: cannot write: Permission denied",
        ),
        (
            lambda target, tmp: PermissionError(errno.EACCES, "denied", "/data/header.sgy"),
            "/data/header.sgy: Permission denied (while writing {target})",
        ),
        (
            lambda target, tmp: InputError(tmp, "PNG cannot store 2-channel images"),
            "{target}: PNG cannot store 2-channel images",
        ),
    ],
    ids=["errno", "no-errno", "names-the-temporary", "names-another-file", "nested-writer"],
)
def test_write_failures_become_one_line_naming_the_file(tmp_path: Path, make_error, expected):
    target = tmp_path / "result.png"
    target.write_text("previous")
    with pytest.raises(InputError) as caught:
        _write_half(target, lambda tmp: make_error(target, tmp))
    assert str(caught.value) == expected.format(target=target)
    assert isinstance(caught.value, OutputError) == (not expected.endswith("images"))
    assert target.read_text() == "previous"
    assert _hidden(tmp_path) == []


def test_a_folder_in_the_way_of_the_target_is_reported(tmp_path: Path):
    (tmp_path / "out.json").mkdir()
    with pytest.raises(OutputError, match=r"out\.json: cannot write: Is a directory$"):
        write_text_atomic(tmp_path / "out.json", "{}")
    assert list(tmp_path.iterdir()) == [tmp_path / "out.json"]


def test_sigterm_during_a_write_removes_the_temporary_and_restores_the_handler(tmp_path: Path):
    target = tmp_path / "result.tif"
    target.write_text("previous")
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as caught:
        _write_half(target, lambda tmp: os.kill(os.getpid(), signal.SIGTERM))
    assert caught.value.signal_name == "SIGTERM"
    assert target.read_text() == "previous"
    assert _hidden(tmp_path) == []
    assert signal.getsignal(signal.SIGTERM) is before


_WRITER = """
import sys, time
from pathlib import Path
from pixelwise.io.atomic import atomic_path
from pixelwise.signals import Interrupted
try:
    with atomic_path(Path(sys.argv[1])) as tmp:
        tmp.write_text("half-written")
        print("writing", flush=True)
        time.sleep(60)
except Interrupted as interrupt:
    sys.exit(128 + interrupt.signum)
"""


def test_sigterm_from_another_process_leaves_no_temporary(tmp_path: Path):
    target = tmp_path / "section.sgy"
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "writing\n"
    assert len(_hidden(tmp_path)) == 1
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []


def _custom_handler(signum: int, frame: object) -> None:
    """A handler some other code installed."""


@pytest.mark.parametrize("previous", [signal.SIG_DFL, signal.SIG_IGN, _custom_handler])
def test_terminate_as_interrupt_restores_handlers_and_keeps_ignored_signals(previous):
    original = signal.signal(signal.SIGTERM, previous)
    try:
        with terminate_as_interrupt():
            inside = signal.getsignal(signal.SIGTERM)
            with terminate_as_interrupt():
                pass
            assert signal.getsignal(signal.SIGTERM) is inside  # nested blocks restore theirs
        assert (inside is signal.SIG_IGN) == (previous is signal.SIG_IGN)
        assert signal.getsignal(signal.SIGTERM) is previous
    finally:
        signal.signal(signal.SIGTERM, original)


def test_terminate_as_interrupt_does_nothing_outside_the_main_thread():
    seen = []
    thread = threading.Thread(target=lambda: seen.append(_enter_and_report()))
    thread.start()
    thread.join()
    assert seen == [signal.getsignal(signal.SIGTERM)]


def _enter_and_report() -> object:
    with terminate_as_interrupt():
        return signal.getsignal(signal.SIGTERM)


def test_a_locked_folder_refuses_a_second_holder_and_is_released_after(tmp_path: Path):
    with locked_folder(tmp_path / "out") as folder:
        assert (folder / LOCK_NAME).read_text() == f"{os.getpid()}\n"
        busy = rf"{folder}: another pixelwise run \(pid {os.getpid()}\) is writing to this folder"
        with pytest.raises(OutputError, match=busy), locked_folder(folder):
            pass
        (folder / "result.png").write_text("x")
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["result.png"]
    with locked_folder(tmp_path / "out"):  # free again
        pass


def test_a_folder_created_for_nothing_is_removed(tmp_path: Path):
    with pytest.raises(RuntimeError), locked_folder(tmp_path / "a" / "out"):
        raise RuntimeError("refused before writing")
    assert list((tmp_path / "a").iterdir()) == []
