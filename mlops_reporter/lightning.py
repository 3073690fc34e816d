"""PyTorch Lightning: `Trainer(callbacks=[MlopsCallback()])` reports the run.

started at train start, one `epoch` event per training epoch (1-based, with the logged
metrics as floats — validation runs before the epoch ends, so its metrics are included),
finished at train end, crashed on any exception Lightning sees (from every rank).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

try:
    from lightning.pytorch.callbacks import Callback
except ImportError:  # the older package name
    from pytorch_lightning.callbacks import Callback  # type: ignore[no-redef,assignment]

from mlops_reporter.reporter import Reporter


class MlopsCallback(Callback):  # type: ignore[misc]
    def __init__(self, reporter: Reporter | None = None, **reporter_kwargs: Any) -> None:
        """`reporter`, or one built from `reporter_kwargs` (job=…, url=…, secret=…) and env."""
        super().__init__()
        self.reporter = reporter if reporter is not None else Reporter(**reporter_kwargs)

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        if trainer.is_global_zero:
            self.reporter.started(max_epochs=_total(trainer), model=type(pl_module).__name__)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.is_global_zero and not trainer.sanity_checking:
            self.reporter.epoch(
                trainer.current_epoch + 1,
                total=_total(trainer),
                metrics=scalar_metrics(trainer.callback_metrics),
                step=trainer.global_step,
            )

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.is_global_zero:
            self.reporter.finished(
                metrics=scalar_metrics(trainer.callback_metrics),
                epochs=trainer.current_epoch,
                step=trainer.global_step,
            )

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self.reporter.crashed(exception, epoch=trainer.current_epoch + 1, step=trainer.global_step)


def scalar_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Single-number metrics as floats; anything else (vectors, strings) is left out."""
    out: dict[str, float] = {}
    for name, value in metrics.items():
        numel = getattr(value, "numel", None)
        if callable(numel) and numel() != 1:
            continue
        try:
            out[name] = float(value)
        except (TypeError, ValueError):
            continue
    return out


def _total(trainer: Any) -> int | None:
    max_epochs = trainer.max_epochs
    return max_epochs if isinstance(max_epochs, int) and max_epochs > 0 else None
