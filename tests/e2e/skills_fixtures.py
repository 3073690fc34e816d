"""Real backends for the skills' end-to-end tests: MLflow runs, a dataset tree, local jobs.

Each builder returns what the tests assert against (run names and their exact
curve values, job names), so an assertion can only pass if that data came
through the skill, opencode and the chat bridge.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric

from mcp_servers.aiqu.backends.base import JobSpec
from mcp_servers.aiqu.backends.local import LocalScheduler
from tests.fakes.model import ModelRequest, Reply

STEPS = 300
HEADER = re.compile(r"^\[turn_id=(?P<turn_id>\S+) conversation=(?P<conversation>\S+) ")


@dataclass(frozen=True)
class LoggedRun:
    run_name: str
    job: str
    run_id: str
    values: list[float]  # val_loss per step 0..STEPS-1

    @property
    def best(self) -> tuple[int, float]:
        step = min(range(len(self.values)), key=self.values.__getitem__)
        return step, self.values[step]

    @property
    def last(self) -> tuple[int, float]:
        return len(self.values) - 1, self.values[-1]


def overfitting_curve(step: int) -> float:
    """Falls to 0.5 at step 200, then rises: best and last differ, both exactly known."""
    return 0.5 + ((step - 200) / 200) ** 2


def steady_curve(step: int) -> float:
    return 0.3 + 0.7 / (1 + step / 50)


def log_runs(tracking_uri: str) -> dict[str, LoggedRun]:
    """Two runs of one job in a real MLflow server, val_loss over STEPS steps, newest last."""
    with _quiet_mlflow():
        return _log_runs(MlflowClient(tracking_uri))


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """MLflow prints run URLs to stdout when a run ends unless told not to (read per call)."""
    key = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"
    before = os.environ.get(key)
    os.environ[key] = "true"
    try:
        yield
    finally:
        if before is None:
            del os.environ[key]
        else:
            os.environ[key] = before


def _log_runs(client: MlflowClient) -> dict[str, LoggedRun]:
    experiment = client.create_experiment("pcb-yolo")
    runs: dict[str, LoggedRun] = {}
    for run_name, job, curve in (
        ("yolo-lr-1e-3", "cust-s/pcb-yolo-a", steady_curve),
        ("yolo-lr-3e-3", "cust-s/pcb-yolo-b", overfitting_curve),
    ):
        run = client.create_run(experiment, run_name=run_name, tags={"mlops.job": job})
        run_id = run.info.run_id
        values = [curve(s) for s in range(STEPS)]
        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric("val_loss", v, now + s, s) for s, v in enumerate(values)],
            params=[],
        )
        client.log_param(run_id, "lr", run_name.removeprefix("yolo-lr-"))
        client.set_terminated(run_id)
        runs[run_name] = LoggedRun(run_name, job, run_id, values)
    return runs


def submit_sleep_jobs(scheduler: LocalScheduler, names: list[str], person: str) -> list[str]:
    """Jobs a person submitted (one GPU each), started by the scheduler; their ids."""
    ids = [
        scheduler.submit(
            JobSpec(name=name, command=["sleep", "600"], gpus=1, labels={"submitted_by": person})
        ).id
        for name in names
    ]
    deadline = time.monotonic() + 20
    while any(scheduler.get(i).state.value != "running" for i in ids):
        if time.monotonic() > deadline:
            states = {i: scheduler.get(i).state.value for i in ids}
            raise TimeoutError(f"jobs did not start within 20 s: {states}")
        time.sleep(0.1)
    return ids


def stop_jobs(scheduler: LocalScheduler, ids: list[str]) -> None:
    for job_id in ids:
        if scheduler.get(job_id).state.active:
            scheduler.cancel(job_id)


# -- the scripted model's side ------------------------------------------------


def turn_id_of(request: ModelRequest) -> str:
    """The turn id from the header the supervisor puts on every turn, as a model reads it."""
    for message in reversed(request.messages):
        if message["role"] == "user":
            text = message["content"]
            if isinstance(text, list):
                text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
            found = HEADER.match(text)
            if found:
                return found["turn_id"]
    raise AssertionError("no turn header in the request: " + request.last_user_text[:200])


def tool_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")


def tool_json(message: dict[str, Any]) -> Any:
    return json.loads(tool_text(message))


@dataclass
class OneToolCall:
    """A model that answers a person's message with one tool call, then with text built
    from the tool's result (`render`) once the result is the last message it sees.

    `results` keeps each tool message the model received; `timings` the seconds between
    the model asking for the tool and the result reaching it (opencode + MCP + backend).
    """

    tool: str
    arguments: dict[str, Any]
    render: Callable[[dict[str, Any]], str]
    results: list[dict[str, Any]]
    timings: list[float]
    turn_ids: list[str]
    _asked_at: float = 0.0

    @classmethod
    def of(
        cls, tool: str, arguments: dict[str, Any], render: Callable[[dict[str, Any]], str]
    ) -> OneToolCall:
        return cls(tool, arguments, render, [], [], [])

    def __call__(self, request: ModelRequest) -> Reply:
        last = request.messages[-1]
        if last["role"] == "user":
            self.turn_ids.append(turn_id_of(request))
            self._asked_at = time.monotonic()
            return Reply.tool_calls((self.tool, self.arguments))
        if last["role"] == "tool":
            self.timings.append(time.monotonic() - self._asked_at)
            self.results.append(last)
            return Reply.text(self.render(last))
        return Reply.text(f"unexpected last message role {last['role']!r}")
