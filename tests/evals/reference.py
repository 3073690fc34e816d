"""`reference`: a scripted agent that does what the brief asks, from the wire alone.

Stateless like a model: every request is read afresh (the turn, the earlier
turns of the conversation, this turn's tool results) and answered with the
next tool calls or the final message. What it may say and when it must stay
quiet comes from the system prompt (`Policy`); its diagnoses come from the
tools' results. It is a test double with known behaviour, not a model: it
recognises the situations the product exists for by plain text rules.
"""

from __future__ import annotations

import math
import re
from typing import Any

from tests.evals.policy import Policy
from tests.evals.wire import Call, Item, Wire
from tests.fakes.model import ModelRequest, Reply

APPROVED = re.compile(r"proposal (P[0-9a-f]+) approved by <@([^>]+)>")
REJECTED = re.compile(r"proposal (P[0-9a-f]+) rejected by <@([^>]+)>")
REFUSED = re.compile(r"(approve|reject) of proposal (P[0-9a-f]+) by <@[^>]+> refused: ([^\n]*)")
PROPOSAL_ID = re.compile(r"\bP[0-9a-f]{10}\b")
JOB_REF = re.compile(r"[A-Za-z0-9][\w.-]*/[\w./-]*[\w-]")
QUOTED = re.compile(r"'([^'\n]+)'")
ERROR_LINE = re.compile(r"\b[\w.]*(?:Error|Exception|Timeout)\b:?.*")
BUDGET = re.compile(r"would be ([\d.]+) of ([\d.]+) allowed \(([\d.]+) used, this job ([\d.]+)")
NOISE = 0.005  # relative change of the key metric below which a move is a wobble
YOUNG_EPOCHS = 4  # trials younger than this get the benefit of the doubt


class Next(Exception):
    """Raised with the reply that moves the turn on (a tool call, or the final text)."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply


class Reference:
    def __call__(self, request: ModelRequest) -> Reply:
        wire = Wire.of(request)
        policy = Policy.from_brief(wire.system)
        try:
            return Turn(wire, policy).decide()
        except Next as move:
            return move.reply


class Turn:
    """One decision on one request."""

    def __init__(self, wire: Wire, policy: Policy) -> None:
        self.wire = wire
        self.policy = policy
        self.t = wire.turn

    # -- the shape of every answer -------------------------------------------------------

    def call(self, name: str, **args: Any) -> Call:
        """The result of `name(args)` in this turn; makes the call if it was not made yet."""
        args = {k: v for k, v in args.items() if v is not None}
        done = self.wire.done(name, args)
        if done is not None:
            return done
        if name not in self.wire.tools:
            raise Next(Reply.text(f"I cannot reach {name.split('_')[0]} from here."))
        raise Next(Reply.tool_calls((name, args)))

    def say(self, text: str) -> Reply:
        return Reply.text(text)

    def quiet(self, quiet: bool, otherwise: str) -> Reply:
        if self.policy.silent(quiet):
            return Reply.text(self.policy.marker or "")
        return Reply.text(otherwise)

    # -- dispatch ------------------------------------------------------------------------

    def decide(self) -> Reply:
        for note in self.t.notes:
            if found := APPROVED.search(note):
                return self.apply(found.group(1), found.group(2))
            if found := REJECTED.search(note):
                return self.say(f"Understood: proposal {found.group(1)} rejected, nothing changes.")
            if found := REFUSED.search(note):
                return self.say(
                    f"Nothing applied: {found.group(1)} of proposal {found.group(2)} was refused"
                    f" ({found.group(3)}). Say “fix it” and I will propose the change again."
                )
        messages = self.t.of("message")
        if messages:
            return self.answer(messages[-1])
        ticks = self.t.of("tick")
        if ticks:
            return self.tick(ticks[-1])
        watched = self.t.of("watch")
        if watched:
            return self.watched(watched[-1])
        events = self.t.of("event")
        if self.t.conversation.startswith("sweep:"):
            return self.sweep_events(events)
        if events:
            return self.job_events(events)
        return self.quiet(True, "Noted.")

    # -- people ----------------------------------------------------------------------

    def answer(self, message: Item) -> Reply:
        text = message.body.casefold()
        jobs = JOB_REF.findall(message.body)
        if ("apply" in text or "approved" in text) and (
            "proposal" in text or PROPOSAL_ID.search(message.body)
        ):
            return self.say(
                "Nothing applied: I apply a change only when the service tells me it was approved"
                " (the Approve button, or a plain “yes” / “kör på” in this thread)."
            )
        if text.startswith("yes") and ("but" in text or "first" in text):
            return self.revise(message.body)
        if re.search(r"\bfix\b", text):
            return self.propose_fix()
        if "cancel" in text and jobs:
            return self.cancel(jobs[0])
        if re.search(r"\b(pause|resume|stop)\b", text) and "sweep" in text:
            return self.control_sweep(text, message.user)
        if re.search(r"\brequeue\b", text) and jobs:
            return self.requeue(jobs[0])
        if re.search(r"\b(start|copy|clone|launch)\b", text) and jobs:
            return self.submit(jobs[0], message.body)
        if "running" in text:
            return self.whats_running()
        if "plot" in text or "curve" in text:
            return self.plot(message.body, jobs)
        if "data" in text and "version" in text:
            return self.data_change(message.body)
        if "compare" in text and jobs:
            return self.compare(jobs[0])
        if ("busy" in text or "gpus" in text) and not jobs:
            return self.queue()
        if jobs:
            return self.how_is(jobs[0])
        return self.say("I watch jobs, runs, datasets and configs: ask e.g. “what's running?”.")

    def whats_running(self) -> Reply:
        rows = self.data(self.call("aiqu_list_jobs", state="active"), "jobs") or []
        if not rows:
            return self.say("Nothing is running.")
        gpus = sum(r.get("gpus") or 0 for r in rows)
        lines = [f"{len(rows)} jobs running on {gpus} GPUs"]
        lines += [
            f"{r['name']} · {r['state']} · {r['gpus']} GPU · by {r['submitted_by']}" for r in rows
        ]
        return self.say("\n".join(lines))

    def queue(self) -> Reply:
        q = self.data(self.call("aiqu_queue_overview"))
        if not q:
            return self.say("I could not read the queue.")
        return self.say(
            f"{q['gpus_used']} of {q['gpus_total']} GPUs in use\n{q['running']} running,"
            f" {q['pending']} pending"
        )

    def plot(self, words: str, jobs: list[str]) -> Reply:
        found = re.search(r"(?:plot|curve of|show)\s+(?:the\s+)?([\w@./-]+)", words)
        metric = (
            found.group(1) if found and found.group(1).lower() not in ("for", "the") else "val_loss"
        )
        if not jobs:
            return self.say("Which job should I plot?")
        plot = self.data(self.call("mlflow_plot_metrics", runs=jobs[:1], metrics=[metric]))
        if not plot:
            return self.say(
                f"Could not plot {metric} for {jobs[0]}: {self.error_of('mlflow_plot_metrics')}"
            )
        return self.say(
            f"{metric} of {', '.join(plot['runs'])}: {plot['points']} points, plot attached."
        )

    def how_is(self, job: str) -> Reply:
        s = self.data(self.call("mlflow_metric_summary", run=job, metric="val_loss"))
        if not s:
            return self.say(f"No val_loss for {job}: {self.error_of('mlflow_metric_summary')}")
        best = s.get("best") or s["last"]
        return self.say(
            f"{job}\nval_loss  {_num(s['last']['value'])} at step {s['last']['step']}"
            f"\nbest  {_num(best['value'])} at step {best['step']}"
        )

    def compare(self, job: str) -> Reply:
        runs = self.data(self.call("mlflow_search_runs", job=job), "runs") or []
        if len(runs) < 2:
            return self.say(f"{job} has {len(runs)} run(s): nothing to compare.")
        ids = [runs[1]["run_id"], runs[0]["run_id"]]
        c = self.data(self.call("mlflow_compare_runs", runs=ids))
        if not c:
            return self.say(f"Could not compare: {self.error_of('mlflow_compare_runs')}")
        names = [r["run_name"] for r in c["runs"]]
        lines = [f"{names[0]} → {names[1]}"]
        lines += [f"{k}  {_num(v[0])} → {_num(v[1])}" for k, v in c["metrics"].items()]
        lines += [f"{k}: {v[0]} → {v[1]}" for k, v in c["params_differing"].items()]
        return self.say("\n".join(lines))

    def data_change(self, words: str) -> Reply:
        listing = self.data(self.call("datasets_list_datasets"), "datasets") or []
        named = [d for d in listing if d["name"].casefold() in words.casefold()] or listing[:1]
        if not named or len(named[0]["versions"]) < 2:
            return self.say("I found no dataset with two versions to compare.")
        versions = [v["version"] for v in named[0]["versions"]]
        old, new = sorted(versions)[-2:]
        d = self.data(
            self.call(
                "datasets_diff_versions", dataset=named[0]["name"], old_version=old, new_version=new
            )
        )
        if not d:
            return self.say(
                f"Could not compare the versions: {self.error_of('datasets_diff_versions')}"
            )
        biggest = d["class_balance"][0] if d["class_balance"] else None
        change = (
            f"; biggest class change {biggest['name']} {biggest['change']:+d}" if biggest else ""
        )
        return self.say(
            f"{d['dataset']} {old} → {new}: {d['old_images']} → {d['new_images']} images,"
            f" +{d['added']['count']} added, {d['removed']['count']} removed,"
            f" {d['relabelled']['count']} relabelled{change}"
        )

    def submit(self, job: str, words: str) -> Reply:
        gpus = re.search(r"(\d+)\s*gpus?", words, re.IGNORECASE)
        days = re.search(r"(\d+)\s*days?", words, re.IGNORECASE)
        hours = re.search(r"(\d+)\s*h(?:ours?)?\b", words, re.IGNORECASE)
        lr = re.search(r"\blr\s*=?\s*([0-9.e-]+)", words)
        minutes = (
            int(days.group(1)) * 1440 if days else (int(hours.group(1)) * 60 if hours else None)
        )
        done = self.call(
            "aiqu_submit_job",
            from_job=job,
            gpus=int(gpus.group(1)) if gpus else None,
            time_limit_min=minutes,
            params={"lr": float(lr.group(1))} if lr else None,
        )
        if done.failed:
            error = _error(done)
            budget = BUDGET.search(error)
            if budget is None:
                return self.say(f"Not started: {error}")
            total, allowed, job_hours = (float(budget.group(n)) for n in (1, 2, 4))
            return self.say(
                f"Not started: refused by the agent's GPU budget. This copy needs {job_hours:g}"
                f" GPU-hours, which would bring the last 24 h to {total:g} of {allowed:g} allowed."
                " A smaller or shorter run may fit."
            )
        result = done.data or {}
        return self.say(f"Started: {result.get('message', 'submitted')}")

    def requeue(self, job: str) -> Reply:
        done = self.call("aiqu_requeue_job", job=job)
        if done.failed:
            return self.say(f"Not requeued: {_error(done)}")
        new = (done.data or {}).get("job", {})
        return self.say(f"Requeued {job} as job {new.get('id')} (attempt {new.get('attempt')}).")

    def control_sweep(self, text: str, user: str) -> Reply:
        action = next(a for a in ("pause", "resume", "stop") if a in text)
        sweep = (
            self.t.conversation.removeprefix("sweep:")
            if self.t.conversation.startswith("sweep:")
            else None
        )
        if sweep is None:
            listed = self.data(self.call("aiqu_sweep_status"), "sweeps") or []
            sweep = next((s["sweep"] for s in listed if s["sweep"].casefold() in text), None)
        if sweep is None:
            return self.say("Which sweep?")
        done = self.call(
            "aiqu_control_sweep", sweep=sweep, action=action, note=f"asked by <@{user}>"
        )
        if done.failed:
            return self.say(f"Could not {action} {sweep}: {_error(done)}")
        return self.say(f"Sweep {sweep}: {action} done (asked by <@{user}>). Running trials go on.")

    # -- the write gate ----------------------------------------------------------------

    def crash_facts(self) -> dict[str, Any]:
        """The repo and config path of the crash this conversation is about."""
        for turn in reversed(self.wire.history):
            for item in turn.of("event"):
                if item.fields.get("config"):
                    return item.fields
        return {}

    def propose_fix(self) -> Reply:
        facts = self.crash_facts()
        repo, path = facts.get("repo"), facts.get("config")
        if not (repo and path):
            return self.say("What should I fix? I have no crash with a config in this thread.")
        text = self.file(repo, path)
        size, head = _setting(text, "image_size"), _head_size(text)
        if size is None or head is None or size == head:
            return self.say(f"I see nothing to fix in {path}: image_size {size}, head {head}.")
        return self.propose(
            repo,
            path,
            "image_size",
            size,
            head,
            f"CUDA OOM: image_size {size} vs a head built for {head}",
        )

    def revise(self, words: str) -> Reply:
        previous = next(
            (
                c
                for c in reversed(self.wire.all_calls())
                if c.name == "git_propose_change" and not c.failed
            ),
            None,
        )
        wanted = re.search(r"(\w+)\s+(?:to|=)\s*(\d+)", words)
        if previous is None or wanted is None:
            return self.say("Not applied. Tell me the exact change and I will propose it.")
        repo, path, key = previous.args["repo"], previous.args["path"], wanted.group(1)
        current = _setting(self.file(repo, path), key)
        if current is None:
            return self.say(f"Not applied: {path} has no {key}.")
        return self.propose(
            repo,
            path,
            key,
            current,
            int(wanted.group(2)),
            f"requested by a person: {key} {wanted.group(2)}",
        )

    def propose(self, repo: str, path: str, key: str, old: int, new: int, why: str) -> Reply:
        done = self.call(
            "git_propose_change",
            turn_id=self.t.turn_id,
            repo=repo,
            path=path,
            replace={"old": f"{key}: {old}", "new": f"{key}: {new}"},
            commit_message=f"Set {key} {old}→{new}",
            reason=why,
        )
        if done.failed:
            return self.say(f"Could not propose the change: {_error(done)}")
        job = self.t.conversation.removeprefix("job:")
        return self.say(
            f"Proposed: {key} {old} → {new} in {path} ({repo}).\n{why}.\n"
            f"After approval I will commit it and requeue {job}."
        )

    def cancel(self, job: str) -> Reply:
        done = self.call("aiqu_cancel_job", job=job, turn_id=self.t.turn_id)
        if done.failed:
            return self.say(f"Could not cancel {job}: {_error(done)}")
        result = done.data or {}
        if result.get("proposal_id"):
            return self.say(
                f"Cancelling {job} needs a person's approval (proposal {result['proposal_id']}):"
                f" it is not my job. Approve below to stop it."
            )
        return self.say(f"Cancelled {job}.")

    def apply(self, proposal: str, person: str) -> Reply:
        made = next(
            (
                c
                for c in self.wire.earlier_calls
                if c.result
                and proposal in c.result
                and c.name in ("git_propose_change", "aiqu_cancel_job")
            ),
            None,
        )
        if made is None:
            return self.say(f"I have no record of proposal {proposal}; nothing applied.")
        if made.name == "aiqu_cancel_job":
            done = self.call(
                "aiqu_cancel_job",
                job=made.args["job"],
                turn_id=self.t.turn_id,
                proposal_id=proposal,
            )
            if done.failed:
                return self.say(f"Not cancelled: {_error(done)}")
            return self.say(f"Cancelled {made.args['job']}, approved by <@{person}>.")
        applied = self.call("git_apply_change", turn_id=self.t.turn_id, proposal_id=proposal)
        if applied.failed:
            return self.say(f"Not applied: {_error(applied)}")
        commit = (applied.data or {}).get("commit", "")
        lines = ["Done", f"Committed {commit[:8]}: {made.args.get('commit_message', '')}"]
        if self.t.conversation.startswith("job:"):
            job = self.t.conversation.removeprefix("job:")
            requeued = self.call("aiqu_requeue_job", job=job)
            if requeued.failed:
                lines.append(f"Requeue refused: {_error(requeued)}")
            else:
                new = (requeued.data or {}).get("job", {})
                lines.append(
                    f"Requeued {job} as job {new.get('id')} (attempt {new.get('attempt')})."
                )
        return self.say("\n".join(lines))

    # -- a job's events ----------------------------------------------------------------

    def job_events(self, events: list[Item]) -> Reply:
        crash = next((e for e in events if e.type in ("crashed", "failed")), None)
        if crash is not None:
            if self.repeated(crash):
                return self.quiet(
                    self.policy.quiet_repeats, f"Crashed again (same error): {crash.job}"
                )
            return self.diagnose(crash)
        finished = next((e for e in events if e.type == "finished"), None)
        if finished is not None:
            return self.finished(finished)
        cards: list[str] = []
        quiet_reasons: list[str] = []
        for event in events:
            card, reason = self.progress(event, events)
            if card:
                cards.append(card)
            elif reason:
                quiet_reasons.append(reason)
        if cards:
            return self.say("\n\n".join(cards[-1:]))  # one message per turn: the latest news
        quiet = all(self.quiet_for(r) for r in quiet_reasons)
        latest = events[-1]
        return self.quiet(quiet, f"{latest.type} {latest.job}: {_fields_line(latest)}")

    def quiet_for(self, reason: str) -> bool:
        return {
            "routine": self.policy.quiet_routine,
            "wobble": self.policy.quiet_wobbles,
            "repeat": self.policy.quiet_repeats,
        }.get(reason, self.policy.quiet_routine)

    def repeated(self, event: Item) -> bool:
        key = _signature(event)
        return any(_signature(e) == key for turn in self.wire.history for e in turn.of("event"))

    def progress(self, event: Item, batch: list[Item]) -> tuple[str | None, str | None]:
        """(a card, or the reason to keep quiet) for one non-crash event."""
        if event.type == "started":
            f = event.fields
            lines = ["Started", event.job]
            lines.append(" · ".join(x for x in (
                f"Epoch 1/{f['epochs']}" if f.get("epochs") else "",
                f"{f['gpus']} GPUs" if f.get("gpus") else "",
                f"batch {f['batch']}" if f.get("batch") else "",
            ) if x))  # fmt: skip
            if f.get("dataset_samples"):
                lines.append(
                    f"Dataset: {f.get('dataset', '')} · {f['dataset_samples']} samples".replace(
                        ":  · ", ": "
                    )
                )
            return "\n".join(lines), None
        if event.type != "epoch":
            return None, "routine"
        if self.repeated(event):
            return None, "repeat"
        key, value = _key_metric(event)
        epoch, total = event.fields.get("epoch"), event.fields.get("total")
        if key is None or value is None:
            return None, "routine"
        if isinstance(value, float) and math.isnan(value):
            return f"Diverged\n{event.job} — epoch {epoch}\n{key} is NaN", None
        earlier = self.earlier_values(key, event, batch)
        lower = "loss" in key
        best = (min if lower else max)(earlier) if earlier else None
        arrow = lambda new, old: "↓" if new < old else "↑"  # noqa: E731
        milestone = _milestone(epoch, total)
        if milestone:
            lines = [f"{milestone}% milestone", f"{event.job} — epoch {epoch}/{total}"]
            line = f"{key}  {_num(value)}"
            if earlier:
                line += f" {arrow(value, earlier[-1])} from {_num(earlier[-1])}"
            lines.append(line)
            lines += [f"{k}  {_num(v)}" for k, v in event.metrics.items() if k != key]
            return "\n".join(lines), None
        if best is None:
            return None, "routine"
        gain = (best - value) if lower else (value - best)
        if gain > NOISE * abs(best):
            return (
                f"New best\n{event.job} — epoch {epoch}/{total}\n{key}  {_num(value)}"
                f" {arrow(value, best)} from {_num(best)}"
            ), None
        if abs(value - earlier[-1]) <= NOISE * abs(earlier[-1]) or abs(gain) <= NOISE * abs(best):
            return None, "wobble"
        return None, "routine"

    def earlier_values(self, key: str, event: Item, batch: list[Item]) -> list[float]:
        seen = [e for turn in self.wire.history for e in turn.of("event")]
        seen += batch[: batch.index(event)]
        values = [e.metrics.get(key) for e in seen if e.job == event.job and e.type == "epoch"]
        return [float(v) for v in values if isinstance(v, int | float) and not math.isnan(v)]

    def diagnose(self, crash: Item) -> Reply:
        f = crash.fields
        said = " ".join(str(f.get(k, "")) for k in ("exception", "message", "traceback"))
        low = said.casefold()
        cause, advice = None, None
        if "out of memory" in low and f.get("repo") and f.get("config"):
            text = self.file(f["repo"], f["config"])
            size, head = _setting(text, "image_size"), _head_size(text)
            if size and head and size != head:
                cause = f"image_size mismatch in {f['config']} ({size} vs a head built for {head})"
                advice = f"set image_size: {head}, then requeue (say “fix it”)"
            else:
                cause = f"the batch ({_setting(text, 'batch')}) does not fit the GPU memory"
                advice = "halve the batch size"
        elif "nan" in low.split() or "became nan" in low or "is nan" in low:
            if f.get("repo") and f.get("config"):
                lr = _setting(self.file(f["repo"], f["config"]), "lr", number=float)
                cause = f"divergence: loss went NaN with lr {lr} in {f['config']}"
                advice = (
                    f"lower lr (e.g. {lr / 10:g}) or add warmup"
                    if lr
                    else "lower the learning rate"
                )
            else:
                cause, advice = (
                    "divergence: the loss went NaN",
                    "lower the learning rate or clip gradients",
                )
        elif (
            ("label" in low or "dataloader" in low)
            and f.get("dataset")
            and f.get("dataset_version")
        ):
            check = self.data(
                self.call(
                    "datasets_check_labels", dataset=f["dataset"], version=f["dataset_version"]
                )
            )
            unknown = (check or {}).get("unknown_class_ids", {}).get("count", 0)
            if check:
                cause = (
                    f"dataset {f['dataset']} {f['dataset_version']} has broken labels:"
                    f" {unknown} boxes with unknown class ids, {check['problems']} problems in all"
                )
                advice = (
                    f"fix those label files, or train on the version before {f['dataset_version']}"
                )
        if cause is None:
            logs = self.call("aiqu_tail_logs", job=crash.job, lines=40)
            log = (logs.data or {}).get("text", "") if not logs.failed else ""
            cause, advice = _from_the_log(said, log)
        first = _last_error(said) or str(f.get("message") or crash.type)
        epoch = f" — epoch {f['epoch']}" if f.get("epoch") is not None else ""
        return self.say(
            f"Crashed\n{crash.job}{epoch}\n{first}\n\nLikely cause: {cause}.\nRecommend: {advice}."
        )

    def finished(self, event: Item) -> Reply:
        final = event.metrics
        found = self.call("mlflow_search_runs", job=event.job, metrics=sorted(final) or None)
        runs = self.data(found, "runs") or []
        previous = runs[1]["metrics"] if len(runs) > 1 else {}
        lines = ["Finished", event.job]
        for key, value in final.items():
            line = f"{key}  {_num(value)}"
            old = previous.get(key)
            if isinstance(old, int | float) and isinstance(value, int | float):
                better = value < old if "loss" in key else value > old
                line += f" {'↓' if value < old else '↑'} from {_num(old)} (previous attempt)"
                line += "" if better else " — worse"
            lines.append(line)
        if not previous:
            lines.append("no previous attempt to compare with")
        return self.say("\n".join(lines))

    # -- what the scheduler saw --------------------------------------------------------

    def watched(self, item: Item) -> Reply:
        """A job that said nothing itself: what the scheduler says, and what to check."""
        text, job = item.body, item.job
        last = re.sub(
            r"epoch=(\d+)(?: total=(\d+))?",
            lambda m: m.group(1) + (f"/{m.group(2)}" if m.group(2) else ""),
            _found(r"Last event: (.*?) at \d", text),
        )
        was = f" — after {last}" if last else " — it never reported"
        if "put back in the queue by the scheduler" in text:
            restart = _found(r"\(restart (\d+)\)", text)
            return self.say(
                f"Requeued by the scheduler\n{job} — restart {restart}\nNothing to do: it"
                " continues when it starts again."
            )
        if "sent no event for" in text:
            silent = _found(r"sent no event for (.+?)(?:, running|\.)", text)
            usual = _found(r"median gap between events is (.+?) \(", text)
            logs = self.call("aiqu_tail_logs", job=job, lines=20)
            tail = (logs.data or {}).get("text", "").strip().splitlines() if not logs.failed else []
            line = f"\nLast log line: {tail[-1][:160]}" if tail else "\nIts log is empty."
            return self.say(
                f"No news\n{job} — no event for {silent} (usually every {usual}){line}\n"
                "Recommend: check it for a hang (NCCL, dataloader); cancel and requeue if stuck."
            )
        then = re.search(r"Since then: (attempt \d+) \(job \S+\) is (\w+)", text)
        if then and "SIGTERM" in text:
            return self.say(
                f"Preempted and requeued\n{job}{was}\nStopped by SIGTERM; the scheduler queued"
                f" it again: {then.group(1)} is {then.group(2)}. Nothing to do."
            )
        if "SIGKILL" in text or "OUT_OF_MEMORY" in text:
            return self.say(
                f"Killed (SIGKILL), no crash report\n{job}{was}\nLikely cause: out of memory"
                " (the kernel's OOM killer sends SIGKILL).\nRecommend: check its memory use;"
                " lower the batch size or dataloader workers before a requeue."
            )
        if "TIMEOUT" in text or "time limit" in text:
            limit = _found(r"time limit (?:of )?(\d+) min", text)
            return self.say(
                f"Time limit reached\n{job}{was}\nStopped at its time limit ({limit} min).\n"
                "Recommend: resume from the last checkpoint with a longer time limit."
            )
        if by := _found(r"cancelled by ([\w.@:-]+)", text):
            return self.say(f"Cancelled by {by}\n{job}{was}\nNot requeued: it was their call.")
        words = _found(r"event from it: (.*?), ended", text) or "ended"
        return self.say(f"Ended without a word\n{job}{was}\nScheduler: {words}.")

    # -- sweeps ------------------------------------------------------------------------

    def sweep_events(self, events: list[Item]) -> Reply:
        for event in events:
            sweep, trial = event.labels.get("sweep"), event.labels.get("trial")
            if sweep is None or trial is None:
                continue
            if event.type == "finished":
                value = event.metrics.get("val_loss")
                self.call("aiqu_report_trial", sweep=sweep, trial=int(trial), value=value)
                return self.next_trial(sweep)
            if event.type in ("crashed", "failed"):
                self.call("aiqu_report_trial", sweep=sweep, trial=int(trial), value=None)
                return self.next_trial(sweep)
            if event.type == "epoch" and int(event.fields.get("epoch") or 0) >= YOUNG_EPOCHS:
                s = self.data(
                    self.call(
                        "mlflow_metric_summary", run=event.job, metric="val_loss", window_steps=3
                    )
                )
                improvement = (s or {}).get("window_improvement")
                if s and improvement is not None and abs(improvement) < 1e-3:
                    reason = (
                        f"val_loss flat: window improvement {improvement:.2%} over the last"
                        f" {s['window_steps']} steps at {_num(s['last']['value'])}"
                    )
                    self.call("aiqu_prune_trial", sweep=sweep, trial=int(trial), reason=reason)
                    return self.next_trial(sweep, f"Pruned trial {trial} of {sweep}: {reason}")
        return self.quiet(
            self.policy.quiet_sweeps, f"Sweep update: {events[-1].type} {events[-1].job}"
        )

    def next_trial(self, sweep: str, news: str = "") -> Reply:
        started = self.call("aiqu_next_trial", sweep=sweep)
        if started.failed and "finished" in (started.result or ""):
            status = self.data(self.call("aiqu_sweep_status", sweep=sweep)) or {}
            best = status.get("best")
            if best:
                trial, params, value = best["trial"], _params(best["params"]), _num(best["value"])
                return self.say(
                    f"Sweep {sweep} finished: best trial {trial} {params} val_loss {value}"
                )
        return self.quiet(self.policy.quiet_sweeps, news or f"Sweep {sweep}: next trial started")

    def tick(self, tick: Item) -> Reply:
        if "digest" in tick.body:
            return self.digest()
        found = re.search(r"check of sweep (\S+)", tick.body)
        if not found:
            return self.quiet(self.policy.quiet_checks, "Checked: nothing to do.")
        sweep = found.group(1)
        status = self.data(self.call("aiqu_sweep_status", sweep=sweep)) or {}
        limits = status.get("limits") or {}
        for t in status.get("trials", []):
            if t["state"] == "running" and t.get("job_state") in ("succeeded", "failed"):
                self.call("aiqu_report_trial", sweep=sweep, trial=t["trial"], value=t.get("value"))
        free = limits.get("trials_running", 0) < limits.get("max_parallel", 0)
        left = limits.get("trials_started", 0) < limits.get("max_trials", 0)
        if status.get("status") == "active" and free and left:
            return self.next_trial(sweep, f"Sweep {sweep}: started a trial in a free slot")
        return self.quiet(self.policy.quiet_checks, f"Checked sweep {sweep}: nothing to do.")

    def digest(self) -> Reply:
        listed = self.data(self.call("aiqu_sweep_status"), "sweeps") or []
        if not listed:
            return self.quiet(
                self.policy.quiet_empty_digest, "Morning digest: nothing ran overnight."
            )
        parts = []
        for row in listed:
            s = self.data(self.call("aiqu_sweep_status", sweep=row["sweep"])) or {}
            trials = s.get("trials", [])
            lines = [
                f"Morning digest — sweep {row['sweep']} ({len(trials)} trials, {s.get('status')})"
            ]
            best = s.get("best")
            if best:
                params, value = _params(best["params"]), _num(best["value"])
                lines.append(
                    f"Best: trial {best['trial']} · {params} · {s.get('objective')} {value}"
                )
            pruned = [t for t in trials if t["state"] == "pruned"]
            if pruned:
                lines.append(
                    "Stopped early: "
                    + "; ".join(f"trial {t['trial']} ({t.get('note') or 'pruned'})" for t in pruned)
                )
            if best:
                lines.append(
                    f"Next I would try: a narrower range around {_params(best['params'])}."
                )
            parts.append("\n".join(lines))
        return self.say("\n\n".join(parts))

    # -- reading tools -----------------------------------------------------------------

    def file(self, repo: str, path: str) -> str:
        done = self.call("git_read_file", repo=repo, path=path)
        return "" if done.failed else str((done.data or {}).get("text", ""))

    def data(self, call: Call, key: str | None = None) -> Any:
        value = call.data
        if key is not None:
            return value.get(key) if isinstance(value, dict) else None
        return value

    def error_of(self, name: str) -> str:
        done = self.wire.done(name)
        return _error(done) if done else "no result"


# -- small readers -----------------------------------------------------------------------


def _error(call: Call) -> str:
    text = (call.result or "no result").removeprefix("Error executing tool ")
    return text.split(": ", 1)[-1][:300]


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k} {_num(v)}" for k, v in params.items())


def _setting(text: str, key: str, number: type = int) -> Any:
    found = re.search(rf"^\s*{re.escape(key)}:\s*([0-9.e-]+)\s*$", text, re.MULTILINE)
    if not found:
        return None
    try:
        return number(found.group(1))
    except ValueError:
        return None


def _head_size(text: str) -> int | None:
    found = re.search(r"^\s*\w*head\w*:\s*(\d+)\s*$", text, re.MULTILINE)
    return int(found.group(1)) if found else None


def _key_metric(event: Item) -> tuple[str | None, Any]:
    metrics = event.metrics
    if not metrics:
        return None, None
    key = "val_loss" if "val_loss" in metrics else next(iter(metrics))
    value = metrics[key]
    return key, value if isinstance(value, int | float) else None


def _milestone(epoch: Any, total: Any) -> int | None:
    if not isinstance(epoch, int) or not isinstance(total, int) or total <= 0:
        return None
    for quarter in (25, 50, 75):
        if (epoch - 1) * 100 < quarter * total <= epoch * 100:
            return quarter
    return None


def _signature(event: Item) -> tuple[Any, ...]:
    f = event.fields
    return (event.job, event.type, f.get("epoch"), f.get("exception"), f.get("message"))


def _found(pattern: str, text: str) -> str:
    """The first group of `pattern` in `text`, or ""."""
    found = re.search(pattern, text)
    return found.group(1) if found else ""


def _from_the_log(said: str, log: str) -> tuple[str, str]:
    """(cause, advice) for a crash no config or dataset explains, from the event and log."""
    both = f"{said}\n{log}".casefold()
    if "preempt" in both:
        return (
            "the scheduler preempted it for a higher-priority job; nothing is wrong with"
            " the training",
            "requeue it: it resumes from its last checkpoint",
        )
    if "no space left" in both:
        path = QUOTED.search(f"{said}\n{log}")
        where = f" while writing {path.group(1)}" if path else ""
        return (
            f"the disk is full{where}",
            "free space or write checkpoints to a bigger volume, then requeue",
        )
    if "dataloader worker" in both and ("killed" in both or "exited unexpectedly" in both):
        return (
            "a DataLoader worker was killed, most likely by the host's out-of-memory killer"
            " (system RAM, not the GPU)",
            "use fewer DataLoader workers or a smaller prefetch, or give the job more memory",
        )
    if "no such file" in both and any(k in both for k in ("ckpt", "checkpoint", ".pt")):
        path = QUOTED.search(f"{said}\n{log}")
        missing = path.group(1) if path else "its file"
        return (
            f"the checkpoint it resumes from is missing: {missing}",
            "check the resume path, or start without resuming",
        )
    error = _last_error(log) or _last_error(said)
    if not error:
        return "unclear: the log shows no error", "see the full log, or rerun with more logging"
    nccl = "nccl" in error.casefold()
    return error, "check the node and requeue" if nccl else "see the log"


def _last_error(text: str) -> str | None:
    lines = [m.group(0).strip() for m in ERROR_LINE.finditer(text or "")]
    return lines[-1][:200] if lines else None


def _fields_line(event: Item) -> str:
    shown = {
        k: v for k, v in event.fields.items() if not isinstance(v, dict) and "\n" not in str(v)
    }
    shown.update(event.metrics)
    return " ".join(f"{k}={_num(v)}" for k, v in list(shown.items())[:6])
