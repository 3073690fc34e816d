"""A real tiny PyTorch Lightning run (CPU, a few steps) reports through `MlopsCallback`."""

from __future__ import annotations

import pytest
import torch
from lightning.pytorch import LightningModule, Trainer
from torch.utils.data import DataLoader, TensorDataset

from mlops_reporter.lightning import MlopsCallback

pytestmark = [
    # Lightning advises more dataloader workers; irrelevant for a 2-batch CPU run.
    pytest.mark.filterwarnings("ignore:.*does not have many workers.*"),
    # Slurm is installed on test machines (for the scheduler tests); this run is not under it.
    pytest.mark.filterwarnings("ignore:The `srun` command is available"),
    # Lightning 2.6 on torch 2.13 uses a pytree API torch now deprecates (FutureWarning).
    pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated"),
]


class TinyRegression(LightningModule):
    def __init__(self, fail_at_epoch: int | None = None) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.fail_at_epoch = fail_at_epoch

    def training_step(self, batch, batch_idx):
        if self.fail_at_epoch is not None and self.current_epoch + 1 == self.fail_at_epoch:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def loader() -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(16, 4, generator=generator)
    return DataLoader(TensorDataset(x, x.sum(dim=1, keepdim=True)), batch_size=4)


def fit(module: LightningModule, callback: MlopsCallback, root) -> None:
    trainer = Trainer(
        max_epochs=3,
        limit_train_batches=2,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        accelerator="cpu",
        devices=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        logger=False,
        default_root_dir=root,
        callbacks=[callback],
    )
    trainer.fit(module, loader(), loader())


def test_a_lightning_run_reports_started_epochs_finished(receiver, make_reporter, tmp_path):
    fit(TinyRegression(), MlopsCallback(make_reporter(receiver)), tmp_path)
    events = receiver.wait_for(5)
    assert [e["type"] for e in events] == ["started", "epoch", "epoch", "epoch", "finished"]
    assert events[0]["max_epochs"] == 3
    assert events[0]["model"] == "TinyRegression"
    epochs = events[1:4]
    assert [(e["epoch"], e["total"]) for e in epochs] == [(1, 3), (2, 3), (3, 3)]
    for e in epochs:
        assert set(e["metrics"]) == {"train_loss", "val_loss"}  # validation ran before
        assert all(isinstance(v, float) for v in e["metrics"].values())
    assert events[4]["metrics"]["val_loss"] == epochs[-1]["metrics"]["val_loss"]


def test_a_lightning_run_that_raises_reports_crashed_and_re_raises(
    receiver, make_reporter, tmp_path
):
    with pytest.raises(RuntimeError, match="illegal memory access"):
        fit(TinyRegression(fail_at_epoch=2), MlopsCallback(make_reporter(receiver)), tmp_path)
    events = receiver.wait_for(3)
    assert [e["type"] for e in events] == ["started", "epoch", "crashed"]
    crash = events[2]
    assert crash["exception"] == "RuntimeError"
    assert crash["epoch"] == 2
    assert "training_step" in crash["traceback"]
    assert "illegal memory access" in crash["traceback"]
