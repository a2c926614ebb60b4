"""Reliability of ``pixelwise run``: bad inputs, unusable output folders, faults and signals.

Every case checks the exit status, the one ``error: FILE: problem`` line, that no file the
user had was changed, and that no temporary (or lock) file is left behind.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import signal
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pytest
import tifffile

from pixelwise.errors import ConfigError
from pixelwise.io.atomic import locked_folder
from pixelwise.io.images import write_image
from pixelwise.nodes import Kind, Node, NodeParams, registry
from pixelwise.pipeline import Pipeline, PipelineConfigError

# --- test-only nodes ---------------------------------------------------------------------


class _Copy(Node[NodeParams]):
    name = "_test_rel_copy"
    category = "test"
    description = "Pass an image through."

    def process(self, image):
        return image


class _Stats(Node[NodeParams]):
    name = "_test_rel_stats"
    category = "test"
    description = "Mean of an image, as a table."
    outputs: ClassVar[dict[str, Kind]] = {"table": Kind.TABLE}

    def process(self, image):
        return {"mean": float(image.mean())}


class _Warn(Node[NodeParams]):
    name = "_test_rel_warn"
    category = "test"
    description = "Pass an image through, warning like a chatty library."

    def process(self, image):
        warnings.warn("a library\n   complains", UserWarning, stacklevel=1)
        return image


class _SignalParams(NodeParams):
    signal_name: Literal["SIGINT", "SIGTERM"] = "SIGTERM"


class _SignalIfBright(Node[_SignalParams]):
    name = "_test_rel_signal_if_bright"
    category = "test"
    description = "Send this process a signal when the image is bright (as a user would)."

    def process(self, image):
        if image.mean() > 0.5:
            os.kill(os.getpid(), signal.Signals[self.params.signal_name])
        return image


@pytest.fixture(autouse=True)
def _test_nodes(monkeypatch):
    for cls in (_Copy, _Stats, _Warn, _SignalIfBright):
        monkeypatch.setitem(registry._REGISTRY, cls.name, cls)
    monkeypatch.setenv("COLUMNS", "200")


# --- helpers ----------------------------------------------------------------------------

COPY = "name: rel\nsteps:\n  - {name: gaussian, node: _test_rel_copy}\n"
COPY_AND_STATS = (
    "name: rel\nsteps:\n  - {name: gaussian, node: _test_rel_copy}\n"
    "  - {name: stats, node: _test_rel_stats}\noutputs: [gaussian, stats]\n"
)


def _pipeline(root: Path, text: str = COPY) -> Path:
    path = root / "pipeline.yaml"
    path.write_text(text)
    return path


def _image(path: Path, level: float) -> Path:
    write_image(path, np.full((4, 6), level, dtype=np.float32))
    return path


def _files(root: Path) -> dict[str, str]:
    """Every file under ``root`` (hidden ones too): relative path -> SHA-256."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _leftovers(root: Path) -> list[str]:
    """Hidden files under ``root``: temporaries, probes, locks."""
    return [str(path) for path in root.rglob(".*")]


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


# --- runs refused before anything is written ---------------------------------------------

Arranged = tuple[list[Path], Path, Path, str]


def _out_is_a_file(root: Path, stack, monkeypatch) -> Arranged:
    (root / "out").write_text("my notes")
    return [_image(root / "in" / "p.png", 0.2)], root / "out", root / "out", "exists and is not"


def _output_would_overwrite_an_input(root: Path, stack, monkeypatch) -> Arranged:
    _image(root / "photos" / "p.png", 0.2)
    own = _image(root / "photos" / "p_gaussian.png", 0.7)  # the user's own file
    problem = f"is an input and would be overwritten by an output of {root / 'photos' / 'p.png'}"
    return [root / "photos"], root / "photos", own, problem


def _output_name_is_a_folder(root: Path, stack, monkeypatch) -> Arranged:
    (root / "out" / "p_gaussian.png").mkdir(parents=True)
    (root / "out" / "p_gaussian.png" / "keep.txt").write_text("mine")
    target = root / "out" / "p_gaussian.png"
    return [_image(root / "p.png", 0.2)], root / "out", target, "an output of this name exists"


def _output_name_is_the_users_file(root: Path, stack, monkeypatch) -> Arranged:
    (root / "out").mkdir()
    (root / "out" / "p_gaussian.png").write_bytes(b"the user's picture")
    target = root / "out" / "p_gaussian.png"
    return [_image(root / "p.png", 0.2)], root / "out", target, "exists and is not listed"


def _manifest_is_not_ours(root: Path, stack, monkeypatch) -> Arranged:
    (root / "out").mkdir()
    (root / "out" / "manifest.json").write_text("{oops")
    manifest = root / "out" / "manifest.json"
    return [_image(root / "p.png", 0.2)], root / "out", manifest, "is not a pixelwise manifest"


def _another_run_holds_the_folder(root: Path, stack, monkeypatch) -> Arranged:
    (root / "out").mkdir()
    stack.enter_context(locked_folder(root / "out"))
    problem = f"another pixelwise run (pid {os.getpid()}) is writing to this folder"
    return [_image(root / "p.png", 0.2)], root / "out", root / "out", problem


def _folder_is_read_only(root: Path, stack, monkeypatch) -> Arranged:
    """Simulated (tests may run as root, who may write anywhere); see also the chmod test."""
    (root / "out").mkdir()
    real_mkstemp = tempfile.mkstemp

    def refuse(*args, dir=None, **kwargs):
        if Path(dir) == root / "out":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    problem = "cannot write in this folder: Permission denied"
    return [_image(root / "p.png", 0.2)], root / "out", root / "out", problem


def _out_is_below_a_file(root: Path, stack, monkeypatch) -> Arranged:
    (root / "notes").write_text("a file, not a folder")
    out = root / "notes" / "out"
    return [_image(root / "p.png", 0.2)], out, out, "cannot create this folder: Not a directory"


@pytest.mark.parametrize(
    "arrange",
    [
        _out_is_a_file,
        _output_would_overwrite_an_input,
        _output_name_is_a_folder,
        _output_name_is_the_users_file,
        _manifest_is_not_ours,
        _another_run_holds_the_folder,
        _folder_is_read_only,
        _out_is_below_a_file,
    ],
)
def test_refused_runs_exit_2_with_one_line_and_write_nothing(
    tmp_path, cli, monkeypatch, arrange: Callable[..., Arranged]
):
    pipeline = _pipeline(tmp_path)
    with contextlib.ExitStack() as stack:
        inputs, out, named, problem = arrange(tmp_path, stack, monkeypatch)
        before = _files(tmp_path)
        result = cli("run", pipeline, *inputs, "-o", out, "--no-progress")
        assert result.code == 2
        assert result.out == ""
        assert result.error_line().startswith(f"{named}: {problem}")
        assert _files(tmp_path) == before
    assert _leftovers(tmp_path) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_a_really_read_only_folder_is_reported_before_any_work(tmp_path, cli):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        result = cli("run", _pipeline(tmp_path), _image(tmp_path / "p.png", 0.2), "-o", out)
    finally:
        out.chmod(0o755)
    assert result.code == 2
    assert result.error_line() == f"{out}: cannot write in this folder: Permission denied"
    assert list(out.iterdir()) == []


# --- faults while writing ----------------------------------------------------------------


def _failing(original: Callable, error: OSError, when: Callable[[Path], bool]) -> Callable:
    def write(self: Path, *args, **kwargs):
        if when(self):
            raise error
        return original(self, *args, **kwargs)

    return write


def _stats_files(path: Path) -> bool:
    return "_stats" in path.name


def _every_file(path: Path) -> bool:
    return True


ENOSPC = OSError(errno.ENOSPC, "[Errno 28] a long library message")


@pytest.mark.parametrize(
    ("method", "error", "when", "named", "reason"),
    [
        ("write_text", ENOSPC, _stats_files, "a_stats.json", "No space left on device"),
        (
            "write_text",
            OSError("120000 requested and 14304 written"),
            _stats_files,
            "a_stats.json",
            "120000 requested and 14304 written",
        ),
        (
            "write_text",
            PermissionError(errno.EACCES, "denied"),
            _stats_files,
            "a_stats.json",
            "Permission denied",
        ),
        ("write_bytes", ENOSPC, _every_file, "manifest.json", "No space left on device"),
    ],
    ids=["disk-full", "short-write", "permission", "disk-full-everywhere"],
)
def test_write_faults_exit_2_with_one_line_and_keep_every_earlier_file(
    tmp_path, cli, monkeypatch, method, error, when, named, reason
):
    pipeline = _pipeline(tmp_path, COPY_AND_STATS)
    inputs = tmp_path / "in"
    _image(inputs / "a.png", 0.2)
    _image(inputs / "b.png", 0.3)
    out = tmp_path / "out"
    assert cli("run", pipeline, inputs, "-o", out, "--no-progress")[0] == 0
    _image(inputs / "a.png", 0.25)  # the second run would rewrite a's outputs
    before = _files(tmp_path)
    monkeypatch.setattr(Path, method, _failing(getattr(Path, method), error, when))

    result = cli("run", pipeline, inputs, "-o", out, "--no-progress")

    monkeypatch.undo()
    assert result.code == 2
    message = result.error_line()
    assert message == f"{out / named}: cannot write: {reason}"
    after = _files(tmp_path)
    manifest_changed = named != "manifest.json"
    assert (after.pop("out/manifest.json") != before.pop("out/manifest.json")) == manifest_changed
    assert after == before  # a's outputs from the first run are intact
    assert _leftovers(tmp_path) == []
    runs = _manifest(out)["runs"]
    if manifest_changed:
        assert runs[1]["status"] == "failed"
        assert runs[1]["error"] == message
        assert [Path(item["path"]).name for item in runs[1]["failures"]] == ["a.png"]
        assert [Path(path).name for path in runs[1]["unprocessed"]] == ["b.png"]
    else:
        assert len(runs) == 1


# --- a folder with bad files --------------------------------------------------------------


def _mixed_folder(root: Path) -> Path:
    folder = root / "in"
    _image(folder / "a.png", 0.2)
    (folder / "b.png").write_bytes(bytes(range(256)) * 4)  # not an image at all
    tifffile.imwrite(folder / "c.tif", np.array([[0.1, np.nan], [0.2, 0.3]], dtype=np.float32))
    _image(folder / "d.png", 0.4)
    return folder


@pytest.mark.parametrize("keep_going", [False, True])
def test_bad_files_stop_the_run_or_are_recorded_with_keep_going(tmp_path, cli, keep_going):
    folder = _mixed_folder(tmp_path)
    out = tmp_path / "out"
    before = _files(folder)
    argv = ["run", _pipeline(tmp_path), folder, "-o", out, "--no-progress"]

    result = cli(*argv, *(["--keep-going"] if keep_going else []))
    code, _, err = result

    run = _manifest(out)["runs"][0]
    reasons = {Path(item["path"]).name: item["error"] for item in run["failures"]}
    for name, reason in reasons.items():
        assert reason.count(name) == 1, reason  # the file is named once, not twice
    assert reasons["b.png"].startswith(f"{folder / 'b.png'}: cannot read as PNG")
    if keep_going:
        assert code == 1
        assert reasons["c.tif"] == f"{folder / 'c.tif'}: image contains NaN or infinite values"
        assert run["status"] == "completed_with_failures"
        assert [Path(item["path"]).name for item in run["inputs"]] == ["a.png", "d.png"]
        assert run["unprocessed"] == []
        lines = err.splitlines()
        assert lines[:2] == [f"failed: {reasons['b.png']}", f"failed: {reasons['c.tif']}"]
        assert lines[2:] == [
            f"error: {out / 'manifest.json'}: 2 of 4 inputs failed (reasons there)"
        ]
    else:
        assert code == 2
        assert result.error_line() == reasons["b.png"]
        assert run["status"] == "failed"
        assert run["error"] == reasons["b.png"]
        assert [Path(item["path"]).name for item in run["inputs"]] == ["a.png"]
        assert [Path(path).name for path in run["unprocessed"]] == ["c.tif", "d.png"]
    assert _files(folder) == before
    assert _leftovers(tmp_path) == []


# --- signals ------------------------------------------------------------------------------


@pytest.fixture
def sigint_not_ignored():
    """Tests run as a background job inherit SIGINT ignored, which the run rightly keeps
    ignored; give this test the interactive default so that the signal arrives."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("sigint_not_ignored")
@pytest.mark.parametrize(("signal_name", "status"), [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_signal_mid_run_is_recorded_as_an_interruption(tmp_path, cli, signal_name, status):
    pipeline = _pipeline(
        tmp_path,
        "name: rel\nsteps:\n  - {name: gaussian, node: _test_rel_copy}\n"
        f"  - {{node: _test_rel_signal_if_bright, params: {{signal_name: {signal_name}}}}}\n"
        "outputs: [gaussian]\n",
    )
    folder = tmp_path / "in"
    for name, level in [("a", 0.2), ("b", 0.9), ("c", 0.2)]:
        _image(folder / f"{name}.png", level)
    out = tmp_path / "out"
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}

    result = cli("run", pipeline, folder, "-o", out, "--no-progress")

    assert result.code == status
    assert result.error_line() == (
        f"{out / 'manifest.json'}: run interrupted by {signal_name}; 2 of 3 inputs not "
        "processed (listed there)"
    )
    run = _manifest(out)["runs"][0]
    assert run["status"] == "interrupted"
    assert run["signal"] == signal_name
    assert run["error"] == f"interrupted by {signal_name} while processing {folder / 'b.png'}"
    assert [Path(item["path"]).name for item in run["inputs"]] == ["a.png"]
    assert [Path(path).name for path in run["unprocessed"]] == ["b.png", "c.png"]
    assert sorted(path.name for path in out.iterdir()) == ["a_gaussian.png", "manifest.json"]
    assert _leftovers(tmp_path) == []
    assert {number: signal.getsignal(number) for number in handlers} == handlers


# --- reruns into the same folder ---------------------------------------------------------


def test_a_rerun_into_the_input_folder_does_not_process_earlier_outputs(tmp_path, cli):
    folder = tmp_path / "photos"
    photo = _image(folder / "q.png", 0.3)
    pipeline = _pipeline(tmp_path)
    for _ in range(2):
        code, _, err = cli("run", pipeline, folder, "-o", folder, "--no-progress")
        assert code == 0, err
    assert sorted(path.name for path in folder.iterdir()) == [
        "manifest.json",
        "q.png",
        "q_gaussian.png",
    ]
    manifest = _manifest(folder)
    digest = hashlib.sha256(photo.read_bytes()).hexdigest()
    for run in manifest["runs"]:
        assert [(Path(item["path"]).name, item["sha256"]) for item in run["inputs"]] == [
            ("q.png", digest)
        ]
    assert manifest["files"] == {
        "q_gaussian.png": {"run": 2, "input": str(photo.resolve()), "output": "gaussian.image"}
    }


def test_reruns_are_appended_and_rewritten_outputs_belong_to_the_later_run(tmp_path, cli):
    a, b = _image(tmp_path / "a.png", 0.2), _image(tmp_path / "b.png", 0.4)
    out = tmp_path / "out"
    first = _pipeline(tmp_path)
    assert cli("run", first, a, b, "-o", out, "--no-progress")[0] == 0
    second = _pipeline(tmp_path, COPY_AND_STATS)
    assert cli("run", second, a, "-o", out, "--no-progress")[0] == 0

    manifest = _manifest(out)
    assert [run["status"] for run in manifest["runs"]] == ["completed", "completed"]
    assert [len(run["steps"]) for run in manifest["runs"]] == [1, 2]
    assert all(run["started"] and run["finished"] for run in manifest["runs"])
    owners = {name: record["run"] for name, record in manifest["files"].items()}
    assert owners == {"a_gaussian.png": 2, "b_gaussian.png": 1, "a_stats.json": 2}
    assert set(owners) | {"manifest.json"} == {path.name for path in out.iterdir()}


def test_a_manifest_of_the_earlier_one_run_format_becomes_the_first_run(tmp_path, cli):
    out = tmp_path / "out"
    out.mkdir()
    (out / "p_gaussian.png").write_bytes(b"written by an earlier pixelwise")
    old = {
        "pipeline": "rel",
        "pipeline_file": None,
        "pipeline_sha256": None,
        "pixelwise_version": "0.1.0",
        "steps": [
            {"name": "gaussian", "node": "_test_rel_copy", "node_version": "1", "params": {}}
        ],
        "inputs": [
            {
                "path": "/elsewhere/p.png",
                "sha256": "0" * 64,
                "shape": [4, 6],
                "dtype": "uint8",
                "outputs": {"gaussian.image": "p_gaussian.png"},
                "seconds": {"gaussian": 0.0},
            }
        ],
        "error": None,
    }
    (out / "manifest.json").write_text(json.dumps(old))
    code, _, err = cli("run", _pipeline(tmp_path), _image(tmp_path / "p.png", 0.2), "-o", out)
    assert code == 0, err
    runs = _manifest(out)["runs"]
    assert [run["status"] for run in runs] == ["completed", "completed"]
    assert runs[0]["inputs"][0]["path"] == "/elsewhere/p.png"


# --- library warnings ---------------------------------------------------------------------


def test_library_warnings_become_notes_and_one_summary_line(tmp_path, cli):
    pipeline = _pipeline(tmp_path, "name: rel\nsteps:\n  - {name: warn, node: _test_rel_warn}\n")
    for name in ("a", "b"):
        _image(tmp_path / "in" / f"{name}.png", 0.2)
    out = tmp_path / "out"
    code, _, err = cli("run", pipeline, tmp_path / "in", "-o", out, "--no-progress")
    assert code == 0
    assert err == f"note: {out / 'manifest.json'}: 2 library warnings recorded there\n"
    for record in _manifest(out)["runs"][0]["inputs"]:
        assert record["notes"] == ["step 'warn': UserWarning: a library complains"]


# --- pipeline validation: every problem, with its line ----------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: t\nsteps:\n  - node: _test_rel_cpy\n    parms: {}\n",
            [
                "line 4: step 1: parms: unknown field",
                "line 3: step '_test_rel_cpy': unknown node '_test_rel_cpy'; did you mean",
            ],
        ),
        (
            "name: t\nsteps:\n  - node: _test_rel_copy\n  - node: _test_rel_signal_if_bright\n"
            "    parms: {}\n    params: {signal_name: SIGHUP}\n",
            [
                "line 5: step 2: parms: unknown field",
                "line 4: step '_test_rel_signal_if_bright' (_test_rel_signal_if_bright): "
                "parameter 'signal_name': Input should be 'SIGINT' or 'SIGTERM'",
            ],
        ),
        (
            "name: t\nstepz: []\nsteps:\n  - node: _test_rel_copy\noutputs: [nope]\n",
            ["line 2: stepz: unknown field", "line 5: outputs entry 'nope': unknown step 'nope'"],
        ),
        (
            "name: t\nsteps:\n  - name: a\n  - {node: _test_rel_copy, inputs: {image: a}}\n",
            ["line 3: step 1: node: required field is missing"],
        ),
    ],
    ids=["unknown-field-and-node", "unknown-field-and-parameter", "top-level", "missing"],
)
def test_every_problem_of_every_step_is_reported_with_its_line(tmp_path, text, expected):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(PipelineConfigError) as caught:
        Pipeline.from_file(path)
    problems = caught.value.problems
    assert len(problems) == len(expected), problems
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), problem
    assert isinstance(caught.value, ConfigError)
