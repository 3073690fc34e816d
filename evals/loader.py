"""Load scenario files, validating each with errors that name the file and the line.

One YAML file per scenario (`<dir>/<id>.yaml`). Every problem in every file is
reported at once, each as `path:line: where: what`, so a person fixes a suite
in one pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from evals.cast import SCHEDULER_GPUS
from evals.errors import ScenarioError
from evals.scenario import Scenario
from evals.yaml_lines import YamlProblem, line_of, load

DEFAULT_DIR = Path(__file__).resolve().parent / "scenarios"


def load_file(path: Path) -> Scenario:
    scenario, problems = _load(path)
    if scenario is None:
        raise ScenarioError(problems)
    return scenario


def load_suite(
    directories: Path | Sequence[Path] = DEFAULT_DIR,
    suites: Iterable[str] = (),
    ids: Iterable[str] = (),
) -> list[Scenario]:
    """The scenarios of one or more folders, each in file-name order, narrowed to tags
    and/or ids. An id (a file name) may appear in one folder only."""
    folders = [directories] if isinstance(directories, Path | str) else list(directories)
    problems: list[str] = []
    scenarios: list[Scenario] = []
    where: dict[str, Path] = {}
    for directory in folders:
        files = sorted(Path(directory).glob("*.yaml"))
        if not files:
            problems.append(f"{directory}: no scenario files (*.yaml)")
        for path in files:
            scenario, found = _load(path)
            problems += found
            if scenario is None:
                continue
            if scenario.id in where:
                problems.append(
                    f"{path}: scenario id {scenario.id!r} is also {where[scenario.id]}:"
                    " rename one of them"
                )
                continue
            where[scenario.id] = path
            scenarios.append(scenario)
    if problems:
        raise ScenarioError(problems)
    return select(scenarios, suites, ids)


def select(scenarios: list[Scenario], suites: Iterable[str], ids: Iterable[str]) -> list[Scenario]:
    suites, ids = set(suites), set(ids)
    known_tags = sorted({t for s in scenarios for t in s.tags})
    known_ids = {s.id for s in scenarios}
    problems = [
        f"unknown suite {t!r}; suites: {', '.join(known_tags)}" for t in suites - set(known_tags)
    ]
    problems += [f"unknown scenario {i!r}; see evals/scenarios/*.yaml" for i in ids - known_ids]
    if problems:
        raise ScenarioError(problems)
    chosen = [
        s for s in scenarios if (not suites or suites & set(s.tags)) and (not ids or s.id in ids)
    ]
    if not chosen:
        raise ScenarioError(["no scenario matches both --suite and --scenario"])
    return chosen


def _load(path: Path) -> tuple[Scenario | None, list[str]]:
    try:
        data, lines = load(path.read_text(encoding="utf-8"))
    except YamlProblem as exc:
        return None, [f"{path}:{exc.line}: {exc.message}"]
    except OSError as exc:
        return None, [f"{path}: cannot read: {exc.strerror}"]
    if not isinstance(data, dict):
        return None, [f"{path}:1: a scenario is a mapping with title, tags, setup, timeline"]
    data.setdefault("id", path.stem)
    try:
        scenario = Scenario.model_validate({**data, "path": path})
    except ValidationError as exc:
        return None, [_problem(path, lines, err) for err in exc.errors()]
    problems = [f"{path}:{line_of(lines, loc)}: {msg}" for loc, msg in _cross_checks(scenario)]
    return (None if problems else scenario), problems


def _problem(path: Path, lines: dict[Any, int], err: Any) -> str:
    loc = tuple(err["loc"])
    where = _dotted(loc)
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "missing":
        message = f"missing {loc[-1]!r}" if loc else "missing value"
        loc = loc[:-1]
    elif err["type"] == "extra_forbidden":
        message = f"unknown field {loc[-1]!r}"
    return (
        f"{path}:{line_of(lines, loc)}: {where}: {message}"
        if where
        else f"{path}:{line_of(lines, loc)}: {message}"
    )


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "literal[", "list[", "dict[", "float", "int")):
            continue  # pydantic's union-branch names: noise to a scenario author
        else:
            out += f".{part}" if out else str(part)
    return out


def _cross_checks(s: Scenario) -> list[tuple[tuple[Any, ...], str]]:
    found: list[tuple[tuple[Any, ...], str]] = []
    previous = 0.0
    for i, step in enumerate(s.timeline):
        if step.at < previous:
            found.append(
                (("timeline", i, "at"), f"bad time: {step.at:g}s comes before {previous:g}s")
            )
        previous = max(previous, step.at)
        if step.message and step.message.thread.startswith(("job:", "sweep:")):
            kind, _, name = step.message.thread.partition(":")
            known = s.declared_jobs() if kind == "job" else {w.id for w in s.setup.sweeps}
            if name not in known:
                found.append(
                    (
                        ("timeline", i, "message", "thread"),
                        f"{kind} {name!r} is not in this scenario",
                    )
                )
        if (
            step.message
            and step.message.thread == "previous"
            and not any(t.message for t in s.timeline[:i])
        ):
            found.append((("timeline", i, "message", "thread"), "no previous message to reply to"))
    jobs = {j.name for j in s.setup.jobs}
    for i, step in enumerate(s.timeline):
        if step.scheduler and step.scheduler.action[1] not in jobs:
            where = ("timeline", i, "scheduler", step.scheduler.action[0])
            found.append((where, f"scheduler: {step.scheduler.action[1]!r} is not in setup.jobs"))
    for i, sweep in enumerate(s.setup.sweeps):
        if sweep.base_job not in jobs:
            found.append(
                (("setup", "sweeps", i, "base_job"), f"{sweep.base_job!r} is not in setup.jobs")
            )
    running = sum(j.gpus for j in s.setup.jobs if j.state == "running")
    running += sum(1 for w in s.setup.sweeps for t in w.trials if t.state == "running")
    if running > SCHEDULER_GPUS:
        found.append(
            (("setup", "jobs"), f"{running} GPUs running; the eval scheduler has {SCHEDULER_GPUS}")
        )
    return found
