"""A tiny transformers Trainer run, shared by the in-process test and the crash script."""

from __future__ import annotations

import torch
from transformers import Trainer, TrainingArguments


class TinyRegression(torch.nn.Module):
    def __init__(self, fail_at_step: int | None = None) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.fail_at_step = fail_at_step
        self.steps = 0

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.training:
            self.steps += 1
            if self.steps == self.fail_at_step:
                raise RuntimeError("NaN in gradients of layer.weight")
        return {"loss": torch.nn.functional.mse_loss(self.layer(x), labels)}


def dataset() -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(8, 4, generator=generator)
    return [{"x": row, "labels": row.sum().reshape(1)} for row in x]


def train(output_dir: str, callback, fail_at_step: int | None = None) -> None:
    args = TrainingArguments(
        output_dir=output_dir,
        num_train_epochs=2,
        per_device_train_batch_size=4,
        per_device_eval_batch_size=4,
        logging_strategy="epoch",
        eval_strategy="epoch",
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=TinyRegression(fail_at_step),
        args=args,
        train_dataset=dataset(),
        eval_dataset=dataset(),
        callbacks=[callback],
    )
    trainer.train()
