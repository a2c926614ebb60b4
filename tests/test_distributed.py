"""Data-parallel training through torchrun (two CPU processes, Gloo)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch


@pytest.mark.slow
def test_torchrun_trains_in_lockstep_on_sharded_data(tmp_path: Path):
    worker = Path(__file__).with_name("ddp_worker.py")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    completed = subprocess.run(
        [*command, str(worker), str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    weights = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in (0, 1)]
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), f"ranks diverged at {key}"
    reports = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert [r["samples_seen"] for r in reports] == [16, 16], "each rank sees half of 2 epochs x 16"
    for first, second in zip(reports[0]["history"], reports[1]["history"], strict=True):
        # losses are averaged across ranks, so every rank reports (and stops on) the same numbers
        assert first["train_loss"] == second["train_loss"]
        assert first["val_loss"] == second["val_loss"]
        assert first["val_mae"] == second["val_mae"]  # an accumulating metric, synchronised
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "best.pt",
        "history.json",
        "last.pt",
    ]
