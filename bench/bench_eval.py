"""Benchmark: the eval harness's own overhead per scenario (setup + teardown), scenario
time on the virtual clock included.

    .venv/bin/python bench/bench_eval.py [--repeat 1] [--fresh 2]

One eval session (MLflow server, recording proxy, one whole service with its
fixture world) runs every scenario in evals/scenarios against an instant
model: it answers every request at once with the silence marker, so nearly
all the time left is the harness's. Per scenario run it records the setup
(repos, datasets, jobs started and waited for, sweeps, MLflow runs) and the
teardown (waiting for the service to settle, cancelling jobs, deleting sweeps
and experiments), and prints their mean, p50, p95 and max.

Scenario time runs on each stage's virtual clock: `at:` offsets of minutes to a
day (quiet hours, the scheduled check, the morning digest, an expired approval)
pass without real waiting; the bench prints how much scenario time the suite
covered against the wall time it took.

Baseline, measured in the same run: what a fresh service per scenario would
cost instead, i.e. starting a stage (its world, the service, opencode, the
skills' first turn) and stopping it, `--fresh` times. Targets (issue 24): the
overhead under 0.5 s per scenario on average, under 3 s at most.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evals.loader import load_suite  # noqa: E402
from evals.session import EvalSession, SessionOptions, repos_of  # noqa: E402
from evals.stage import ModelTarget, Stage  # noqa: E402
from tests.conftest import OPENCODE_BIN  # noqa: E402
from tests.fakes.model import Reply, ScriptedModel  # noqa: E402

TARGET_MEAN_S = 0.5
TARGET_MAX_S = 3.0


def spread(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"mean {statistics.fmean(values):.2f} s  p50 {statistics.median(values):.2f} s"
        f"  p95 {p95:.2f} s  max {max(values):.2f} s"
    )


async def fresh_stage(session: EvalSession, root: Path, n: int) -> float:
    """Start and stop a whole stage, as one scenario per service would have to."""
    assert session.mlflow is not None
    started = time.monotonic()
    stage = Stage(
        root / f"fresh-{n}",
        proxy_url=session.proxy.url,
        target=session.options.target,
        brief_dir=session.options.brief_dir,
        repos=session.options.repos,
        tracking_uri=session.mlflow.uri,
        turn_timeout_s=session.options.turn_timeout_s,
        opencode_bin=OPENCODE_BIN,
    )
    try:
        await stage.start()
        await stage.warm_up(session.proxy, session.step_timeout_s)
    finally:
        await stage.stop()
    return time.monotonic() - started


async def main(repeat: int, fresh: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    scenarios = load_suite()
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmp:
        async with ScriptedModel(default_reply=Reply.text("<silent/>")) as model:
            options = SessionOptions(
                target=ModelTarget(model.base_url, "instant"),
                turn_timeout_s=60,
                step_timeout_s=120,
                workdir=Path(tmp) / "session",
                opencode_bin=OPENCODE_BIN,
                repos=repos_of(scenarios),
            )
            async with EvalSession(options) as session:
                what = "session startup (MLflow, proxy, one service, warm-up)"
                print(f"{what}: {session.startup_s:.1f} s")
                started = time.monotonic()
                records = await session.run(scenarios, repeat)
                wall = time.monotonic() - started
                starts = [await fresh_stage(session, Path(tmp), n) for n in range(fresh)]
    setup = [r.setup_s for r in records]
    teardown = [r.teardown_s for r in records]
    overhead = [r.setup_s + r.teardown_s for r in records]
    turns = sum(len(s.turns) for r in records for s in r.steps)
    covered = sum(max((s.at for s in r.steps), default=0.0) for r in records)
    print(f"\n{len(records)} scenario runs ({len(scenarios)} scenarios x {repeat}), {turns} turns,")
    print(f"{wall:.1f} s in all ({wall / len(records):.2f} s per scenario, turns included)")
    print(
        f"scenario time covered on the virtual clock: {covered / 3600:.1f} h"
        f" ({covered / wall:.0f}x faster than real time)\n"
    )
    print(f"harness setup     {spread(setup)}")
    print(f"harness teardown  {spread(teardown)}")
    print(
        f"harness overhead  {spread(overhead)}"
        f"   target mean < {TARGET_MEAN_S} s, max < {TARGET_MAX_S:.0f} s"
    )
    print(f"baseline: a fresh service per scenario  {spread(starts)}")
    ratio = statistics.fmean(starts) / statistics.fmean(overhead)
    print(f"\nsharing the service: {ratio:.0f}x less overhead per scenario than a fresh one")
    slowest = sorted(records, key=lambda r: r.setup_s + r.teardown_s, reverse=True)[:3]
    print(
        "slowest: " + ", ".join(f"{r.scenario} {r.setup_s + r.teardown_s:.2f} s" for r in slowest)
    )
    mean, most = statistics.fmean(overhead), max(overhead)
    verdict = "meets" if mean < TARGET_MEAN_S and most < TARGET_MAX_S else "MISSES"
    print(
        f"overhead mean {mean:.2f} s, max {most:.2f} s: {verdict} the targets"
        f" (mean < {TARGET_MEAN_S} s, max < {TARGET_MAX_S:.0f} s)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="passes over the suite")
    parser.add_argument("--fresh", type=int, default=2, help="fresh-service baseline starts")
    args = parser.parse_args()
    asyncio.run(main(args.repeat, args.fresh))
