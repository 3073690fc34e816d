"""`Reporter`: what a training script calls. Every method returns at once.

    reporter = Reporter(job="resnet50")          # or MLOPS_JOB, MLOPS_URL, MLOPS_WEBHOOK_SECRET
    with reporter.run(lr=3e-4):                  # started, then finished or crashed
        for epoch in range(1, 11):
            ...
            reporter.epoch(epoch, total=10, metrics={"loss": loss})

Every event carries `owner`, whose job it is: the `owner=` argument, else `MLOPS_OWNER`,
else the scheduler's `submitted_by` label, else the OS user.

Only rank 0 reports (by `RANK`, else `LOCAL_RANK`), except `crashed`, which every rank
reports. Without a URL or secret the reporter does nothing and says so once on stderr.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from mlops_reporter.config import ReporterConfig, load_config
from mlops_reporter.environment import active_mlflow_run_id, gpu_count, host_name, process_rank
from mlops_reporter.events import crash_fields
from mlops_reporter.sender import Sender, SenderStats
from mlops_reporter.spool import Spool

log = logging.getLogger("mlops_reporter")
_warned: set[str] = set()

P = ParamSpec("P")
R = TypeVar("R")


class Reporter:
    def __init__(
        self,
        job: str | None = None,
        url: str | None = None,
        secret: str | None = None,
        *,
        attempt: int | None = None,
        labels: Mapping[str, Any] | None = None,
        owner: str | None = None,
        spool_dir: str | Path | None = None,
        queue_size: int = 1000,
        timeout_s: float = 5.0,
        retry_base_s: float = 0.5,
        retry_max_s: float = 30.0,
        flush_timeout_s: float = 2.0,
        crash_flush_timeout_s: float = 10.0,
    ) -> None:
        self.config: ReporterConfig = load_config(
            job, url, secret, attempt, labels, spool_dir, owner=owner
        )
        self.rank = process_rank(os.environ)
        self._flush_timeout_s = flush_timeout_s
        self._crash_flush_timeout_s = crash_flush_timeout_s
        self._crash_reported = False
        for problem in self.config.problems:
            if problem not in _warned:  # once per process, however many reporters
                _warned.add(problem)
                log.warning("mlops_reporter: %s", problem)

        self._sender: Sender | None = None
        if self.config.enabled:
            assert self.config.endpoint is not None and self.config.webhook is not None
            self._sender = Sender(
                self.config.endpoint,
                self.config.webhook,
                Spool(self.config.spool_dir, self.config.job),
                self.config.job,
                self._context,
                max_queue=queue_size,
                timeout_s=timeout_s,
                retry_base_s=retry_base_s,
                retry_max_s=retry_max_s,
            )
            atexit.register(self._at_exit)
        # The hot path tests one attribute: off, or not rank 0, means "do nothing".
        self._reports = self._sender is not None and self.rank == 0

    @property
    def enabled(self) -> bool:
        """True when events leave this process (configured, and rank 0)."""
        return self._reports

    @property
    def stats(self) -> SenderStats:
        return self._sender.stats if self._sender is not None else SenderStats()

    @property
    def spool_path(self) -> Path:
        return Spool(self.config.spool_dir, self.config.job).path

    # -- events ----------------------------------------------------------------------

    def event(self, type: str, **fields: Any) -> None:
        """Any event; `type` names it (e.g. "checkpoint_saved"), fields are free-form."""
        if self._reports:
            self._submit(type, fields)

    def started(self, **fields: Any) -> None:
        if self._reports:
            self._submit("started", fields)

    def epoch(
        self,
        epoch: int,
        total: int | None = None,
        metrics: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        """Epoch `epoch` (of `total`) ended; `metrics` e.g. {"loss": 0.41, "val_map": 0.62}.

        Tensors are fine: they are read with `.item()` on the background thread, so the
        training thread never waits for a GPU sync here."""
        if not self._reports:
            return
        fields["epoch"] = epoch
        if total is not None:
            fields["total"] = total
        if metrics is not None:
            fields["metrics"] = dict(metrics)  # the caller may reuse its dict
        self._submit("epoch", fields)

    def milestone(self, name: str, **fields: Any) -> None:
        if self._reports:
            fields["name"] = name
            self._submit("milestone", fields)

    def finished(self, metrics: Mapping[str, Any] | None = None, **fields: Any) -> None:
        if self._reports:
            if metrics is not None:
                fields["metrics"] = dict(metrics)
            self._submit("finished", fields)

    def crashed(self, exc: BaseException | None = None, **fields: Any) -> None:
        """Report a crash (from any rank): type, message and the traceback's tail.
        Without `exc`, the exception being handled right now is reported."""
        if self._sender is None:
            return
        exc = exc if exc is not None else sys.exc_info()[1]
        if exc is not None:
            fields.update(crash_fields(exc))
        self._crash_reported = True
        self._submit("crashed", fields)

    # -- scopes ----------------------------------------------------------------------

    @contextlib.contextmanager
    def run(self, **fields: Any) -> Iterator[Reporter]:
        """`with reporter.run(**fields):` or `@reporter.run()`: reports `started`, then
        `finished` on success or `crashed` on any exception, which is re-raised."""
        self.started(**fields)
        try:
            yield self
        except SystemExit as exc:
            if exc.code in (None, 0):
                self.finished()
            else:
                self.crashed(exc)
            raise
        except BaseException as exc:
            self.crashed(exc)
            raise
        else:
            self.finished()

    def report_uncaught(self) -> None:
        """Report an exception that escapes to the top of the main thread as `crashed`
        (for frameworks without an exception hook, e.g. transformers' Trainer)."""
        previous = sys.excepthook
        if getattr(previous, "_mlops_reporter", None) is self:
            return

        def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
            self.crashed(exc)
            previous(kind, exc, tb)

        hook._mlops_reporter = self  # type: ignore[attr-defined]
        sys.excepthook = hook

    # -- delivery --------------------------------------------------------------------

    def flush(self, timeout_s: float = 2.0) -> bool:
        """Wait until every event so far was sent, rejected or spooled (True) or time ran out."""
        return True if self._sender is None else self._sender.flush(timeout_s)

    def close(self, timeout_s: float | None = None) -> bool:
        """Bounded final flush (the atexit hook calls it); unsent events stay in the spool.
        Returns True when nothing is left for a later run."""
        if self._sender is None:
            return True
        atexit.unregister(self._at_exit)
        if timeout_s is None:
            timeout_s = (
                self._crash_flush_timeout_s if self._crash_reported else self._flush_timeout_s
            )
        return self._sender.close(timeout_s, urgent=self._crash_reported)

    def _at_exit(self) -> None:
        self.close()

    def _submit(self, type: str, fields: dict[str, Any]) -> None:
        assert self._sender is not None
        fields["type"] = type
        fields["ts"] = time.time()
        if "mlflow" in sys.modules:
            run_id = active_mlflow_run_id(sys.modules)
            if run_id is not None:
                fields["mlflow_run_id"] = run_id
        self._sender.submit(fields)

    def _context(self) -> dict[str, Any]:
        return {
            "attempt": self.config.attempt,
            "host": host_name(),
            "gpus": gpu_count(os.environ, sys.modules),
            "rank": self.rank,
            "labels": self.config.labels,
            "owner": self.config.owner,
        }


def report(
    func: Callable[P, R] | None = None,
    /,
    *,
    job: str | None = None,
    url: str | None = None,
    secret: str | None = None,
    **fields: Any,
) -> Any:
    """Decorator: `@report` or `@report(job="resnet50")` around a training function
    reports started / finished / crashed (re-raising) for each call. The call is the whole
    run, so its reporter is closed when it returns (the bounded exit flush, done early)."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            reporter = Reporter(job=job, url=url, secret=secret)
            try:
                with reporter.run(**fields):
                    return fn(*args, **kwargs)
            finally:
                reporter.close()

        return wrapper

    return decorate(func) if func is not None else decorate
