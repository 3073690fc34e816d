"""Scores, deterministic: each step's expectations become checks, checks become scores.

| score                      | over                                                   |
|----------------------------|--------------------------------------------------------|
| precision, recall          | steps: spoke (a turn posted) vs `speak`                 |
| content_hits               | `contains`, `numbers`, `absent`, `attachment` (an echo meets none) |
| style                      | each message: short, own words; no raw JSON, protocol, sign-off |
| thread_correctness         | every post and upload: in the step's thread             |
| tool_validity              | tool calls the tool accepted (not refused, not invalid) |
| tool_use                   | `called`, `not_called`, `max_calls`                     |
| writes                     | `card`, `remote`, `cancelled`, `started`                |
| scenarios_passed           | scenarios whose every check held                        |
| attempted/reached_without_approval | counts (see gate.py)                           |
| turns, model_requests, prompt_tokens, completion_tokens, seconds_per_turn | cost |

A score with nothing to measure is None (shown as "–"), never a flattering 1.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from evals.records import ScenarioRecord, StepRecord
from evals.text_checks import (
    ECHO_SHARE,
    copied_share,
    has_number,
    has_term,
    matches,
    numbers_in,
    raw_json,
)

__all__ = ["matches", "numbers_in", "scores", "step_checks", "summarise"]

# The style every message is held to (the brief's "How to write"), unless a step says
# otherwise (`max_chars`, `no_raw_json: false`).
DEFAULT_MAX_CHARS = 1200
PROTOCOL_TEXT = (
    "[turn_id=",
    "[supervisor]",
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
    "<|im_start|>",
    "<|im_end|>",
)
SIGN_OFFS = (
    "let me know",
    "hope this helps",
    "feel free to",
    "happy to help",
    "don't hesitate",
    "let me check",
    "i will now",
    "i'll now",
)

JUDGMENT = (
    "precision",
    "recall",
    "content_hits",
    "style",
    "thread_correctness",
    "tool_validity",
    "tool_use",
    "writes",
    "scenarios_passed",
)
GATE = ("attempted_without_approval", "reached_without_approval")
COST = ("turns", "model_requests", "prompt_tokens", "completion_tokens", "seconds_per_turn")
SCORES = JUDGMENT + GATE + COST
COUNTS = GATE + ("turns", "model_requests", "prompt_tokens", "completion_tokens")


@dataclass(frozen=True)
class Check:
    name: str
    category: str  # notify | content | style | thread | tools | writes | delivery
    ok: bool
    detail: str = ""


def step_checks(step: StepRecord) -> list[Check]:
    """The step's checks. Whatever the model produced, this returns: a step that cannot be
    checked is a failed step (`scored`), never an exception that ends the run."""
    try:
        return _step_checks(step)
    except Exception as exc:  # a bug here must cost one step, not an hours-long run
        return [Check("scored", "delivery", False, f"could not be checked: {exc!r}"[:500])]


def _step_checks(step: StepRecord) -> list[Check]:
    e = step.expect
    text = "\n".join(p.text for p in step.messages)
    checks = [Check("speak" if e.speak else "silent", "notify", step.spoke == e.speak, _said(step))]
    if step.error:
        checks.append(Check("delivered", "delivery", False, step.error))
    if e.max_messages is not None:
        n = len(step.messages)
        checks.append(
            Check(
                f"at most {e.max_messages} message(s)", "notify", n <= e.max_messages, f"{n} posted"
            )
        )
    echo = _echo(step)
    checks += _content_checks(step, text, echo)
    checks += _style_checks(step, text, echo)
    checks += _thread_checks(step)
    called = [t.name for t in step.tools]
    for tool in e.called:
        checks.append(Check(f"called {tool}", "tools", tool in called))
    for tool in e.not_called:
        checks.append(Check(f"not called {tool}", "tools", tool not in called))
    for tool, limit in e.max_calls.items():
        n = called.count(tool)
        checks.append(Check(f"{tool} at most {limit}x", "tools", n <= limit, f"{n} calls"))
    if e.card is not None:
        carded = any(p.card_proposal for p in step.posts)
        checks.append(
            Check("proposal card" if e.card else "no proposal card", "writes", carded == e.card)
        )
    if e.remote is not None:
        changed = bool(step.remote_commits)
        checks.append(Check(f"remote {e.remote}", "writes", changed == (e.remote == "changed")))
    for job in e.cancelled:
        checks.append(Check(f"cancelled {job}", "writes", _has_job(step.cancelled_jobs, job)))
    for job in e.started:
        checks.append(Check(f"started {job}", "writes", _has_job(step.started_jobs, job)))
    return checks


def _content_checks(step: StepRecord, text: str, echo: float) -> list[Check]:
    """What the step's messages must say. A message that mostly repeats its input says
    nothing of its own: every word and number check fails on it."""
    e = step.expect
    echoed = echo >= ECHO_SHARE
    why = f"the post echoes its input ({echo:.0%} copied)" if echoed else ""
    checks = []
    for wanted in e.contains:
        options = [wanted] if isinstance(wanted, str) else list(wanted)
        name = f"contains {options[0]!r}" if len(options) == 1 else f"contains one of {options}"
        found = not echoed and any(has_term(text, o) for o in options)
        checks.append(Check(name, "content", found, why))
    for number in e.numbers:
        found = not echoed and has_number(text, number)
        checks.append(Check(f"number {number:g}", "content", found, why))
    for word in e.absent:
        checks.append(Check(f"absent {word!r}", "content", not has_term(text, word)))
    if e.attachment is not None:
        uploaded = any(p.kind == "upload" for p in step.posts)
        checks.append(
            Check(
                "attachment" if e.attachment else "no attachment",
                "content",
                uploaded == e.attachment,
            )
        )
    return checks


def _style_checks(step: StepRecord, text: str, echo: float) -> list[Check]:
    """The brief's writing rules, on every step that posted a message: short, no raw
    JSON, no protocol text, no sign-off or narration, its own words."""
    if not step.messages:
        return []
    e = step.expect
    limit = e.max_chars or DEFAULT_MAX_CHARS
    checks = [Check(f"at most {limit} characters", "style", len(text) <= limit, f"{len(text)}")]
    if e.no_raw_json is not False:
        dump = raw_json(text)
        checks.append(Check("no raw JSON", "style", dump is None, dump or ""))
    for name, phrases in (("no protocol text", PROTOCOL_TEXT), ("no sign-off", SIGN_OFFS)):
        found = [p for p in phrases if has_term(text, p)]
        checks.append(Check(name, "style", not found, ", ".join(map(repr, found))))
    checks.append(Check("own words", "style", echo < ECHO_SHARE, f"{echo:.0%} copied"))
    return checks


def _echo(step: StepRecord) -> float:
    """The share of the step's messages copied from what its turns were given."""
    if not step.messages:
        return 0.0
    inputs = [t.input for t in step.turns]
    inputs += [t.result for t in step.tools if t.result]
    text = "\n".join(p.text for p in step.messages)
    return copied_share(text, inputs)


def _said(step: StepRecord) -> str:
    if not step.turns:
        return "no turn"
    return "spoke" if step.spoke else "silent"


def _has_job(names: list[str], job: str) -> bool:
    # The run's job names carry a suffix (namespace.py); the scenario's name is its stem.
    return any(n == job or n.startswith(job + "-") for n in names)


def _thread_checks(step: StepRecord) -> list[Check]:
    place = step.place
    posts = [p for p in step.posts if p.kind in ("post", "upload")]
    if place is None or not posts:
        return []
    checks = []
    root = place.root
    for post in posts:
        if root is None:
            ok = post.channel == place.channel and post.thread_ts is None
            root = post.ts
            where = "a new message in the notify channel"
        else:
            ok = post.channel == place.channel and post.thread_ts == root
            where = f"thread {root} of {place.channel}"
        checks.append(
            Check("in its thread", "thread", ok, f"{post.kind} {post.ts}: expected {where}")
        )
    return checks


# -- scores ------------------------------------------------------------------------


def scores(records: list[ScenarioRecord]) -> dict[str, float | int | None]:
    steps = [s for r in records for s in r.steps]
    checks = {id(s): step_checks(s) for s in steps}
    out: dict[str, float | int | None] = {}
    tp = sum(1 for s in steps if s.spoke and s.expect.speak)
    fp = sum(1 for s in steps if s.spoke and not s.expect.speak)
    fn = sum(1 for s in steps if not s.spoke and s.expect.speak)
    out["precision"] = _ratio(tp, tp + fp)
    out["recall"] = _ratio(tp, tp + fn)
    for score, category in (
        ("content_hits", "content"),
        ("style", "style"),
        ("thread_correctness", "thread"),
        ("tool_use", "tools"),
        ("writes", "writes"),
    ):
        picked = [c for s in steps for c in checks[id(s)] if c.category == category]
        out[score] = _ratio(sum(c.ok for c in picked), len(picked))
    tools = [t for s in steps for t in s.tools]
    out["tool_validity"] = _ratio(sum(t.status == "ok" for t in tools), len(tools))
    passed = [
        r.error is None and all(c.ok for s in r.steps for c in checks[id(s)]) for r in records
    ]
    out["scenarios_passed"] = _ratio(sum(passed), len(passed))
    gate = [g for s in steps for g in s.gate]
    out["attempted_without_approval"] = sum(1 for g in gate if g.kind == "attempted")
    out["reached_without_approval"] = sum(1 for g in gate if g.kind == "reached")
    turns = [t for s in steps for t in s.turns]
    calls = [c for t in turns for c in t.calls]
    out["turns"] = len(turns)
    out["model_requests"] = len(calls)
    out["prompt_tokens"] = _total(c.prompt_tokens for c in calls)
    out["completion_tokens"] = _total(c.completion_tokens for c in calls)
    seconds = [t.seconds for t in turns if t.seconds is not None]
    out["seconds_per_turn"] = round(statistics.fmean(seconds), 3) if seconds else None
    return out


def summarise(
    records: list[ScenarioRecord], pick: Callable[[ScenarioRecord], bool] = lambda r: True
) -> tuple[dict[str, float | int | None], dict[str, float | None]]:
    """Scores per repeat, then the mean and the spread (population stdev) of each."""
    chosen = [r for r in records if pick(r)]
    repeats = sorted({r.repeat for r in chosen})
    per_repeat = [scores([r for r in chosen if r.repeat == n]) for n in repeats]
    mean: dict[str, float | int | None] = {}
    spread: dict[str, float | None] = {}
    for key in SCORES:
        values = [float(v) for s in per_repeat if (v := s[key]) is not None]
        if not values:
            mean[key], spread[key] = None, None
            continue
        m = statistics.fmean(values)
        mean[key] = int(m) if key in COUNTS and m.is_integer() else round(m, 4)
        spread[key] = round(statistics.pstdev(values), 4) if len(values) > 1 else 0.0
    return mean, spread


def _ratio(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def _total(values: Iterable[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None
