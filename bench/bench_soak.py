"""Benchmark: memory over a long run, and the first event after a start.

    .venv/bin/python bench/bench_soak.py [--turns 2000] [--jobs 40] [--every 200]
        [--max-rss-mb N] [--no-mlflow]

The service runs as in production (`python -m agent serve`, its own process
group, the embedded MLflow server, every skill on) against the scripted model
and the fake Slack, as in `bench_memory.py`. `--turns` event turns go round
robin over `--jobs` jobs, one at a time, each calling one skill tool before it
answers. Every `--every` turns it prints RSS and PSS summed over the whole
process tree (and per part), and how often the supervisor restarted opencode
for memory (`mlops_opencode_restarts_total` from `/metrics`). `--max-rss-mb`
sets `MLOPS_OPENCODE_MAX_RSS_MB` (default: the service's own default; 0: no
limit, for the baseline curve).

Targets (issue 10): the tree's PSS after all turns within 10 % of its value
after the first `--every`; idle PSS under 650 MiB with the embedded MLflow.

First event: the time from the signed POST of the first event after `/readyz`
to its reply in Slack, next to the median of the following events to new jobs
(each also a new conversation: an opencode session and a Slack thread), taken
once everything is warm. Target: within 1 s of the warm turn.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.bench_memory import (  # noqa: E402
    Snapshot,
    replied,
    service_env,
    snapshot,
    stop,
    tool_then_answer,
    wait_ready,
)
from bench.bench_turns import EventSender  # noqa: E402
from tests.fakes.model import ScriptedModel  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402

MIB = 1024
RESTARTS = re.compile(r'^mlops_opencode_restarts_total\{reason="(\w+)"\} (\S+)$', re.M)


async def restarts(url: str) -> dict[str, int]:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{url}/metrics")).text
    return {reason: int(float(n)) for reason, n in RESTARTS.findall(text)}


def totals(snap: Snapshot) -> tuple[int, float, float]:
    n = sum(v[0] for v in snap.values())
    return n, sum(v[1] for v in snap.values()) / MIB, sum(v[2] for v in snap.values()) / MIB


def parts(snap: Snapshot) -> str:
    return "  ".join(f"{name} {pss / MIB:.0f}" for name, (_, _, pss) in sorted(snap.items()))


async def turn(sender: EventSender, slack: FakeSlack, job: str, epoch: int) -> float:
    mark = uuid.uuid4().hex[:12]
    t0 = time.perf_counter()
    try:
        await sender.send(type="epoch", job=job, epoch=epoch, mark=mark)
    except httpx.TransportError as exc:
        # A keep-alive connection the server closed just as it was reused: send again,
        # as a reporter would (at worst the event is delivered twice, and answered twice).
        print(f"  resending the event of turn {epoch} after {exc!r}", flush=True)
        await sender.send(type="epoch", job=job, epoch=epoch, mark=mark)
    await slack.wait_for_post(replied(f"seen {mark}"), 120)
    return time.perf_counter() - t0


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        async with ScriptedModel() as model:
            model.handler = tool_then_answer
            slack = FakeSlack()
            await slack.start()
            env = service_env(root, model, slack, mlflow=not args.no_mlflow)
            if args.max_rss_mb is not None:
                env["MLOPS_OPENCODE_MAX_RSS_MB"] = str(args.max_rss_mb)
            url = f"http://127.0.0.1:{env['MLOPS_PORT']}"
            log = (root / "service.log").open("wb")
            process = subprocess.Popen(
                [sys.executable, "-m", "agent", "serve"],
                cwd=root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            sender = EventSender(url, env["MLOPS_WEBHOOK_SECRET"])
            try:
                t0 = time.perf_counter()
                await wait_ready(url, process)
                await slack.wait_connected(timeout=30)
                print(f"service ready in {time.perf_counter() - t0:.1f} s (pid {process.pid})")
                first = await turn(sender, slack, "soak/job-0", 0)
                await asyncio.sleep(5)
                idle = snapshot(process.pid)
                n, rss, pss = totals(idle)
                print(f"after start and one turn: {n} processes, RSS {rss:.0f} MiB, PSS {pss:.0f}")
                print(f"  PSS by part, MiB: {parts(idle)}")

                print(f"\n{'turns':>6} {'procs':>6} {'RSS MiB':>8} {'PSS MiB':>8} {'restarts':>9}")
                new_jobs: list[float] = []
                curve: list[tuple[int, float]] = []
                began = time.perf_counter()
                for i in range(1, args.turns + 1):
                    job = f"soak/job-{i % args.jobs}"
                    seconds = await turn(sender, slack, job, i)
                    if i < args.jobs:
                        new_jobs.append(seconds)  # a new conversation, everything warm
                    if i % args.every == 0:
                        snap = snapshot(process.pid)
                        n, rss, pss = totals(snap)
                        curve.append((i, pss))
                        memory = (await restarts(url)).get("memory", 0)
                        print(f"{i:>6} {n:>6} {rss:>8.0f} {pss:>8.0f} {memory:>9}", flush=True)
                        if args.parts:
                            print(f"  {parts(snap)}", flush=True)
                elapsed = time.perf_counter() - began
            except BaseException:
                log.flush()
                tail = (root / "service.log").read_text(errors="replace").splitlines()[-40:]
                print("the service's log, last lines:", *tail, sep="\n")
                raise
            finally:
                await sender.close()
                stop(process)
                log.close()
                await slack.stop()
    print(
        f"\n{args.turns} turns over {args.jobs} jobs in {elapsed:.0f} s"
        f" ({elapsed / args.turns:.2f} s/turn), {len(model.requests)} model requests"
    )
    if len(curve) >= 2:
        (first_n, first_pss), (last_n, last_pss) = curve[0], curve[-1]
        change = (last_pss - first_pss) / first_pss * 100
        print(
            f"tree PSS after {last_n} turns vs after {first_n}: {last_pss:.0f} vs"
            f" {first_pss:.0f} MiB ({change:+.1f} %; target within 10 %)"
        )
    if new_jobs:
        warm = statistics.median(new_jobs)
        print(
            f"first event after /readyz: {first:.2f} s; warm event to a new job (median of"
            f" {len(new_jobs)}): {warm:.2f} s; difference {first - warm:+.2f} s (target < 1 s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--every", type=int, default=200)
    parser.add_argument("--max-rss-mb", type=float, default=None)
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument("--parts", action="store_true", help="PSS per part at every report")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
