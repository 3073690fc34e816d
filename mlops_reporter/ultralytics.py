"""Ultralytics YOLO: `add_callbacks(model)` before `model.train(...)` reports the run.

- `started` when the trainer is built: max_epochs, imgsz, batch, data, model, device, task.
- `epoch` after each epoch's validation (`on_fit_epoch_end`), 1-based (Ultralytics counts
  from 0), with Ultralytics' own metric names as floats: `metrics/mAP50(B)`,
  `metrics/mAP50-95(B)`, precision, recall, `val/*` and `train/*` losses, `lr/pg*`,
  `fitness`, `best_fitness`. An epoch that skipped validation (`val=False`) carries only
  its training losses and learning rates, never the last validation's numbers again.
- `final_validation`: after the last epoch the trainer validates `best.pt` once more and
  fires `on_fit_epoch_end` again with `trainer.epoch` one past the last epoch. That is
  not an epoch: it is reported as the best weights' metrics.
- `finished` at train end: best_fitness, best_weights (the `best.pt` path), epochs run.
- `crashed` with the traceback for any exception out of `model.train()`, including one
  raised while the trainer is built (a bad `data.yaml`). Ultralytics has no exception
  hook (`teardown` fires, `on_train_end` does not), so `add_callbacks` wraps the model's
  `train` method: the exception is reported and re-raised unchanged.

Reporting never stops training: a callback that fails (an attribute renamed in a later
Ultralytics) logs one warning and training goes on. Multi-GPU (DDP) workers rebuild the
callbacks from a pickle: their reporter reads `MLOPS_URL` / `MLOPS_WEBHOOK_SECRET` from
the environment. Nothing here imports ultralytics: it only calls the model's
`add_callback`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from mlops_reporter.reporter import Reporter

log = logging.getLogger("mlops_reporter")

_ATTACHED = "_mlops_callbacks"  # set on the model, so a second add_callbacks is a no-op


def add_callbacks(
    model: Any, reporter: Reporter | None = None, **reporter_kwargs: Any
) -> MlopsYoloCallbacks:
    """Report `model.train(...)` of an `ultralytics.YOLO` model; returns the callbacks.

    `reporter`, or one built from `reporter_kwargs` (job=…, url=…, secret=…) and env."""
    attached = getattr(model, _ATTACHED, None)
    if isinstance(attached, MlopsYoloCallbacks):
        return attached
    callbacks = MlopsYoloCallbacks(
        reporter if reporter is not None else Reporter(**reporter_kwargs)
    )
    for event, handler in callbacks.handlers().items():
        model.add_callback(event, handler)
    model.train = callbacks.wrap_train(model.train)
    setattr(model, _ATTACHED, callbacks)
    return callbacks


class MlopsYoloCallbacks:
    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter
        self._training_epoch: int | None = None  # Ultralytics' 0-based epoch being trained
        self._epochs_done = 0
        self._validated = False

    def handlers(self) -> dict[str, Callable[[Any], None]]:
        return {
            "on_pretrain_routine_start": self.on_pretrain_routine_start,
            "on_train_epoch_start": self.on_train_epoch_start,
            "on_val_end": self.on_val_end,
            "on_fit_epoch_end": self.on_fit_epoch_end,
            "on_train_end": self.on_train_end,
        }

    def wrap_train(self, train: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(train)
        def train_reported(*args: Any, **kwargs: Any) -> Any:
            try:
                return train(*args, **kwargs)
            except BaseException as exc:
                fields = {} if self._training_epoch is None else {"epoch": self._training_epoch + 1}
                self.reporter.crashed(exc, **fields)
                raise

        return train_reported

    # -- Ultralytics events (each gets the trainer, or the validator for on_val_end) --------

    def on_pretrain_routine_start(self, trainer: Any) -> None:
        with _reporting("on_pretrain_routine_start"):
            args = trainer.args
            self.reporter.started(
                max_epochs=args.epochs,
                imgsz=args.imgsz,
                batch=args.batch,
                data=str(args.data),
                model=str(args.model),
                device=str(args.device),
                task=args.task,
            )

    def on_train_epoch_start(self, trainer: Any) -> None:
        self._training_epoch = trainer.epoch
        self._validated = False

    def on_val_end(self, validator: Any) -> None:
        self._validated = True

    def on_fit_epoch_end(self, trainer: Any) -> None:
        with _reporting("on_fit_epoch_end"):
            if trainer.epoch != self._training_epoch:  # no epoch was trained: the final check
                self.reporter.event(
                    "final_validation",
                    weights=str(trainer.best),
                    epochs=self._epochs_done,
                    metrics=numbers(trainer.metrics),
                )
                return
            metrics: dict[str, float] = {}
            if self._validated:
                metrics.update(numbers(trainer.metrics))
                metrics.update(numbers({"fitness": trainer.fitness}))
            if trainer.tloss is not None:
                metrics.update(numbers(trainer.label_loss_items(trainer.tloss, prefix="train")))
            metrics.update(numbers(trainer.lr))
            metrics.update(numbers({"best_fitness": trainer.best_fitness}))
            self._epochs_done = trainer.epoch + 1
            self.reporter.epoch(self._epochs_done, total=trainer.epochs, metrics=metrics)

    def on_train_end(self, trainer: Any) -> None:
        with _reporting("on_train_end"):
            self.reporter.finished(
                best_fitness=_number(trainer.best_fitness),
                best_weights=str(trainer.best) if trainer.best.exists() else None,
                epochs=self._epochs_done,
                total=trainer.epochs,
            )

    # -- DDP: Ultralytics pickles the callbacks into each worker --------------------------

    def __getstate__(self) -> dict[str, Any]:
        return {"job": self.reporter.config.job}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(Reporter(job=state["job"]))  # type: ignore[misc]


def numbers(values: Mapping[str, Any] | None) -> dict[str, float]:
    """The entries that are single numbers, as plain floats (numpy and tensor scalars
    included); anything else (None, strings, vectors) is left out."""
    out: dict[str, float] = {}
    for name, value in (values or {}).items():
        number = _number(value)
        if number is not None:
            out[str(name)] = number
    return out


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, (bool, str)):
        return None
    numel = getattr(value, "numel", None)  # a tensor
    if callable(numel) and numel() != 1:
        return None
    size = getattr(value, "size", None)  # a numpy array
    if isinstance(size, int) and size != 1:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


_warned: set[str] = set()


@contextlib.contextmanager
def _reporting(where: str) -> Iterator[None]:
    """Swallow and log (once per callback) what a callback raised: reporting must never
    stop a training run."""
    try:
        yield
    except Exception as exc:
        if where not in _warned:
            _warned.add(where)
            log.warning("mlops_reporter: %s could not be reported: %r", where, exc)
