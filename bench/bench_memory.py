"""Benchmark: resident memory of the whole service, idle and after 100 turns.

    .venv/bin/python bench/bench_memory.py [--turns 100] [--jobs 10] [--no-mlflow]

The service runs as in production, `python -m agent serve` in its own process
group with its settings in the environment, here against the scripted model
and the fake Slack (both live in this bench process, outside the measured
tree). Every skill is on: aiqu (local scheduler), datasets, git with a
temporary repo, and mlflow against the embedded MLflow server the service
starts itself (`--no-mlflow` points it at a closed port instead).

Memory is read from /proc: the supervisor and all its descendants (opencode,
the skill servers it spawned, the MLflow server), RSS per process and summed,
and PSS (shared pages split between the processes that map them, so the sum
does not count a shared library six times). Measured idle after start
(readiness, which now includes every skill started and a warm-up turn, plus a
5 s settle), after the first turn, and after `--turns` event turns spread
over `--jobs` jobs, each turn calling one skill tool before it answers. For
scale, a bare `python -c` interpreter is measured the same way. For memory
over thousands of turns, see `bench_soak.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from agent.settings import new_webhook_secret  # noqa: E402
from bench.bench_turns import MARK, EventSender, make_git_repo  # noqa: E402
from tests.conftest import OPENCODE_BIN, free_port  # noqa: E402
from tests.e2e.harness import ALICE, NOTIFY  # noqa: E402
from tests.fakes import slack as fake_slack  # noqa: E402
from tests.fakes.model import ModelRequest, Reply, ScriptedModel  # noqa: E402
from tests.fakes.slack import FakeSlack, Post  # noqa: E402

# One read-only call per turn, round robin: every skill server does some work.
TOOL_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("aiqu_list_jobs", {}),
    ("datasets_list_datasets", {}),
    ("git_read_file", {"repo": "train", "path": "configs/train.yaml"}),
    ("mlflow_search_runs", {}),
]
NEXT_CALL = itertools.cycle(TOOL_CALLS)


# ---- /proc ----------------------------------------------------------------------


def children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the name may hold spaces and ')'
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def tree(root: int) -> list[int]:
    children, pids, todo = children_map(), [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, []))
    return pids


def proc_kib(pid: int, file: str, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def label(pid: int, root: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    cmd = " ".join(a.decode(errors="replace") for a in argv if a)
    if pid == root:
        return "supervisor"
    if skill := re.search(r"-m mcp_servers\.(\w+)", cmd):
        return f"skill {skill.group(1)}"
    if "mlflow" in cmd or "uvicorn" in cmd or "huey" in cmd:
        return "mlflow server"
    if "opencode" in cmd:
        return "opencode"
    return Path(argv[0].decode(errors="replace")).name or "?"


def snapshot(root: int) -> dict[str, tuple[int, int, int]]:
    """label → (processes, RSS KiB, PSS KiB)."""
    out: dict[str, tuple[int, int, int]] = {}
    for pid in tree(root):
        n, rss, pss = out.get(name := label(pid, root), (0, 0, 0))
        rss += proc_kib(pid, "status", "VmRSS")
        pss += proc_kib(pid, "smaps_rollup", "Pss")
        out[name] = (n + 1, rss, pss)
    return out


Snapshot = dict[str, tuple[int, int, int]]


def print_snapshots(snapshots: list[tuple[str, Snapshot]]) -> None:
    mib = 1024
    names = sorted({name for _, snap in snapshots for name in snap})
    print(f"{'RSS / PSS, MiB':<18}" + "".join(f"{title:>20}" for title, _ in snapshots))
    for name in [*names, "total"]:
        cells = []
        for _, snap in snapshots:
            rows = snap.values() if name == "total" else [snap.get(name, (0, 0, 0))]
            n, rss, pss = (sum(r[i] for r in rows) for i in range(3))
            cells.append(f"{n:>3} x {rss / mib:>5.0f} / {pss / mib:>5.0f}" if n else "-")
        print(f"{name:<18}" + "".join(f"{c:>20}" for c in cells))
    (first, a), (last, b) = snapshots[1], snapshots[-1]
    grew = [(sum(v[i] for v in b.values()) - sum(v[i] for v in a.values())) / mib for i in (1, 2)]
    print(f"growth from '{first}' to '{last}': RSS {grew[0]:+.0f} MiB, PSS {grew[1]:+.0f} MiB")


def bare_python() -> tuple[int, int]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(1.0)
        return proc_kib(proc.pid, "status", "VmRSS"), proc_kib(proc.pid, "smaps_rollup", "Pss")
    finally:
        proc.kill()
        proc.wait()


# ---- the service ------------------------------------------------------------------


def service_env(root: Path, model: ScriptedModel, slack: FakeSlack, mlflow: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "SLACK_"))}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "MLOPS_STATE_DIR": str(root / "state"),
            "MLOPS_MODEL_BASE_URL": model.base_url,
            "MLOPS_MODEL": model.model_id,
            "MLOPS_WEBHOOK_SECRET": new_webhook_secret(),
            "MLOPS_HOST": "127.0.0.1",
            "MLOPS_PORT": str(free_port()),
            "MLOPS_ALLOWED_USERS": ALICE,
            "MLOPS_NOTIFY_CHANNEL": NOTIFY,
            "MLOPS_SLACK_API_URL": slack.api_url,
            "SLACK_BOT_TOKEN": fake_slack.BOT_TOKEN,
            "SLACK_APP_TOKEN": fake_slack.APP_TOKEN,
            "SLACK_SIGNING_SECRET": fake_slack.SIGNING_SECRET,
            "MLOPS_OPENCODE_BIN": str(OPENCODE_BIN),
            "MLOPS_LOCAL_GPUS": "2",
            "MLOPS_GIT_REPOS": make_git_repo(root),
            # No morning digest: a digest turn at start would run beside the measured ones.
            "MLOPS_DIGEST_TIME": "",
        }
    )
    if not mlflow:
        env["MLOPS_MLFLOW_TRACKING_URI"] = f"http://127.0.0.1:{free_port()}"
    return env


async def wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the service exited with {process.returncode}")
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"the service was not ready within {timeout_s:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT (the service's own bounded stop), then the whole process group if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(90)
        except subprocess.TimeoutExpired:
            print("the service did not stop within 90 s: killing its process group")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # stragglers it left in its own group
    process.wait()


def replied(text: str) -> Callable[[Post], bool]:
    return lambda post: post.text == text


def tool_then_answer(request: ModelRequest) -> Reply:
    """First request of a turn calls a tool; the one after the tool result answers."""
    marks = MARK.findall(request.last_user_text)
    if request.messages and request.messages[-1]["role"] == "user":
        return Reply.tool_calls(next(NEXT_CALL))
    return Reply.text(f"seen {marks[-1]}" if marks else "ok")


async def run(args: argparse.Namespace) -> None:
    bare_rss, bare_pss = bare_python()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        async with ScriptedModel() as model:
            model.handler = tool_then_answer
            slack = FakeSlack()
            await slack.start()
            env = service_env(root, model, slack, mlflow=not args.no_mlflow)
            url = f"http://127.0.0.1:{env['MLOPS_PORT']}"
            log = (root / "service.log").open("wb")
            process = subprocess.Popen(
                [sys.executable, "-m", "agent", "serve"],
                cwd=root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: nothing outlives the bench
            )
            try:
                t0 = time.perf_counter()
                await wait_ready(url, process)
                await slack.wait_connected(timeout=30)
                print(f"service ready in {time.perf_counter() - t0:.1f} s (pid {process.pid})")
                await asyncio.sleep(5)
                snapshots = [("idle after start", snapshot(process.pid))]

                sender = EventSender(url, env["MLOPS_WEBHOOK_SECRET"])
                t0 = time.perf_counter()
                try:
                    for i in range(args.turns):
                        mark = uuid.uuid4().hex[:12]
                        job = f"bench/mem-{i % args.jobs}"
                        await sender.send(type="epoch", job=job, epoch=i, mark=mark)
                        await slack.wait_for_post(replied(f"seen {mark}"), 60)
                        if i == 0:
                            await asyncio.sleep(2)
                            snapshots.append(("after 1 turn", snapshot(process.pid)))
                finally:
                    await sender.close()
                elapsed = time.perf_counter() - t0
                print(
                    f"{args.turns} turns over {args.jobs} jobs in {elapsed:.1f} s,"
                    f" {len(model.requests)} model requests"
                )
                await asyncio.sleep(2)
                snapshots.append((f"after {args.turns} turns", snapshot(process.pid)))
            finally:
                stop(process)
                log.close()
                await slack.stop()
    print()
    print_snapshots(snapshots)
    print(
        f"baseline, a bare python interpreter: RSS {bare_rss / 1024:.0f} MiB,"
        f" PSS {bare_pss / 1024:.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--no-mlflow", action="store_true")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
