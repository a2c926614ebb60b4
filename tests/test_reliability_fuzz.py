"""Damaged files: random truncations and bit flips of a valid SEG-Y, MRC and checkpoint file.

Each damaged copy either loads, or fails with one clean :class:`PixelwiseError` line naming
the file, never another exception and never a hang. What "loads" may mean depends on what
the format can know: a checkpoint carries a checksum, so it loads identically or not at all;
SEG-Y and MRC carry none, so a flipped sample bit loads as a different number, but a
truncated file loads only as whole traces of the original (SEG-Y) or not at all (MRC).
"""

from __future__ import annotations

import contextlib
import signal
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixelwise.engine import Checkpoint, load_checkpoint, save_checkpoint
from pixelwise.errors import PixelwiseError
from pixelwise.io.mrc import write_mrc
from pixelwise.io.registry import read_array
from pixelwise.io.segy import write_segy
from pixelwise.models import UNetConfig, build_model

#: Seconds one load may take before it counts as a hang.
HANG_SECONDS = 10

FUZZ = settings(
    max_examples=100,
    deadline=3000,  # milliseconds; generous, for a CPU shared with other test runs
    derandomize=True,  # the same examples on every run: no flaky failures
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@contextlib.contextmanager
def _no_hang() -> Iterator[None]:
    def hung(signum, frame):
        raise TimeoutError(f"a load took more than {HANG_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _damage(data: bytes, draw: st.DrawFn) -> tuple[bytes, bool]:
    """A truncated copy of ``data`` or one with 1-3 flipped bits; and whether it was cut."""
    if draw(st.booleans()):
        return data[: draw(st.integers(0, len(data) - 1))], True
    damaged = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        damaged[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
    return bytes(damaged), False


def _load_or_clean_error(path: Path, load: Callable[[Path], object]) -> object | None:
    """``load(path)``; None when it failed with one clean line naming ``path``."""
    with _no_hang(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a note about a damaged header is fine
        try:
            return load(path)
        except PixelwiseError as error:
            message = str(error)
            assert "\n" not in message and message.startswith(f"{path}"), message
            return None


# --- SEG-Y and MRC --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def section() -> np.ndarray:
    return np.random.default_rng(0).normal(0, 1, (32, 8)).astype(np.float32)


@pytest.fixture(scope="module")
def segy(tmp_path_factory, section) -> bytes:
    path = tmp_path_factory.mktemp("segy") / "good.sgy"
    write_segy(path, section)
    np.testing.assert_array_equal(read_array(path), section)
    return path.read_bytes()


@pytest.fixture(scope="module")
def mrc(tmp_path_factory, section) -> bytes:
    path = tmp_path_factory.mktemp("mrc") / "good.mrc"
    write_mrc(path, section)
    np.testing.assert_array_equal(read_array(path), section)
    return path.read_bytes()


@FUZZ
@given(draw=st.data())
def test_damaged_segy_loads_or_fails_cleanly(tmp_path, segy, section, draw):
    damaged, truncated = _damage(segy, draw.draw)
    path = tmp_path / "damaged.sgy"
    path.write_bytes(damaged)
    loaded = _load_or_clean_error(path, read_array)
    if loaded is None:
        return
    assert isinstance(loaded, np.ndarray)
    if truncated:  # a SEG-Y file does not say how many traces it holds
        traces = loaded.shape[1]
        assert 0 < traces < section.shape[1]
        np.testing.assert_array_equal(loaded, section[:, :traces])
    elif damaged[3200:] == segy[3200:]:  # only the textual header was hit
        np.testing.assert_array_equal(loaded, section)


@FUZZ
@given(draw=st.data())
def test_damaged_mrc_loads_or_fails_cleanly(tmp_path, mrc, section, draw):
    damaged, truncated = _damage(mrc, draw.draw)
    path = tmp_path / "damaged.mrc"
    path.write_bytes(damaged)
    loaded = _load_or_clean_error(path, read_array)
    if loaded is None:
        return
    assert not truncated, "a truncated MRC file loaded"
    assert isinstance(loaded, np.ndarray)


# --- checkpoints ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> tuple[bytes, Checkpoint]:
    model = build_model(UNetConfig(levels=2, base_channels=2))
    original = Checkpoint(
        app="seismic",
        model_config=model.config.model_dump(mode="json"),
        app_config={"note": "fuzz"},
        learned_state={"normalization": {"mean": 0.5, "std": 2.0}},
        state_dict=model.state_dict(),
        epoch=3,
        step=12,
        metrics={"val_loss": 0.25},
        history=[{"epoch": 1, "train_loss": 1.0}],
    )
    path = save_checkpoint(tmp_path_factory.mktemp("ck") / "good.pt", original)
    return path.read_bytes(), load_checkpoint(path)


def _same(loaded: Checkpoint, original: Checkpoint) -> bool:
    fields = ("app", "model_config", "app_config", "learned_state", "epoch", "step", "metrics")
    return (
        all(getattr(loaded, name) == getattr(original, name) for name in (*fields, "history"))
        and loaded.state_dict.keys() == original.state_dict.keys()
        and all(
            loaded.state_dict[key].dtype == value.dtype
            and torch.equal(loaded.state_dict[key], value)
            for key, value in original.state_dict.items()
        )
    )


@FUZZ
@given(draw=st.data())
def test_damaged_checkpoint_loads_identically_or_fails_cleanly(tmp_path, checkpoint, draw):
    data, original = checkpoint
    damaged, truncated = _damage(data, draw.draw)
    path = tmp_path / "damaged.pt"
    path.write_bytes(damaged)
    loaded = _load_or_clean_error(path, load_checkpoint)
    if loaded is None:
        return
    assert not truncated, "a truncated checkpoint loaded"
    assert isinstance(loaded, Checkpoint) and _same(loaded, original)
