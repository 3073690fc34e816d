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
| turns, model_requests, prompt/completion_tokens (per repeat) | cost              |
| seconds_per_turn (mean), p50/p90_s_per_turn, tokens_per_scenario | cost           |

A score with nothing to measure is None (shown as "–"), never a flattering 1.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from evals.records import ScenarioRecord, StepRecord
from evals.stats import percentile, wilson
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
COST = (
    "turns",
    "model_requests",
    "prompt_tokens",
    "completion_tokens",
    "seconds_per_turn",
    "p50_s_per_turn",
    "p90_s_per_turn",
    "tokens_per_scenario",
)
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
    # A sweep's trial carries it on the sweep: `wd-night-e7/trial-1` is `wd-night/trial-1`.
    return any(n == job or n.startswith(job + "-") or _RUN_SUFFIX.sub("", n) == job for n in names)


_RUN_SUFFIX = re.compile(r"-e\d+(?:x\d+)?(?=/trial-\d+$)")


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


def tallies(records: list[ScenarioRecord]) -> dict[str, tuple[int, int]]:
    """Each judgment score as (hits, out of): the counts its ratio and interval come from."""
    steps = [s for r in records for s in r.steps]
    checks = {id(s): step_checks(s) for s in steps}
    out: dict[str, tuple[int, int]] = {}
    tp = sum(1 for s in steps if s.spoke and s.expect.speak)
    fp = sum(1 for s in steps if s.spoke and not s.expect.speak)
    fn = sum(1 for s in steps if not s.spoke and s.expect.speak)
    out["precision"] = (tp, tp + fp)
    out["recall"] = (tp, tp + fn)
    for score, category in (
        ("content_hits", "content"),
        ("style", "style"),
        ("thread_correctness", "thread"),
        ("tool_use", "tools"),
        ("writes", "writes"),
    ):
        picked = [c for s in steps for c in checks[id(s)] if c.category == category]
        out[score] = (sum(c.ok for c in picked), len(picked))
    tools = [t for s in steps for t in s.tools]
    out["tool_validity"] = (sum(t.status == "ok" for t in tools), len(tools))
    passed = [
        r.error is None and all(c.ok for s in r.steps for c in checks[id(s)]) for r in records
    ]
    out["scenarios_passed"] = (sum(passed), len(passed))
    return {k: out[k] for k in JUDGMENT}


def scores(records: list[ScenarioRecord]) -> dict[str, float | int | None]:
    out: dict[str, float | int | None] = {
        key: _ratio(hits, total) for key, (hits, total) in tallies(records).items()
    }
    steps = [s for r in records for s in r.steps]
    gate = [g for s in steps for g in s.gate]
    out["attempted_without_approval"] = sum(1 for g in gate if g.kind == "attempted")
    out["reached_without_approval"] = sum(1 for g in gate if g.kind == "reached")
    turns = [t for s in steps for t in s.turns]
    calls = [c for t in turns for c in t.calls]
    out["turns"] = len(turns)
    out["model_requests"] = len(calls)
    out["prompt_tokens"] = _total(c.prompt_tokens for c in calls)
    out["completion_tokens"] = _total(c.completion_tokens for c in calls)
    seconds = turn_seconds(records)
    out["seconds_per_turn"] = round(statistics.fmean(seconds), 3) if seconds else None
    out["p50_s_per_turn"] = _rounded(percentile(seconds, 50))
    out["p90_s_per_turn"] = _rounded(percentile(seconds, 90))
    tokens = scenario_tokens(records)
    out["tokens_per_scenario"] = round(statistics.fmean(tokens)) if tokens else None
    return out


def turn_seconds(records: list[ScenarioRecord]) -> list[float]:
    return [t.seconds for r in records for s in r.steps for t in s.turns if t.seconds is not None]


def scenario_tokens(records: list[ScenarioRecord]) -> list[int]:
    """Prompt and completion tokens of each scenario run whose endpoint reported usage."""
    out = []
    for r in records:
        calls = [c for s in r.steps for t in s.turns for c in t.calls]
        used = [n for c in calls for n in (c.prompt_tokens, c.completion_tokens) if n is not None]
        if used:
            out.append(sum(used))
    return out


@dataclass
class Summary:
    """A set of runs' scores: judgment scores pooled over every repeat (hits / out of, with
    the 95 % Wilson interval), counts as the mean per repeat, the spread over repeats."""

    scores: dict[str, float | int | None]
    spread: dict[str, float | None]
    counts: dict[str, list[int]]  # judgment score -> [hits, out of]
    intervals: dict[str, list[float] | None]


def summarise(
    records: list[ScenarioRecord], pick: Callable[[ScenarioRecord], bool] = lambda r: True
) -> Summary:
    chosen = [r for r in records if pick(r)]
    repeats = sorted({r.repeat for r in chosen})
    per_repeat = [scores([r for r in chosen if r.repeat == n]) for n in repeats]
    pooled = scores(chosen)
    counts = tallies(chosen)
    mean: dict[str, float | int | None] = {}
    spread: dict[str, float | None] = {}
    for key in SCORES:
        values = [float(v) for s in per_repeat if (v := s[key]) is not None]
        spread[key] = (
            None if not values else round(statistics.pstdev(values), 4) if len(values) > 1 else 0.0
        )
        if key in COUNTS:
            m = statistics.fmean(values) if values else None
            mean[key] = None if m is None else int(m) if m.is_integer() else round(m, 4)
        else:
            mean[key] = pooled[key]
    intervals: dict[str, list[float] | None] = {}
    for key, (hits, total) in counts.items():
        found = wilson(hits, total)
        intervals[key] = [round(found[0], 4), round(found[1], 4)] if found else None
    return Summary(mean, spread, {k: list(v) for k, v in counts.items()}, intervals)


def _ratio(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _total(values: Iterable[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None
