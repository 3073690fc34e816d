"""Benchmark: the supervisor's overhead per event turn, and the prompt each turn costs.

    .venv/bin/python bench/bench_turns.py [--events 50]

The whole service runs in this process as in the end-to-end tests: the real
opencode binary and skills (aiqu, mlflow, datasets, and git with a temporary
repo configured), a scripted model that answers at once, and the fake Slack.
One event at a time, each waited for until its reply lands in Slack:

- `--events` events to distinct jobs (each starts a conversation: a new
  opencode session and a new Slack thread), and
- `--events` events to one job (one session whose history grows).

The time runs from the signed POST to the reply's `chat.postMessage` at the
fake Slack. The baseline, measured in the same run and taking turns with the
service event by event, is the raw opencode turn on the same server:
`runtime.ensure_session` + `runtime.run_turn` for a new conversation, and
`run_turn` on one session for the same job, with text shaped like the
service's. The difference is the supervisor's own overhead (intake, inbox,
turn engine, ledger, hooks, Slack post). A split from the service's own
records (inbox `received`, turns `started`/`ended`) shows where it goes.

Prompt size: characters of system prompt + tool schemas (JSON) in the model
request of a service turn, by skill, next to opencode's default coding agent
`build` asked once in the same opencode process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from standardwebhooks import Webhook  # noqa: E402

from agent.service import Service  # noqa: E402
from tests.e2e.harness import service_settings  # noqa: E402
from tests.fakes.model import ModelRequest, Reply, ScriptedModel  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402

MARK = re.compile(r"mark=(\w+)")
SKILL_PREFIXES = ("aiqu_", "mlflow_", "datasets_", "git_")


def make_git_repo(root: Path) -> str:
    """A clone with a bare remote, as the git skill expects; returns MLOPS_GIT_REPOS."""
    remote, clone = root / "remote.git", root / "clone"
    root.mkdir(parents=True, exist_ok=True)

    def git(*args: str, cwd: Path = root) -> None:
        subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)

    git("init", "-q", "--bare", "-b", "main", str(remote))
    git("clone", "-q", str(remote), str(clone))
    (clone / "configs").mkdir()
    (clone / "configs/train.yaml").write_text("lr: 0.001\nepochs: 50\n")
    git("-c", "user.name=bench", "-c", "user.email=b@x", "add", ".", cwd=clone)
    git("-c", "user.name=bench", "-c", "user.email=b@x", "commit", "-qm", "seed", cwd=clone)
    git("push", "-q", "origin", "HEAD:main", cwd=clone)
    return json.dumps({"train": {"path": str(clone), "branch": "main", "allow": ["configs/**"]}})


def echo_mark(request: ModelRequest) -> Reply:
    """The instant model: repeats the event's mark, so the bench knows which post is whose."""
    found = MARK.findall(request.last_user_text)
    return Reply.text(f"seen {found[-1]}" if found else "ok")


@contextlib.asynccontextmanager
async def bench_service(
    root: Path, *, embedded_mlflow: bool = False, **settings: Any
) -> AsyncIterator[tuple[Service, ScriptedModel, FakeSlack]]:
    """The service as the e2e tests run it, with every skill (git with a temp repo);
    `settings` are passed on (e.g. web_users)."""
    async with ScriptedModel() as model:
        slack = FakeSlack()
        await slack.start()
        extra: dict[str, Any] = {"git_repos": make_git_repo(root), **settings}
        if embedded_mlflow:
            extra["mlflow_tracking_uri"] = None  # the service starts its own MLflow server
        service = Service(service_settings(root / "state", model.base_url, slack.api_url, **extra))
        try:
            await service.start()
            await slack.wait_connected(timeout=30)
            model.handler = echo_mark
            yield service, model, slack
        finally:
            await service.stop()
            await slack.stop()


class EventSender:
    """Signs on the fly (one fresh webhook-id per event) over one keep-alive client."""

    def __init__(self, url: str, secret: str) -> None:
        self.url = f"{url}/hooks/training"
        self.webhook = Webhook(secret)
        self.client = httpx.AsyncClient()

    async def send(self, **event: Any) -> None:
        body = json.dumps(event)
        msg_id, now = "msg_" + uuid.uuid4().hex, datetime.now(UTC)
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self.webhook.sign(msg_id, now, body),
            "content-type": "application/json",
        }
        response = await self.client.post(self.url, content=body, headers=headers)
        if response.status_code != 202:
            raise RuntimeError(f"intake answered {response.status_code}: {response.text}")

    async def close(self) -> None:
        await self.client.aclose()


async def service_turn(sender: EventSender, slack: FakeSlack, job: str, epoch: int) -> float:
    mark = uuid.uuid4().hex[:12]
    t0 = time.perf_counter()
    await sender.send(type="epoch", job=job, epoch=epoch, metrics={"loss": 0.43}, mark=mark)
    await slack.wait_for_post(lambda p: p.text == f"seen {mark}", timeout=60)
    return time.perf_counter() - t0


async def raw_turn(service: Service, session: str | None, job: str, epoch: int) -> float:
    """The same shape of text straight into opencode: no intake, inbox, engine or Slack."""
    mark = uuid.uuid4().hex[:12]
    text = (
        f"[turn_id={uuid.uuid4().hex} conversation=job:{job} items=1 (event)]\n\n"
        f"event epoch 12:00:00Z job={job}\nepoch={epoch} mark={mark}\nmetrics: loss=0.43"
    )
    t0 = time.perf_counter()
    if session is None:
        session = await service.runtime.ensure_session(f"raw:{job}")
    result = await service.runtime.run_turn(session, text, 60)
    elapsed = time.perf_counter() - t0
    if result.text != f"seen {mark}":
        raise RuntimeError(f"raw turn answered {result.text!r}")
    return elapsed


def split_from_records(state: Path, conversations: list[str]) -> dict[str, list[float]]:
    """Per turn: inbox received → turn started (pickup) and started → ended (turn)."""
    conn = sqlite3.connect(state / "service.sqlite")
    split: dict[str, list[float]] = {"pickup": [], "turn": []}
    try:
        for conv in conversations:
            received = [
                r[0]
                for r in conn.execute(
                    "SELECT received FROM inbox WHERE conversation = ? ORDER BY id", (conv,)
                )
            ]
            turns = conn.execute(
                "SELECT started, ended FROM turns WHERE conversation = ? ORDER BY seq", (conv,)
            ).fetchall()
            for got, (started, ended) in zip(received, turns, strict=False):
                split["pickup"].append(started - got)
                split["turn"].append(ended - started)
    finally:
        conn.close()
    return split


def quantiles_ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"p50 {statistics.median(ordered) * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms"


async def measure_turns(service: Service, slack: FakeSlack, events: int) -> None:
    sender = EventSender(service.url, service.secret)
    times: dict[str, list[float]] = {k: [] for k in ("svc new", "raw new", "svc same", "raw same")}
    try:
        # Warm-up: the first turn of a process pays for opencode's and the skills' lazy starts.
        await service_turn(sender, slack, "bench/warmup", 0)
        await raw_turn(service, None, "bench/warmup-raw", 0)
        raw_session = await service.runtime.ensure_session("raw:bench/same")
        for i in range(events):
            times["svc new"].append(await service_turn(sender, slack, f"bench/new-{i}", i))
            times["raw new"].append(await raw_turn(service, None, f"bench/raw-{i}", i))
        for i in range(events):
            times["svc same"].append(await service_turn(sender, slack, "bench/same", i))
            times["raw same"].append(await raw_turn(service, raw_session, "bench/same", i))
    finally:
        await sender.close()

    print(f"turn time, webhook in → Slack post out, {events} events each, one at a time:")
    for scenario, label in (("new", "distinct jobs"), ("same", "one job")):
        svc, raw = times[f"svc {scenario}"], times[f"raw {scenario}"]
        overhead = statistics.median(svc) - statistics.median(raw)
        print(f"  {label}:")
        print(f"    service            {quantiles_ms(svc)}")
        print(f"    raw opencode turn  {quantiles_ms(raw)}   (baseline)")
        print(f"    supervisor overhead at p50: {overhead * 1000:.1f} ms")
    print("  target: service p50 < 1000 ms")

    new = [f"job:bench/new-{i}" for i in range(events)]
    for label, convs in (("distinct jobs", new), ("one job", ["job:bench/same"])):
        split = split_from_records(service.state_dir, convs)
        print(f"  split from the service's records, {label}:")
        print(f"    inbox received → turn started   {quantiles_ms(split['pickup'])}")
        print(f"    turn started → turn ended       {quantiles_ms(split['turn'])}")


def prompt_sizes(request: ModelRequest) -> tuple[int, int, dict[str, tuple[int, int]]]:
    tools = request.raw.get("tools") or []
    by_skill: dict[str, tuple[int, int]] = {}
    for tool in tools:
        name = tool["function"]["name"]
        skill = next((p[:-1] for p in SKILL_PREFIXES if name.startswith(p)), "other")
        count, chars = by_skill.get(skill, (0, 0))
        by_skill[skill] = (count + 1, chars + len(json.dumps(tool)))
    return len(request.system), len(json.dumps(tools)), by_skill


async def measure_prompt(service: Service, model: ScriptedModel, slack: FakeSlack) -> None:
    model.requests.clear()
    sender = EventSender(service.url, service.secret)
    try:
        await service_turn(sender, slack, "bench/prompt-size", 1)
    finally:
        await sender.close()
    ours = model.requests[-1]  # the service's own turn: brief, skills, rendered event
    assert service.runtime._client is not None
    coder_session = await service.runtime.ensure_session("prompt-size-build")
    await service.runtime._client.prompt(
        coder_session, "status?", agent="build", model=service.runtime.model
    )
    coder = model.requests[-1]

    # Our skills are registered for every agent, so `build` sees them too; its own
    # default (what a stock opencode sends) is the request without them.
    builtin_only = dict(coder.raw)
    builtin_only["tools"] = [
        t
        for t in coder.raw.get("tools") or []
        if not t["function"]["name"].startswith(SKILL_PREFIXES)
    ]
    rows = (
        ("mlops (ours)", ours),
        ("build + our skills", coder),
        ("build, built-ins only", ModelRequest(raw=builtin_only, headers={})),
    )
    print("\nprompt per turn (characters; tools = the JSON of the tool schemas):")
    print(f"  {'agent':<24}{'system':>8}{'tools':>8}{'total':>8}{'n tools':>9}")
    totals = []
    for name, request in rows:
        system, tools, _ = prompt_sizes(request)
        totals.append(system + tools)
        print(f"  {name:<24}{system:>8}{tools:>8}{system + tools:>8}{len(request.tool_names):>9}")
    print(f"  ratio ours / build built-ins only: {totals[0] / totals[2]:.2f}")
    print(f"  the rendered event of a turn: {len(ours.last_user_text)} characters")
    print("  ours by skill:")
    for skill, (count, chars) in sorted(prompt_sizes(ours)[2].items()):
        print(f"    {skill:<10} {count:>3} tools {chars:>7} chars")
    largest = sorted(ours.raw.get("tools") or [], key=lambda t: -len(json.dumps(t)))[:5]
    print(
        "  largest tool schemas: "
        + ", ".join(f"{t['function']['name']} {len(json.dumps(t))}" for t in largest)
    )


async def run(events: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        async with bench_service(Path(tmp)) as (service, model, slack):
            print(f"service started in {time.perf_counter() - t0:.1f} s")
            await measure_turns(service, slack, events)
            await measure_prompt(service, model, slack)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50)
    asyncio.run(run(parser.parse_args().events))


if __name__ == "__main__":
    main()
