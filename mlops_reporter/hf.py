"""Hugging Face transformers: `Trainer(..., callbacks=[MlopsTrainerCallback()])`.

started at train begin; one `epoch` event per epoch (1-based) carrying the numbers logged
during it *and* right after it (the Trainer evaluates and logs after `on_epoch_end`, so
the event goes out at the next epoch's start or at train end); finished with the
Trainer's closing summary (train_loss, train_runtime, …). The Trainer has no exception
hook, so an exception escaping the script is reported as crashed via `sys.excepthook`;
wrap `trainer.train()` in `reporter.run()` to catch it inside a larger program instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from transformers import TrainerCallback

from mlops_reporter.reporter import Reporter

# The Trainer's closing summary log carries this key (see `speed_metrics("train", …)`).
_SUMMARY_KEY = "train_runtime"


class MlopsTrainerCallback(TrainerCallback):  # type: ignore[misc]
    def __init__(
        self,
        reporter: Reporter | None = None,
        *,
        report_uncaught: bool = True,
        **reporter_kwargs: Any,
    ) -> None:
        self.reporter = reporter if reporter is not None else Reporter(**reporter_kwargs)
        self._report_uncaught = report_uncaught
        self._metrics: dict[str, float] = {}
        self._summary: dict[str, float] = {}
        self._pending_epoch: int | None = None
        self._total: int | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._report_uncaught:
            self.reporter.report_uncaught()
        total = getattr(state, "num_train_epochs", None) or args.num_train_epochs
        self._total = math.ceil(total) if total else None
        if state.is_world_process_zero:
            self.reporter.started(max_epochs=self._total, max_steps=state.max_steps)

    def on_log(
        self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None, **_: Any
    ) -> None:
        numbers = _numbers(logs or {})
        if _SUMMARY_KEY in numbers:
            self._emit_pending(state)
            self._summary = numbers
        else:
            self._metrics.update(numbers)

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # A partial last epoch (max_steps) still counts as the epoch it was in.
        self._pending_epoch = math.ceil((state.epoch or 0) - 1e-9)

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._emit_pending(state)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._emit_pending(state)
        if state.is_world_process_zero:
            self.reporter.finished(metrics=self._summary, step=state.global_step)

    def _emit_pending(self, state: Any) -> None:
        if self._pending_epoch is not None and state.is_world_process_zero:
            self.reporter.epoch(
                self._pending_epoch,
                total=self._total,
                metrics=self._metrics,
                step=state.global_step,
            )
        self._pending_epoch = None
        self._metrics = {}


def _numbers(logs: Mapping[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in logs.items()
        if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool)
    }
