"""Play one scenario run on a stage: set up, deliver each step, observe, take down.

Time first: the stage's virtual clock moves to the step's `at:` (start + at), and
on the way the service's timers that the scenario switched on (`clock.check_every`,
`clock.digest`) run at each moment they are due, through the service's own
schedule code. No real waiting: an overnight scenario plays in seconds.

Then the step is delivered the way the outside world would: events as signed POSTs
to the webhook, people's words and clicks through the chat bridge, forced ticks
through the schedule code; a `wait` step delivers nothing. Then the harness waits
until the service has nothing left to do and records what happened in the step:
its turns (from the service's database), the model's requests (from the proxy),
what was posted, and what changed on the remotes and the scheduler.

A timer added to the service later (e.g. a watcher of silent jobs) joins the
scenario clock in `_timers`: one pass at each moment it is due.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC
from datetime import time as clock_time
from typing import Any

from agent.engine.schedule import Schedule
from agent.watch.facts import WatchConfig
from agent.watch.watcher import Watcher
from evals.bridge import Post
from evals.cast import NOTIFY_CHANNEL, person
from evals.gate import gate_events
from evals.namespace import Namespace
from evals.proxy import RecordingProxy
from evals.records import Place, ScenarioRecord, StepRecord, ToolUse, TurnRecord
from evals.scenario import Scenario, Step
from evals.scenario_clock import digest_moment, due_moments
from evals.stage import Stage
from evals.webhook import post_events
from evals.world import WorldState
from mcp_servers.aiqu.ownership import AGENT

log = logging.getLogger(__name__)
TICK_INTERVAL_S = 1800.0
DIGEST_AT = clock_time(7, 30)


class StepFailed(Exception):
    """The step could not be delivered as written (e.g. no card to click)."""


class Playthrough:
    def __init__(
        self,
        stage: Stage,
        proxy: RecordingProxy,
        scenario: Scenario,
        ns: Namespace,
        step_timeout_s: float,
        start: float,
    ) -> None:
        self.stage = stage
        self.start = start  # the scenario's 0s on the stage's virtual clock
        self.proxy = proxy
        self.scenario = scenario
        self.ns = ns
        self.step_timeout_s = step_timeout_s
        self.roots: dict[str, str] = {}  # conversation target -> root ts of its thread
        self.cards: list[Post] = []
        self.turn_ids: list[str] = []
        self.last_message: tuple[str, str] | None = None  # (channel, thread root)
        self.ticks = 0
        self.timers = self._timers()

    @property
    def service(self) -> Any:
        assert self.stage.service is not None
        return self.stage.service

    async def run(self, record: ScenarioRecord) -> None:
        world = self.stage.world
        state = await asyncio.to_thread(world.state)
        for index, step in enumerate(self.scenario.timeline):
            step_record, state = await self.step(index, step, state)
            record.steps.append(step_record)

    async def step(
        self, index: int, step: Step, before: WorldState
    ) -> tuple[StepRecord, WorldState]:
        record = StepRecord(index, step.kind, step.at, step.expect, None)
        first_turn = self.stage.records.last_turn()
        first_post = len(self.stage.bridge.posts)
        started = time.monotonic()
        try:
            queued = await self.pass_time(step.at)
            record.clock = self.stage.clock.now()
            record.place = await self.deliver(step)
            if step.scheduler is not None:  # the world's doing, not the agent's: not counted
                before = await asyncio.to_thread(self.stage.world.state)
            if step.wait:
                record.place = self._place(queued[0]) if queued else None
            if not await self.stage.records.settled(self.step_timeout_s):
                record.error = f"the service was still busy after {self.step_timeout_s:.0f} s"
        except StepFailed as exc:
            record.error = str(exc)
        record.seconds = time.monotonic() - started
        after = before
        try:
            record.posts = self.stage.bridge.posts[first_post:]
            record.turns = [self._turn(row) for row in self.stage.records.turns_after(first_turn)]
            self.turn_ids += [t.turn_id for t in record.turns]
            self.cards += [p for p in record.posts if p.card_proposal]
            self._learn_root(record)
            after = await asyncio.to_thread(self.stage.world.state)
            self._world_changes(record, before, after)
            record.gate = await asyncio.to_thread(
                gate_events, self.service.ledger, record, self.turn_ids
            )
        except Exception as exc:
            # Whatever the model left behind, the step is recorded and failed; the run goes on.
            log.exception("observing step %d of %s failed", index + 1, self.scenario.id)
            record.error = f"harness error while observing the step: {exc!r}"[:1000]
        return record, after

    # -- time ------------------------------------------------------------------------

    def _timers(self) -> Schedule | None:
        """The service's schedule as this scenario switches it on, on the scenario clock."""
        c = self.scenario.clock
        if c.check_every is None and c.digest is None:
            return None
        return Schedule(
            self.service.inbox, self.stage.world.state_dir, self.service.engine.wake,
            tick_interval_s=c.check_every, digest_at=c.digest, zone=UTC,
            clock=self.stage.clock.now,
        )  # fmt: skip

    async def pass_time(self, at: float) -> list[str]:
        """Scenario time to `at`, each due timer run on the way; the conversations they
        queued. The service settles after each pass, as it would between timers."""
        clock, queued = self.stage.clock, []
        target = self.start + at
        c = self.scenario.clock
        moments = due_moments(clock.now(), target, c.check_every, c.digest) if self.timers else []
        for moment in moments:
            clock.advance_to(moment)
            assert self.timers is not None
            queued += await self.timers.run_once()
            if not await self.stage.records.settled(self.step_timeout_s):
                raise StepFailed(f"the service was still busy after {self.step_timeout_s:.0f} s")
        clock.advance_to(target)
        return queued

    # -- delivery --------------------------------------------------------------------

    async def deliver(self, step: Step) -> Place | None:
        if step.kind in ("event", "events"):
            return await self._events(step)
        if step.message is not None:
            return await self._message(step)
        if step.click is not None:
            return await self._click(step)
        if step.scheduler is not None:
            what, job = step.scheduler.action
            await asyncio.to_thread(
                self.stage.world.act, what, self.ns.name(job), step.scheduler.by
            )
            return None
        if step.tick == "watch":
            return await self._watch()
        if step.wait:
            return None  # the timers that ran on the way are the step
        return await self._tick(step)

    async def _events(self, step: Step) -> Place:
        events = [
            self._fill(self.ns.deep(template), n)
            for template in step.sent_events_template()
            for n in range(1, step.repeat + 1)
        ]
        responses = await post_events(self.service.url, self.service.secret, events)
        refused = [r for r in responses if r.status_code != 202]
        if refused:
            raise StepFailed(
                f"the webhook refused an event: {refused[0].status_code} {refused[0].text}"
            )
        labels = events[0].get("labels") if isinstance(events[0].get("labels"), dict) else {}
        target = f"sweep:{labels['sweep']}" if labels.get("sweep") else f"job:{events[0]['job']}"
        return self._place(target)

    def _fill(self, value: Any, n: int) -> Any:
        """`${n}` (the repeat count, 1..N) and `${proposal}` (the latest card's proposal)."""
        if isinstance(value, str):
            if value == "${n}":
                return n
            if "${proposal}" in value:
                if not self.cards:
                    raise StepFailed("${proposal} used before any proposal card was posted")
                value = value.replace("${proposal}", self.cards[-1].card_proposal or "")
            return value.replace("${n}", str(n))
        if isinstance(value, dict):
            return {k: self._fill(v, n) for k, v in value.items()}
        if isinstance(value, list):
            return [self._fill(v, n) for v in value]
        return value

    async def _message(self, step: Step) -> Place:
        assert step.message is not None
        who = person(step.message.sender)
        text = self._fill(self.ns.text(step.message.text), 1)
        thread = step.message.thread
        if thread == "dm":
            channel, root, is_dm = who.dm_channel, None, True
        elif thread == "channel":
            channel, root, is_dm = NOTIFY_CHANNEL, None, False
        elif thread == "previous":
            assert self.last_message is not None
            channel, root = self.last_message
            is_dm = channel.startswith("D")
        else:
            kind, _, name = thread.partition(":")
            target = f"{kind}:{self.ns.name(name)}"
            if target not in self.roots:
                raise StepFailed(f"{thread} has no thread yet: nothing was posted about it")
            channel, root, is_dm = NOTIFY_CHANNEL, self.roots[target], False
        message = await self.stage.bridge.say(who.user_id, text, channel, root, is_dm)
        self.last_message = (channel, message.thread_root)
        return Place(channel, message.thread_root)

    async def _click(self, step: Step) -> Place:
        assert step.click is not None
        if not self.cards:
            raise StepFailed("no proposal card to click: none was posted in this scenario")
        which = step.click.card
        if which != "latest" and not 1 <= int(which) <= len(self.cards):
            raise StepFailed(f"card {which}: only {len(self.cards)} card(s) were posted")
        card = self.cards[-1] if which == "latest" else self.cards[int(which) - 1]
        await self.stage.bridge.click(person(step.click.sender).user_id, step.click.action, card)
        return Place(card.channel, card.thread_ts or card.ts)

    async def _tick(self, step: Step) -> Place | None:
        """A forced pass: the digest (at the next 07:30 of the scenario clock, unless its
        hour has just begun), or the scheduled check of every active sweep now."""
        service, clock = self.service, self.stage.clock
        if step.tick == "digest":
            moment = digest_moment(clock.now(), DIGEST_AT, self.stage.last_digest)
            clock.advance_to(moment)
            self.stage.last_digest = moment  # the service keeps one digest per date
            schedule = Schedule(
                service.inbox, self.stage.world.state_dir, service.engine.wake,
                tick_interval_s=None, digest_at=DIGEST_AT, zone=UTC, clock=clock.now,
            )  # fmt: skip
            queued = await schedule.run_once()
            return self._place(queued[0]) if queued else None
        self.ticks += 1
        # A slot of its own, after every sweep's start, whatever the scenario's time.
        moment = clock.now() + TICK_INTERVAL_S * (1 + self.ticks)
        schedule = Schedule(
            service.inbox, self.stage.world.state_dir, service.engine.wake,
            tick_interval_s=TICK_INTERVAL_S, digest_at=None, zone=UTC, clock=lambda: moment,
        )  # fmt: skip
        queued = await schedule.run_once()
        return self._place(queued[0]) if queued else None

    async def _watch(self) -> Place | None:
        """One pass of the service's scheduler watcher on the scenario clock, a grace period
        after the step's moment (so jobs that ended then are due), counting from this
        scenario's start (earlier runs' jobs are history)."""
        service = self.service
        s = service.settings
        moment = self.stage.clock.now() + s.watch_grace_s + 1
        watcher = Watcher(
            service.inbox,
            service.db,
            service.watch_probe,
            WatchConfig(s.watch_grace_s, s.silence_factor, s.silence_min_s),
            wake=service.engine.wake,
            interval_s=None,
            globs=s.watch_jobs,
            clock=lambda: moment,
            floor=self.start,
        )
        queued = await watcher.run_once()
        return self._place(queued[0]) if queued else None

    def _place(self, target: str) -> Place:
        return (
            Place(NOTIFY_CHANNEL, self.roots.get(target)) if target else Place(NOTIFY_CHANNEL, None)
        )

    # -- observation -----------------------------------------------------------------

    def _turn(self, row: dict[str, Any]) -> TurnRecord:
        calls = self.proxy.calls_of({row["turn_id"]})
        seconds = row["ended"] - row["started"] if row.get("ended") else None
        return TurnRecord(
            row["turn_id"], row["conversation"], row["source"], row["outcome"], row["reason"],
            seconds, calls, tool_uses(row["turn_id"], calls), row.get("detail"),
        )  # fmt: skip

    def _learn_root(self, record: StepRecord) -> None:
        """A conversation's first post starts its thread: remember where."""
        if record.place is None or record.place.root is not None:
            return
        for turn in record.turns:
            target = turn.conversation
            if target in self.roots:
                continue
            first = next(
                (p for p in record.posts if p.kind == "post" and p.channel == record.place.channel),
                None,
            )
            if first is not None:
                self.roots[target] = first.thread_ts or first.ts

    def _world_changes(self, record: StepRecord, before: WorldState, after: WorldState) -> None:
        for job_id, job in after.jobs.items():
            old = before.jobs.get(job_id)
            if old is None:
                record.started_jobs.append(job.name)
            elif old.state != "cancelled" and job.state == "cancelled":
                record.cancelled_jobs.append(job.name)
                if job.by != AGENT:
                    record.cancelled_people_jobs.append(job.name)
        for repo_name, refs in after.refs.items():
            repo = self.stage.world.repos[repo_name]
            for sha, proposal in repo.commits_since(before.refs.get(repo_name, {}), refs):
                record.remote_commits.append(f"{repo_name}:{sha}:{proposal}")


def tool_uses(turn_id: str, calls: list[Any]) -> list[ToolUse]:
    """Every tool call of a turn with the result the model got back (matched by call id)."""
    results: dict[str, str] = {}
    for call in calls:
        for message in call.turn_messages:
            if message.get("role") == "tool":
                content = message.get("content")
                text = content if isinstance(content, str) else json.dumps(content)
                results[str(message.get("tool_call_id"))] = text
    uses = []
    for call in calls:
        for tc in call.tool_calls:
            arguments = parsed_arguments(tc["arguments"])
            uses.append(ToolUse(turn_id, tc["id"], tc["name"], arguments, results.get(tc["id"])))
    return uses


def parsed_arguments(raw: str) -> Any:
    """A call's arguments as JSON, or the raw text where they are not JSON (or nest too
    deep to read, or hold NaN/Infinity, which stay text: the results file is strict JSON)."""
    try:
        return json.loads(raw or "{}", parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return raw


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
