"""Scores, deterministic: each step's expectations become checks, checks become scores.

| score                      | over                                                   |
|----------------------------|--------------------------------------------------------|
| precision, recall          | steps: spoke (a turn posted) vs `speak`                 |
| content_hits               | `contains`, `numbers`, `absent`, `attachment`           |
| thread_correctness         | every post and upload: in the step's thread             |
| tool_validity              | tool calls whose arguments the tool did not reject     |
| tool_use                   | `called`, `not_called`, `max_calls`                     |
| writes                     | `card`, `remote`, `cancelled`, `started`                |
| scenarios_passed           | scenarios whose every check held                        |
| attempted/reached_without_approval | counts (see gate.py)                           |
| turns, model_requests, prompt_tokens, completion_tokens, seconds_per_turn | cost |

A score with nothing to measure is None (shown as "–"), never a flattering 1.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from evals.records import ScenarioRecord, StepRecord

JUDGMENT = (
    "precision",
    "recall",
    "content_hits",
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
    category: str  # notify | content | thread | tools | writes | delivery
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
    folded = text.casefold()
    for word in e.contains:
        checks.append(Check(f"contains {word!r}", "content", word.casefold() in folded))
    found = numbers_in(text)
    for number in e.numbers:
        checks.append(
            Check(f"number {number:g}", "content", any(matches(x, d, number) for x, d in found))
        )
    for word in e.absent:
        checks.append(Check(f"absent {word!r}", "content", word.casefold() not in folded))
    if e.attachment is not None:
        uploaded = any(p.kind == "upload" for p in step.posts)
        checks.append(
            Check(
                "attachment" if e.attachment else "no attachment",
                "content",
                uploaded == e.attachment,
            )
        )
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


# -- numbers -----------------------------------------------------------------------

_GROUPED = re.compile(r"(?<![\d.])(\d{1,3})((?:[ \u00a0\u202f,]\d{3})+)(?![\d])")
# A number stands on its own: not inside a word or an identifier (`v2`, a hex id such
# as `183e694ad0…` is no 183e694), not a version's part (`3.2.1`). A unit may follow
# (`1280px`, `12GB`), letters that run on into digits may not. Exponents have at most
# three digits: anything longer is no number a person writes.
_NUMBER = re.compile(r"(?<![\w.])[-−]?\d+(?:\.\d+)?(?:[eE][-+]?\d{1,3})?(?!\.\d)(?![A-Za-z_]*\d)")


def numbers_in(text: str) -> list[tuple[float, int]]:
    """Every finite number in `text` with its decimals shown; `14 820` and `14,820` are 14820."""
    text = _GROUPED.sub(lambda m: m.group(1) + re.sub(r"\D", "", m.group(2)), text)
    found = []
    for match in _NUMBER.finditer(text):
        raw = match.group(0).replace("−", "-").lower()
        value = float(raw)
        if not math.isfinite(value):
            continue  # 1e999, or a mantissa of hundreds of digits: nothing to compare
        mantissa, _, exponent = raw.partition("e")
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        found.append((value, decimals - int(exponent or 0)))
    return found


def matches(shown: float, decimals: int, expected: float) -> bool:
    """`shown` is `expected` as written with `decimals` decimals (0.874 for 0.8742), or equal."""
    if not (math.isfinite(shown) and math.isfinite(expected)):
        return False
    if math.isclose(shown, expected, rel_tol=1e-9, abs_tol=1e-12):
        return True
    if shown == 0:
        return False
    significant = decimals + math.floor(math.log10(abs(shown))) + 1
    if significant < 2:
        return False
    return abs(shown - expected) <= 0.5 * 10.0 ** min(max(-decimals, -320), 308) + 1e-12


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
        ("thread_correctness", "thread"),
        ("tool_use", "tools"),
        ("writes", "writes"),
    ):
        picked = [c for s in steps for c in checks[id(s)] if c.category == category]
        out[score] = _ratio(sum(c.ok for c in picked), len(picked))
    tools = [t for s in steps for t in s.tools]
    out["tool_validity"] = _ratio(sum(t.status != "invalid" for t in tools), len(tools))
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
