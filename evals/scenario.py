"""What a scenario file says: setup, timeline, expectations (see evals/scenarios/README.md).

Plain data, validated on load. Names here are the scenario's own; the runner
gives each run its own copies (`namespace.py`), so runs never share a
conversation.
"""

from __future__ import annotations

import re
from datetime import time as clock_time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from core.clock import parse_hhmm
from evals.cast import person
from evals.timing import parse_offset

JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,100}")
SWEEP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,60}")
STEP_KINDS = ("event", "events", "message", "click", "tick", "scheduler", "wait")
DIFFICULTIES = ("easy", "medium", "hard")
MESSAGE_THREADS = (
    "dm (a new DM), channel (a new message in the notify channel), previous, job:<name>, sweep:<id>"
)


def _job_name(value: object) -> object:
    if isinstance(value, str) and not JOB_NAME.fullmatch(value):
        raise ValueError(
            f"job name {value!r}: letters, digits and . _ / - (up to 100), e.g. 'team/pcb-v2'"
        )
    return value


def _person(value: object) -> object:
    if isinstance(value, str):
        person(value)
    return value


JobName = Annotated[str, BeforeValidator(_job_name)]
PersonName = Annotated[str, BeforeValidator(_person)]
Offset = Annotated[float, BeforeValidator(parse_offset)]
FiniteNumber = Annotated[float, Field(allow_inf_nan=False)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# -- setup -------------------------------------------------------------------------


class Curve(Strict):
    """A metric history from `start` to `end` over `steps` steps."""

    start: float
    end: float
    steps: int = Field(ge=2, le=2000)
    shape: Literal["exp", "linear"] = "exp"


MetricValues = list[float | Literal["nan"]] | Curve


class JobSetup(Strict):
    name: JobName
    by: str = "ann"  # the person who submitted it (a label, as the scheduler records it)
    state: Literal["running", "failed", "succeeded"] = "running"
    gpus: int = Field(1, ge=0, le=8)
    log: str = ""  # what the job printed
    exit_code: int = Field(1, ge=1, le=255)  # a failed job's
    time_limit_min: int | None = Field(None, ge=1)  # the scheduler stops it after this


class RunSetup(Strict):
    name: str
    job: JobName | None = None  # tagged mlops.job, as the reporter tags runs
    experiment: str = "training"
    status: Literal["FINISHED", "FAILED", "RUNNING", "KILLED"] = "FINISHED"
    params: dict[str, str | int | float] = {}
    metrics: dict[str, MetricValues] = {}
    tags: dict[str, str] = {}


class DatasetVersion(Strict):
    images: int = Field(ge=1, le=400)
    classes: list[str] = Field(["defect"], min_length=1)
    broken_labels: int = Field(0, ge=0)  # label files with a class id outside `classes`
    relabelled: int = Field(0, ge=0)  # the first N images get a different class


class RepoSetup(Strict):
    files: dict[str, str]
    allow: list[str] = ["configs/**"]


class TrialSetup(Strict):
    params: dict[str, float | int | str]
    state: Literal["running", "complete", "pruned"] = "running"
    value: float | None = None  # a complete trial's objective
    note: str = "pruned by a person"  # a pruned trial's reason
    metrics: dict[str, MetricValues] = {}  # its MLflow run, named after its job

    @model_validator(mode="after")
    def _value(self) -> TrialSetup:
        if self.state == "complete" and self.value is None:
            raise ValueError("a complete trial needs its value")
        return self


class SweepSetup(Strict):
    id: str
    base_job: JobName
    objective: str = "val_loss"
    direction: Literal["minimize", "maximize"] = "minimize"
    space: dict[str, dict[str, Any]]
    max_trials: int = Field(8, ge=1, le=100)
    max_parallel: int = Field(2, ge=1, le=8)
    trials: list[TrialSetup] = []

    @model_validator(mode="after")
    def _id(self) -> SweepSetup:
        if not SWEEP_ID.fullmatch(self.id):
            raise ValueError(f"sweep id {self.id!r}: letters, digits and . _ - (up to 60)")
        return self


class Setup(Strict):
    jobs: list[JobSetup] = []
    runs: list[RunSetup] = []
    datasets: dict[str, dict[str, DatasetVersion]] = {}
    repos: dict[str, RepoSetup] = {}
    sweeps: list[SweepSetup] = []


# -- timeline ----------------------------------------------------------------------


class Message(Strict):
    sender: PersonName = Field(alias="from")
    text: str = Field(min_length=1)
    thread: str = "dm"

    @model_validator(mode="after")
    def _thread(self) -> Message:
        if self.thread in ("dm", "channel", "previous"):
            return self
        kind, _, name = self.thread.partition(":")
        if kind not in ("job", "sweep") or not name:
            raise ValueError(f"thread {self.thread!r}: one of {MESSAGE_THREADS}")
        return self


class Click(Strict):
    action: Literal["approve", "reject"]
    sender: PersonName = Field(alias="from")
    card: Literal["latest"] | int = "latest"  # or the n-th card of the scenario, from 1


class SchedulerAction(Strict):
    """What happens to a running setup job outside the service, with no word from the job:
    the kernel's OOM killer (`kill`: SIGKILL), its time limit passing (`timeout`), a
    preemption that queues it again (`preempt`), a colleague's cancel (`cancel`, `by`)."""

    kill: JobName | None = None
    timeout: JobName | None = None
    preempt: JobName | None = None
    cancel: JobName | None = None
    by: str = "bob"

    @model_validator(mode="after")
    def _one(self) -> SchedulerAction:
        if len([a for a in ("kill", "timeout", "preempt", "cancel") if getattr(self, a)]) != 1:
            raise ValueError("one of kill, timeout, preempt, cancel: the job it happens to")
        return self

    @property
    def action(self) -> tuple[str, str]:
        """(what, job)"""
        return next(
            (a, getattr(self, a))
            for a in ("kill", "timeout", "preempt", "cancel")
            if getattr(self, a)
        )


Words = Annotated[str, Field(min_length=1)]


class Expect(Strict):
    speak: bool
    max_messages: int | None = Field(None, ge=1)
    # Each entry a word, a phrase or a `stem*`; a list entry is met by any one of its words.
    contains: list[Words | list[Words]] = []
    numbers: list[FiniteNumber] = []
    absent: list[Words] = []
    max_chars: int | None = Field(None, ge=1)  # default: scoring.DEFAULT_MAX_CHARS
    no_raw_json: bool | None = None  # default: checked; false for a step that asks for JSON
    attachment: bool | None = None
    called: list[str] = []
    not_called: list[str] = []
    max_calls: dict[str, int] = {}
    card: bool | None = None
    remote: Literal["changed", "unchanged"] | None = None
    cancelled: list[JobName] = []
    started: list[JobName] = []
    rubric: str | None = None  # for the optional judge only

    @model_validator(mode="after")
    def _spoken_content(self) -> Expect:
        wanted = [k for k in ("contains", "numbers", "attachment", "rubric") if getattr(self, k)]
        if not self.speak and wanted:
            raise ValueError(f"{', '.join(wanted)} need speak: true (a silent step posts nothing)")
        return self


class Step(Strict):
    at: Offset = 0.0
    event: dict[str, Any] | None = None
    repeat: int = Field(1, ge=1, le=200)  # an `event` sent N times at once; {n} counts 1..N
    events: list[dict[str, Any]] | None = None
    message: Message | None = None
    click: Click | None = None
    tick: Literal["check", "digest", "watch"] | None = None
    scheduler: SchedulerAction | None = None
    # Nothing is sent: scenario time passes to `at:` and the service's timers run
    # (the scenario's `clock.check_every` and `clock.digest`).
    wait: Literal[True] | None = None
    expect: Expect

    @model_validator(mode="before")
    @classmethod
    def _one_kind(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError(f"a step is a mapping with one of: {', '.join(STEP_KINDS)}")
        kinds = [k for k in STEP_KINDS if k in data]
        unknown = [k for k in data if k not in (*STEP_KINDS, "at", "expect", "repeat")]
        if unknown and not kinds:
            raise ValueError(f"unknown step kind {unknown[0]!r}; valid: {', '.join(STEP_KINDS)}")
        if not kinds:
            raise ValueError(f"the step has no kind; give one of: {', '.join(STEP_KINDS)}")
        if len(kinds) > 1:
            raise ValueError(f"one kind per step, got {' and '.join(kinds)}")
        if "expect" not in data:
            raise ValueError("missing expectation: every step needs expect: {speak: true|false}")
        if isinstance(data.get("expect"), dict) and "speak" not in data["expect"]:
            raise ValueError("missing expectation: expect.speak must be true or false")
        return data

    @model_validator(mode="after")
    def _events(self) -> Step:
        for event in self.sent_events_template():
            bad = [f for f in ("type", "job") if not isinstance(event.get(f), str) or not event[f]]
            if bad:
                raise ValueError(f"an event needs {' and '.join(bad)} (non-empty text)")
        if self.repeat > 1 and self.event is None:
            raise ValueError("repeat applies to a single `event`")
        jobs = {e["job"] for e in self.sent_events_template()}
        if len(jobs) > 1:
            raise ValueError(f"the events of one step concern one job, got {sorted(jobs)}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in STEP_KINDS if getattr(self, k) is not None)

    def sent_events_template(self) -> list[dict[str, Any]]:
        if self.event is not None:
            return [self.event]
        return list(self.events or [])


def _hhmm(value: object) -> object:
    if isinstance(value, str):
        return parse_hhmm(value, "a time of day")
    return value


TimeOfDay = Annotated[clock_time, BeforeValidator(_hhmm)]


class ScenarioClock(Strict):
    """The scenario's virtual time (no real waiting; see evals/scenario_clock.py)."""

    start: TimeOfDay | None = None  # the time of day (UTC) at 0s; default: in the working day
    check_every: Offset | None = (
        None  # the scheduled check of active sweeps, like MLOPS_TICK_INTERVAL
    )
    digest: TimeOfDay | None = None  # the morning digest, like MLOPS_DIGEST_TIME

    @model_validator(mode="after")
    def _interval(self) -> ScenarioClock:
        if self.check_every is not None and self.check_every < 60:
            raise ValueError("check_every: at least 1m (the service's minimum)")
        return self


class Scenario(Strict):
    id: str
    title: str
    tags: list[str] = Field(min_length=1)
    clock: ScenarioClock = ScenarioClock()
    setup: Setup = Setup()
    timeline: list[Step] = Field(min_length=1)
    path: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _difficulty(self) -> Scenario:
        found = [t for t in self.tags if t in DIFFICULTIES]
        if len(found) != 1:
            raise ValueError(
                f"tags: exactly one difficulty of {', '.join(DIFFICULTIES)}, got {found or 'none'}"
            )
        return self

    @property
    def difficulty(self) -> str:
        return next(t for t in self.tags if t in DIFFICULTIES)

    def declared_jobs(self) -> set[str]:
        names = {j.name for j in self.setup.jobs} | {r.job for r in self.setup.runs if r.job}
        for step in self.timeline:
            names |= {e["job"] for e in step.sent_events_template()}
        for sweep in self.setup.sweeps:
            names |= {f"{sweep.id}/trial-{n}" for n in range(len(sweep.trials))}
        return names
