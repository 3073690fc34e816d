"""An eval session: what is shared across every scenario run, and the loop that runs them.

Started once: one MLflow server, the recording proxy, and `concurrency`
stages (each a whole service with its own fixtures). Each scenario run then
costs only its own setup and teardown. Runs are handed to whichever stage is
free; a stage left busy by a run (a model that never answers) is restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from agent.service.mlflow_server import MlflowServer
from evals.errors import EvalError
from evals.judge import Judge
from evals.namespace import Namespace
from evals.play import Playthrough
from evals.proxy import RecordingProxy
from evals.records import ScenarioRecord
from evals.scenario import Scenario
from evals.scenario_clock import scenario_start
from evals.stage import ModelTarget, Stage

log = logging.getLogger(__name__)
DEFAULT_BRIEF = Path(__file__).resolve().parent.parent / "brief"
MLFLOW_START_S = 180.0


@dataclass
class SessionOptions:
    target: ModelTarget
    brief_dir: Path = DEFAULT_BRIEF
    concurrency: int = 1
    turn_timeout_s: float = 300.0
    step_timeout_s: float | None = None  # default: two turns' worth
    workdir: Path | None = None  # default: a temporary directory, removed afterwards
    opencode_bin: Path | None = None
    judge: Judge | None = None
    repos: dict[str, tuple[str, ...]] = field(default_factory=dict)


def repos_of(scenarios: list[Scenario]) -> dict[str, tuple[str, ...]]:
    """The training repos every scenario may use, each with the paths writable in it."""
    repos: dict[str, tuple[str, ...]] = {}
    for s in scenarios:
        for name, repo in s.setup.repos.items():
            allow = tuple(repo.allow)
            if repos.setdefault(name, allow) != allow:
                raise EvalError(
                    f"scenario {s.id}: repo {name!r} allows {list(allow)}, another scenario"
                    f" {list(repos[name])}: one service has one setting per repo"
                )
    return repos


class EvalSession:
    def __init__(self, options: SessionOptions) -> None:
        self.options = options
        self.proxy = RecordingProxy(options.target.base_url, None)
        self.stages: list[Stage] = []
        self.mlflow: MlflowServer | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.startup_s = 0.0

    @property
    def step_timeout_s(self) -> float:
        return self.options.step_timeout_s or 2 * self.options.turn_timeout_s + 30

    async def __aenter__(self) -> EvalSession:
        started = time.monotonic()
        root = self.options.workdir
        if root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mlops-eval-")
            root = Path(self._tmp.name)
        elif root.exists() and any(root.iterdir()):
            raise EvalError(f"--workdir {root}: not empty; an earlier run's state would mix in")
        root.mkdir(parents=True, exist_ok=True)
        try:
            # Started once per session: a slow start on a busy machine is no reason to give up.
            self.mlflow = MlflowServer(root / "mlflow", start_timeout_s=MLFLOW_START_S).start()
            await self.proxy.start()
            for i in range(max(1, self.options.concurrency)):
                stage = Stage(
                    root / f"stage-{i}",
                    proxy_url=self.proxy.url,
                    target=self.options.target,
                    brief_dir=self.options.brief_dir,
                    repos=self.options.repos,
                    tracking_uri=self.mlflow.uri,
                    turn_timeout_s=self.options.turn_timeout_s,
                    opencode_bin=self.options.opencode_bin,
                )
                self.stages.append(stage)
                await stage.start()
                await stage.warm_up(self.proxy, self.step_timeout_s)
        except BaseException:
            await self._close()
            raise
        self.startup_s = time.monotonic() - started
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._close()

    async def _close(self) -> None:
        for stage in self.stages:
            with _logged("stopping a stage"):
                await stage.stop()
        await self.proxy.stop()
        if self.mlflow is not None:
            await asyncio.to_thread(self.mlflow.stop)
        if self._tmp is not None:
            self._tmp.cleanup()

    async def run(
        self,
        scenarios: list[Scenario],
        repeat: int = 1,
        on_record: Callable[[ScenarioRecord], None] | None = None,
    ) -> list[ScenarioRecord]:
        """Every scenario `repeat` times; records in scenario order, then repeat order.

        `on_record` gets each run as soon as it is finished (and graded, with a judge):
        the CLI writes the results file there, so a crash or a kill loses nothing."""
        jobs: asyncio.Queue[tuple[int, Scenario, int]] = asyncio.Queue()
        order = [(s, n) for n in range(1, repeat + 1) for s in scenarios]
        for i, (scenario, n) in enumerate(order):
            jobs.put_nowait((i, scenario, n))
        results: dict[int, ScenarioRecord] = {}

        async def worker(stage: Stage) -> None:
            while not jobs.empty():
                i, scenario, n = jobs.get_nowait()
                record = await self.run_one(stage, scenario, n)
                if self.options.judge is not None:
                    await self.options.judge.grade([record])
                results[i] = record
                if on_record is not None:
                    on_record(record)

        await asyncio.gather(*(worker(stage) for stage in self.stages))
        records = [results[i] for i in range(len(order))]
        return sorted(
            records, key=lambda r: ([s.id for s in scenarios].index(r.scenario), r.repeat)
        )

    async def run_one(self, stage: Stage, scenario: Scenario, repeat: int) -> ScenarioRecord:
        tag = stage.next_tag(f"e{self.stages.index(stage)}x" if len(self.stages) > 1 else "e")
        ns = Namespace.for_run(scenario, tag)
        record = ScenarioRecord(scenario.id, scenario.title, list(scenario.tags), repeat, tag)
        started = time.monotonic()
        prepared = None
        # The scenario's 0s on the stage's clock: its setup is stamped then.
        start = stage.clock.advance_to(scenario_start(stage.clock.now(), scenario.clock.start))
        try:
            prepared = await asyncio.to_thread(stage.world.prepare, scenario, ns)
        except Exception as exc:
            record.error = f"setup failed: {exc}"
        record.setup_s = time.monotonic() - started
        if prepared is not None:
            play = Playthrough(stage, self.proxy, scenario, ns, self.step_timeout_s, start)
            try:
                await play.run(record)
            except Exception as exc:
                # One scenario's failure, whatever caused it, is that scenario's result.
                log.exception("scenario %s failed in the harness", scenario.id)
                record.error = f"harness error: {exc!r}"[:1000]
        cleaning = time.monotonic()
        if not await stage.records.settled(self.step_timeout_s):
            log.warning("scenario %s left the service busy; restarting it", scenario.id)
            await stage.restart()
        if prepared is not None:
            try:
                await asyncio.to_thread(stage.world.clean, prepared)
            except Exception as exc:
                record.error = record.error or f"teardown failed: {exc}"
        record.teardown_s = time.monotonic() - cleaning
        record.seconds = time.monotonic() - started
        return record


@contextlib.contextmanager
def _logged(what: str) -> Iterator[None]:
    try:
        yield
    except Exception:
        log.exception("%s failed", what)
