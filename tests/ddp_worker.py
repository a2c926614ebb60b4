"""Run by tests/test_distributed.py under torchrun: a short data-parallel fit on CPU (Gloo)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import TensorDataset

from pixelwise.engine import Trainer, TrainerConfig, make_loader
from pixelwise.metrics import Mean
from pixelwise.models import UNetConfig, build_model


class Regression:
    def __init__(self) -> None:
        torch.manual_seed(0)  # same initial weights on every rank (DDP also broadcasts them)
        self.model = build_model(UNetConfig(levels=1, base_channels=4))
        self.samples_seen = 0
        self.metrics = {"mae": Mean()}  # accumulated on each rank, synchronised by the engine

    def training_step(self, batch):
        x, y = batch
        self.samples_seen += x.shape[0]
        return torch.mean((self.model(x) - y) ** 2)

    def validation_step(self, batch):
        x, y = batch
        error = self.model(x) - y
        self.metrics["mae"].update(error.abs().mean(dim=(1, 2, 3)))
        return {"loss": torch.mean(error**2)}


def main(out: Path) -> None:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(16, 1, 8, 8, generator=generator)
    data = TensorDataset(x, 0.5 * x)
    task = Regression()
    trainer = Trainer(TrainerConfig(epochs=2, learning_rate=1e-2, device="cpu", precision="32"))
    result = trainer.fit(
        task, make_loader(data, 2, shuffle=True), make_loader(data, 4), checkpoint_dir=out / "ckpt"
    )
    rank = dist.get_rank()
    torch.save(task.model.state_dict(), out / f"rank{rank}.pt")
    report = {"samples_seen": task.samples_seen, "history": result.history}
    (out / f"rank{rank}.json").write_text(json.dumps(report))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
