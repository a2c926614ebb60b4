"""Reliability of the seismic CLI, checkpoints, configs and readers (issue 7), case by case.

Every row gives the command a bad input made here (small), then checks the exit status, that
stderr ends with the one ``error: FILE: problem`` line (library warnings above it folded into
one ``note:`` line), that the file is named once, that no file the user had changed, and that
no temporary, probe or lock file is left behind. Rows that must fail before any training
would crash the test if an epoch started.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import resource
import shutil
import signal
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
import yaml

import pixelwise.config
import pixelwise.io.atomic
from pixelwise.apps.seismic import SeismicConfig
from pixelwise.cli import main
from pixelwise.data import Normalization
from pixelwise.engine import Checkpoint, Trainer, save_checkpoint
from pixelwise.io.atomic import locked_folder
from pixelwise.io.images import write_image
from pixelwise.io.mrc import write_mrc
from pixelwise.io.segy import write_segy
from pixelwise.methods.common import learned_state
from pixelwise.models import build_model

# --- the user's files --------------------------------------------------------------------


def _run_config(root: Path, **sections: dict) -> dict:
    """A tiny, valid seismic run config (as YAML data) training on ``noisy.sgy``."""
    config = {
        "data": {
            "train": [str(root / "noisy.sgy")],
            "patch_size": 16,
            "patches_per_epoch": 8,
            "validation_patches": 0,
            "batch_size": 4,
        },
        "model": {"levels": 2, "base_channels": 4},
        # Chosen, not the adaptive default, so no masking note precedes the error lines.
        "masking": {"strategy": "random"},
        "trainer": {"epochs": 1, "device": "cpu"},
        "output_dir": str(root / "model"),
    }
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values} if isinstance(values, dict) else values
    return config


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    """A noisy section (SEG-Y and npy) and an untrained but complete seismic checkpoint."""
    root = tmp_path_factory.mktemp("kit")
    section = np.random.default_rng(0).normal(0, 1, (64, 40)).astype(np.float32)
    write_segy(root / "noisy.sgy", section)
    np.save(root / "noisy.npy", section)
    config = SeismicConfig.model_validate(_run_config(root, inference={"window": None}))
    model = build_model(config.model)
    checkpoint = Checkpoint(
        app="seismic",
        model_config=config.model.model_dump(mode="json"),
        app_config=config.model_dump(mode="json"),
        learned_state=learned_state(Normalization(mean=0.0, std=1.0)),
        state_dict=model.state_dict(),
        epoch=1,
        step=2,
    )
    save_checkpoint(root / "good.pt", checkpoint)
    return root


@pytest.fixture
def root(kit, tmp_path, monkeypatch) -> Path:
    for path in kit.iterdir():
        shutil.copy(path, tmp_path / path.name)
    monkeypatch.setenv("COLUMNS", "300")

    def no_training(*args, **kwargs):
        raise AssertionError("an epoch started: the problem was not found before training")

    monkeypatch.setattr(Trainer, "_train_epoch", no_training)
    return tmp_path


def _files(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _hidden(root: Path) -> set[str]:
    return {str(path) for path in root.rglob(".*")}


def _yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def _payload(
    root: Path, name: str, change: Callable[[dict], None], keep_checksum: bool = False
) -> Path:
    """``good.pt`` with its raw payload changed by ``change``, saved as ``name``.

    The checksum is dropped (as in files written before it existed, which load unverified)
    so that the loader's other checks are reached, unless ``keep_checksum``.
    """
    payload = torch.load(root / "good.pt", weights_only=True)
    if not keep_checksum:
        del payload["checksum"]
    change(payload)
    torch.save(payload, root / name)
    return root / name


def _model_config(payload: dict, **changes) -> None:
    payload["model_config"] = json.dumps({**json.loads(payload["model_config"]), **changes})


# --- the cases ---------------------------------------------------------------------------


@dataclass
class Case:
    argv: list[str | Path]
    named: Path | None  # None: the problem is in an option, not a file
    problem: str | tuple[str, ...]  # what the message must contain
    code: int = 2
    note: str | None = None  # what the one note line above the error must say


Arrange = Callable[[Path, contextlib.ExitStack, pytest.MonkeyPatch], Case]


def _denoise(root: Path, source: Path, out: str = "out.sgy", checkpoint: str = "good.pt"):
    return ["seismic", "denoise", source, root / out, "-c", root / checkpoint]


def _train(config: Path, *extra: str | Path) -> list[str | Path]:
    return ["seismic", "train", config, *extra]


def _refuse_mkstemp_in(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only folder, simulated (tests may run as root, who may write anywhere)."""
    real_mkstemp = tempfile.mkstemp

    def refuse(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == folder:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", refuse)


# seismic CLI: output paths ----------------------------------------------------------------


def train_output_dir_is_a_file(root, stack, monkeypatch) -> Case:
    (root / "notes").write_text("my notes")
    config = _yaml(root / "run.yaml", _run_config(root, output_dir=str(root / "notes")))
    return Case(_train(config), root / "notes", "exists and is not a folder")


def demo_output_is_a_file(root, stack, monkeypatch) -> Case:
    (root / "notes").write_text("my notes")
    argv = ["seismic", "demo", "-o", root / "notes", "--epochs", "1"]
    return Case(argv, root / "notes", "exists and is not a folder")


def train_output_dir_below_a_file(root, stack, monkeypatch) -> Case:
    (root / "notes").write_text("my notes")
    out = root / "notes" / "model"
    config = _yaml(root / "run.yaml", _run_config(root, output_dir=str(out)))
    return Case(_train(config), out, "cannot create this folder: Not a directory")


def train_output_dir_read_only(root, stack, monkeypatch) -> Case:
    (root / "model").mkdir()
    _refuse_mkstemp_in(root / "model", monkeypatch)
    config = _yaml(root / "run.yaml", _run_config(root))
    return Case(_train(config), root / "model", "cannot write in this folder: Permission denied")


def train_output_dir_held_by_another_run(root, stack, monkeypatch) -> Case:
    (root / "model").mkdir()
    stack.enter_context(locked_folder(root / "model"))
    config = _yaml(root / "run.yaml", _run_config(root))
    problem = f"another pixelwise run (pid {os.getpid()}) is writing to this folder"
    return Case(_train(config), root / "model", problem)


def denoise_out_is_a_directory(root, stack, monkeypatch) -> Case:
    (root / "out.sgy").mkdir()
    (root / "out.sgy" / "keep.txt").write_text("mine")
    return Case(_denoise(root, root / "noisy.sgy"), root / "out.sgy", "is a directory")


def denoise_out_is_the_input(root, stack, monkeypatch) -> Case:
    argv = _denoise(root, root / "noisy.sgy", out="noisy.sgy")
    return Case(argv, root / "noisy.sgy", "is the input file; pass --overwrite")


def denoise_out_below_a_file(root, stack, monkeypatch) -> Case:
    (root / "notes").write_text("my notes")
    argv = _denoise(root, root / "noisy.sgy", out="notes/out.sgy")
    return Case(argv, root / "notes", "is not a folder")


def denoise_out_folder_read_only(root, stack, monkeypatch) -> Case:
    _refuse_mkstemp_in(root, monkeypatch)
    argv = _denoise(root, root / "noisy.sgy")
    return Case(argv, root / "out.sgy", "cannot write: Permission denied")


def denoise_disk_full(root, stack, monkeypatch) -> Case:
    """A real write failure from the OS: a file-size limit below the output's size."""
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    stack.callback(signal.signal, signal.SIGXFSZ, old_handler)
    stack.callback(resource.setrlimit, resource.RLIMIT_FSIZE, old_limit)
    resource.setrlimit(resource.RLIMIT_FSIZE, (8000, old_limit[1]))
    return Case(
        _denoise(root, root / "noisy.sgy"), root / "out.sgy", "cannot write: File too large"
    )


def _replace_failing(monkeypatch, action: Callable[[], None]) -> None:
    real_replace = os.replace

    def replace(source, target):
        action()
        real_replace(source, target)

    monkeypatch.setattr(pixelwise.io.atomic.os, "replace", replace)


def denoise_short_write(root, stack, monkeypatch) -> Case:
    def fail():
        raise OSError("120000 requested and 14304 written")

    _replace_failing(monkeypatch, fail)
    argv = _denoise(root, root / "noisy.sgy", out="out.npy")
    return Case(argv, root / "out.npy", "cannot write: 120000 requested and 14304 written")


def denoise_sigterm_while_writing(root, stack, monkeypatch) -> Case:
    _replace_failing(monkeypatch, lambda: os.kill(os.getpid(), signal.SIGTERM))
    argv = _denoise(root, root / "noisy.sgy", out="out.npy")
    return Case(argv, root / "out.npy", "interrupted by SIGTERM; nothing was written", code=143)


# checkpoints ------------------------------------------------------------------------------


def checkpoint_without_model_config(root, stack, monkeypatch) -> Case:
    bad = _payload(root, "bad.pt", lambda payload: payload.pop("model_config"))
    return Case(_denoise(root, root / "noisy.sgy", checkpoint=bad.name), bad, "'model_config'")


def checkpoint_without_app(root, stack, monkeypatch) -> Case:
    bad = _payload(root, "bad.pt", lambda payload: payload.pop("app"))
    argv = _denoise(root, root / "noisy.sgy", checkpoint=bad.name)
    return Case(argv, bad, "'app' is missing or not a string")


def checkpoint_with_invalid_json(root, stack, monkeypatch) -> Case:
    bad = _payload(root, "bad.pt", lambda payload: payload.update(model_config="{oops"))
    argv = _denoise(root, root / "noisy.sgy", checkpoint=bad.name)
    return Case(argv, bad, "'model_config' is missing or not valid JSON")


def checkpoint_with_wrong_types(root, stack, monkeypatch) -> Case:
    bad = _payload(root, "bad.pt", lambda payload: payload.update(epoch="three"))
    argv = _denoise(root, root / "noisy.sgy", checkpoint=bad.name)
    return Case(argv, bad, "'epoch' must be a non-negative integer")


def checkpoint_memory_bomb(root, stack, monkeypatch) -> Case:
    bad = _payload(root, "bad.pt", lambda payload: _model_config(payload, base_channels=200000))
    argv = _denoise(root, root / "noisy.sgy", checkpoint=bad.name)
    return Case(argv, bad, "base_channels: Input should be less than or equal to 1024")


def checkpoint_memory_bomb_within_field_bounds(root, stack, monkeypatch) -> Case:
    bad = _payload(
        root, "bad.pt", lambda payload: _model_config(payload, levels=7, base_channels=1024)
    )
    argv = _denoise(root, root / "noisy.sgy", checkpoint=bad.name)
    return Case(argv, bad, "parameters (")


def checkpoint_weights_differ_from_its_config(root, stack, monkeypatch) -> Case:
    bad = _payload(root, "bad.pt", lambda payload: _model_config(payload, base_channels=8))
    argv = _denoise(root, root / "noisy.sgy", checkpoint=bad.name)
    return Case(argv, bad, "weights do not match the model config (")


def checkpoint_truncated(root, stack, monkeypatch) -> Case:
    data = (root / "good.pt").read_bytes()
    (root / "bad.pt").write_bytes(data[: len(data) // 2])
    argv = _denoise(root, root / "noisy.sgy", checkpoint="bad.pt")
    return Case(argv, root / "bad.pt", "checkpoint is truncated")


def checkpoint_random_bytes(root, stack, monkeypatch) -> Case:
    (root / "bad.pt").write_bytes(np.random.default_rng(1).bytes(3000))
    argv = _denoise(root, root / "noisy.sgy", checkpoint="bad.pt")
    return Case(argv, root / "bad.pt", "checkpoint")


def checkpoint_altered_after_writing(root, stack, monkeypatch) -> Case:
    def nudge(payload: dict) -> None:
        weight = next(iter(payload["state_dict"].values()))
        weight.view(-1)[0] += 1e-3

    bad = _payload(root, "bad.pt", nudge, keep_checksum=True)
    argv = _denoise(root, root / "noisy.sgy", checkpoint=bad.name)
    return Case(argv, bad, "contents do not match the checksum written with them")


def checkpoint_with_an_unknown_field(root, stack, monkeypatch) -> Case:
    bad = _payload(root, "bad.pt", lambda payload: payload.update(epoCh=payload.pop("epoch")))
    argv = _denoise(root, root / "noisy.sgy", checkpoint=bad.name)
    return Case(argv, bad, "damaged checkpoint: unknown fields epoCh")


def checkpoint_of_another_app(root, stack, monkeypatch) -> Case:
    bad = _payload(root, "bad.pt", lambda payload: payload.update(app="cryoem"))
    argv = _denoise(root, root / "noisy.sgy", checkpoint=bad.name)
    return Case(argv, bad, "belongs to the 'cryoem' application")


def checkpoint_with_nan_weights(root, stack, monkeypatch) -> Case:
    def poison(payload: dict) -> None:
        name = next(iter(payload["state_dict"]))
        payload["state_dict"][name] = torch.full_like(payload["state_dict"][name], float("nan"))

    bad = _payload(root, "bad.pt", poison)
    argv = _denoise(root, root / "noisy.sgy", out="out.npy", checkpoint=bad.name)
    return Case(argv, bad, "weights contain NaN or Inf values")


def checkpoint_with_zero_std(root, stack, monkeypatch) -> Case:
    def zero(payload: dict) -> None:
        state = json.loads(payload["learned_state"])
        state["normalization"]["std"] = 0.0
        payload["learned_state"] = json.dumps(state)

    bad = _payload(root, "bad.pt", zero)
    argv = _denoise(root, root / "noisy.sgy", out="out.npy", checkpoint=bad.name)
    return Case(argv, bad, "stored normalization is invalid: std: Input should be greater than 0")


def resume_with_another_architecture(root, stack, monkeypatch) -> Case:
    config = _yaml(root / "run.yaml", _run_config(root, model={"base_channels": 8}, trainer={}))
    argv = _train(config, "--resume", root / "good.pt")
    return Case(argv, root / "good.pt", "cannot resume: the checkpoint's model differs (")


def resume_with_nothing_left_to_train(root, stack, monkeypatch) -> Case:
    config = _yaml(root / "run.yaml", _run_config(root))
    argv = _train(config, "--resume", root / "good.pt")
    return Case(argv, root / "good.pt", "already holds 1 epochs")


def denoise_on_a_tpu(root, stack, monkeypatch) -> Case:
    """An option, not a file: the line names the option's value and the valid ones."""
    argv = [*_denoise(root, root / "noisy.sgy"), "--device", "tpu"]
    return Case(argv, None, "unknown device 'tpu'; use 'auto', 'cpu', 'cuda' or 'cuda:N'")


# configs ----------------------------------------------------------------------------------


def _typed_config(root: Path, edit: str) -> Path:
    """The tiny config as a user types it, with one line replaced (``key: value``)."""
    text = yaml.safe_dump(_run_config(root), sort_keys=False)
    key = edit.split(":")[0]
    lines = [
        f"{line[: len(line) - len(line.lstrip())]}{edit}" if line.strip().startswith(key) else line
        for line in text.splitlines()
    ]
    path = root / "run.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _config_case(edit: str, problem: str) -> Arrange:
    def arrange(root, stack, monkeypatch) -> Case:
        config = _typed_config(root, edit)
        return Case(_train(config), config, problem)

    arrange.__name__ = f"config {edit}"
    return arrange


def config_unknown_field_hides_nothing(root, stack, monkeypatch) -> Case:
    config = root / "run.yaml"
    config.write_text(
        "data:\n  train: [noisy.sgy]\n  patch_sise: 16\n  batch_size: 0\n"
        "trainer:\n  epochs: -1\n  device: tpu\nmodel: {levels: 2, base_channels: 1e6}\n"
    )
    problem = (
        "line 3: data.patch_sise: unknown field",
        "line 4: data.batch_size: must be an integer ≥ 1 (got 0)",
        "line 6: trainer.epochs: must be an integer ≥ 1 (got -1)",
        "line 7: trainer.device: unknown device 'tpu'; use 'auto', 'cpu', 'cuda' or 'cuda:N'",
        "line 8: model.base_channels: must be an integer ≤ 1024 (got 1e+06)",
    )
    return Case(_train(config), config, problem)


def library_warnings_before_an_error(root, stack, monkeypatch) -> Case:
    real = pixelwise.config.line_numbers

    def chatty(text: str):
        warnings.warn("TypedStorage is\n  deprecated", FutureWarning, stacklevel=1)
        logging.getLogger("tifffile").warning("<tifffile.TiffFile 'x.tif'> invalid tag")
        return real(text)

    monkeypatch.setattr(pixelwise.config, "line_numbers", chatty)
    config = _typed_config(root, "patch_size: 1e9")
    note = (
        "2 library warnings: tifffile: <tifffile.TiffFile 'x.tif'> invalid tag; "
        "FutureWarning: TypedStorage is deprecated"
    )
    return Case(_train(config), config, "must be an integer ≤ 4096", note=note)


# readers ----------------------------------------------------------------------------------


def segy_binary_and_trace_headers_disagree(root, stack, monkeypatch) -> Case:
    path = root / "liar.sgy"
    write_segy(path, np.ones((128, 17), np.float32))
    data = bytearray(path.read_bytes())
    data[3220:3222] = (68).to_bytes(2, "big")  # samples per trace in the binary header
    path.write_bytes(bytes(data))
    return Case(_denoise(root, path), path, "binary header says 68 samples per trace")


def segy_truncated(root, stack, monkeypatch) -> Case:
    path = root / "cut.sgy"
    data = (root / "noisy.sgy").read_bytes()
    path.write_bytes(data[: 3600 + (len(data) - 3600) // 2 + 7])
    return Case(_denoise(root, path), path, "truncated")


def npy_header_claims_1e10_elements(root, stack, monkeypatch) -> Case:
    path = root / "bomb.npy"
    with path.open("wb") as stream:
        header = {"descr": "<f4", "fortran_order": False, "shape": (100000, 100000)}
        np.lib.format.write_array_header_1_0(stream, header)
        stream.write(bytes(64))
    return Case(_denoise(root, path), path, "truncated: header says 40000000000 bytes")


def npy_random_bytes(root, stack, monkeypatch) -> Case:
    path = root / "random.npy"
    path.write_bytes(np.random.default_rng(2).bytes(3000))
    return Case(_denoise(root, path), path, "not a .npy file")


def png_above_the_pixel_limit(root, stack, monkeypatch) -> Case:
    monkeypatch.setenv("PIXELWISE_MAX_IMAGE_PIXELS", "1000")
    path = root / "big.png"
    write_image(path, np.zeros((40, 40), np.float32))
    problem = "image is 40 x 40 = 1,600 pixels, above the limit of 1,000"
    return Case(_denoise(root, path), path, problem)


def tiff_with_nan(root, stack, monkeypatch) -> Case:
    path = root / "nan.tif"
    values = np.ones((32, 32), np.float32)
    values[3, 4] = np.nan
    tifffile.imwrite(path, values)
    return Case(_denoise(root, path), path, "data contains NaN or Inf values")


def mrc_truncated(root, stack, monkeypatch) -> Case:
    path = root / "cut.mrc"
    write_mrc(root / "whole.mrc", np.ones((32, 32), np.float32))
    data = (root / "whole.mrc").read_bytes()
    path.write_bytes(data[: len(data) - 100])
    (root / "whole.mrc").unlink()
    return Case(_denoise(root, path), path, "truncated")


def input_missing(root, stack, monkeypatch) -> Case:
    return Case(_denoise(root, root / "gone.sgy"), root / "gone.sgy", "")


CASES: list[Arrange] = [
    train_output_dir_is_a_file,
    demo_output_is_a_file,
    train_output_dir_below_a_file,
    train_output_dir_read_only,
    train_output_dir_held_by_another_run,
    denoise_out_is_a_directory,
    denoise_out_is_the_input,
    denoise_out_below_a_file,
    denoise_out_folder_read_only,
    denoise_disk_full,
    denoise_short_write,
    denoise_sigterm_while_writing,
    checkpoint_without_model_config,
    checkpoint_without_app,
    checkpoint_with_invalid_json,
    checkpoint_with_wrong_types,
    checkpoint_memory_bomb,
    checkpoint_memory_bomb_within_field_bounds,
    checkpoint_weights_differ_from_its_config,
    checkpoint_truncated,
    checkpoint_random_bytes,
    checkpoint_altered_after_writing,
    checkpoint_with_an_unknown_field,
    checkpoint_of_another_app,
    checkpoint_with_nan_weights,
    checkpoint_with_zero_std,
    resume_with_another_architecture,
    resume_with_nothing_left_to_train,
    denoise_on_a_tpu,
    _config_case("base_channels: 1000000", "model.base_channels: must be an integer ≤ 1024"),
    _config_case("patches_per_epoch: 1e12", "patches_per_epoch: must be an integer ≤ 1000000000"),
    _config_case("batch_size: 1e9", "line 7: data.batch_size: must be an integer ≤ 65536"),
    _config_case("epochs: 1e21", "trainer.epochs: must be an integer ≥ 1 and ≤ 1000000000"),
    _config_case("patch_size: 1e9", "line 4: data.patch_size: must be an integer ≤ 4096"),
    _config_case("device: tpu", "trainer.device: unknown device 'tpu'; use 'auto', 'cpu'"),
    config_unknown_field_hides_nothing,
    library_warnings_before_an_error,
    segy_binary_and_trace_headers_disagree,
    segy_truncated,
    npy_header_claims_1e10_elements,
    npy_random_bytes,
    png_above_the_pixel_limit,
    tiff_with_nan,
    mrc_truncated,
    input_missing,
]


@pytest.mark.parametrize("arrange", CASES, ids=[case.__name__ for case in CASES])
def test_each_bad_input_ends_in_one_line_naming_the_file_and_changes_nothing(
    root, cli, monkeypatch, arrange: Arrange
):
    with contextlib.ExitStack() as stack:
        case = arrange(root, stack, monkeypatch)
        before, hidden = _files(root), _hidden(root)
        code, _, err = cli(*case.argv)
        assert _files(root) == before
        assert _hidden(root) == hidden, "a temporary, probe or lock file was left behind"
    lines = err.splitlines()
    assert code == case.code, err
    assert "Traceback" not in err
    assert lines and lines[-1].startswith("error: "), err
    message = lines[-1].removeprefix("error: ")
    assert lines[:-1] == ([f"note: {case.note}"] if case.note else []), err
    problems = (case.problem,) if isinstance(case.problem, str) else case.problem
    assert message.startswith(f"{case.named}: " if case.named else problems[0]), message
    assert all(problem in message for problem in problems), message
    assert re.match(r"(.+?): \1: ", message) is None, f"file named twice: {message}"


def test_the_refusals_before_training_take_no_epoch(root):
    """The fixture turns any epoch into a crash; a good config does reach the first one."""
    config = _yaml(root / "run.yaml", _run_config(root))
    with pytest.raises(AssertionError, match="an epoch started"):
        main(["seismic", "train", str(config)])
    assert not (root / "model" / ".pixelwise.lock").exists()
