"""A model that answers with garbage, through the whole harness: the real service, opencode
and the recording proxy. Every scenario run ends scored, and the results file keeps what
finished even when the run is killed (issue 21's crash: an echoed `turn_id=183e694ad…`
read as a number, and a whole run lost with it)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import pytest_asyncio
from aiohttp import web

from evals.loader import load_suite
from evals.report import read, results, write
from evals.session import EvalSession
from tests.conftest import ROOT
from tests.evals.conftest import session_options
from tests.evals.test_compare import SCHEMA
from tests.fakes.model import ModelRequest, Reply, ScriptedModel

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

KINDS = ("echo", "numbers", "huge", "badjson", "empty", "usage", "notool")
JOB = re.compile(r"job=garbage/(\w+)")
FAKE_HEADER = "[turn_id=183e694ad0f1c2b3a4d5e6f708192a3b conversation=job:garbage/x items=1]"


def scenario(kind: str) -> str:
    return f"""title: garbage {kind}
tags: [notify, easy]
setup:
  jobs:
    - {{name: garbage/{kind}, gpus: 1}}
timeline:
  - at: 0s
    event: {{type: crashed, job: garbage/{kind}, epoch: 12, message: "CUDA out of memory"}}
    expect: {{speak: true, contains: [crashed], numbers: [12, 183], max_calls: {{aiqu_get_job: 1}}}}
  - at: 1m
    event: {{type: epoch, job: garbage/{kind}, epoch: 13, metrics: {{val_loss: 0.31}}}}
    expect: {{speak: false}}
"""


def sse(*events: Any) -> bytes:
    return b"".join(
        b"data: " + (e if isinstance(e, bytes) else json.dumps(e).encode()) + b"\n\n"
        for e in events
    )


def delta(d: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": d, "finish_reason": finish}]}


def text_stream(text: str, piece: int = 40) -> bytes:
    parts = [delta({"content": text[i : i + piece]}) for i in range(0, len(text), piece)]
    tail = {"choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 10}}
    return sse(delta({"role": "assistant"}), *parts, delta({}, "stop"), tail, b"[DONE]")


def garbage(kind: str, request: ModelRequest) -> bytes | None:
    """The bytes of one answer; None: a plain scripted answer."""
    if kind == "echo":  # the 1.5B's quiet-run post: its input back, word for word
        return text_stream(f"{FAKE_HEADER}\n\n{request.last_user_text}")
    if kind == "numbers":
        return text_stream(
            "crashed: loss 1e999, " + "9" * 400 + ", NaN, inf, −1e-400, turn_id=183e694ad"
        )
    if kind == "huge":  # 1 MB in 25,000 deltas
        return text_stream("crashed at epoch 12. " + "x" * 1_000_000)
    if kind == "badjson":
        call = {"index": 0, "id": "call_bad", "type": "function"}
        return sse(
            delta(
                {"tool_calls": [{**call, "function": {"name": "aiqu_get_job", "arguments": ""}}]}
            ),
            delta({"tool_calls": [{"index": 0, "function": {"arguments": '{"job": "garb'}}]}),
            delta({}, "tool_calls"),
            b"[DONE]",
        )
    if kind == "empty":
        return sse({"choices": []}, {"choices": [], "usage": {"prompt_tokens": 5}}, b"[DONE]")
    if kind == "usage":  # 1e400 is Infinity to JavaScript and Python alike
        stream = text_stream("crashed at epoch 12")
        return stream.replace(b'"prompt_tokens": 100', b'"prompt_tokens": 1e400')
    if kind == "notool":
        call = {"index": 0, "id": "call_none", "type": "function"}
        fn = {"name": "shell_exec", "arguments": '{"cmd": "rm -rf /"}'}
        return sse(delta({"tool_calls": [{**call, "function": fn}]}), delta({}, "tool_calls"))
    return None


class GarbageModel(ScriptedModel):
    """The model double, answering a `garbage/<kind>` job's turns with bytes that no
    well-behaved endpoint sends; everything else (and every request after a tool
    result) gets a plain scripted answer. `garbage/slow` gets no answer for an hour."""

    def __init__(self) -> None:
        super().__init__(default_reply=Reply.text("noted"))

    async def _chat(self, http_request: web.Request) -> web.StreamResponse:
        body = await http_request.json()  # aiohttp keeps the body: the parent reads it again
        request = ModelRequest(raw=body, headers=dict(http_request.headers))
        last = request.messages[-1] if request.messages else {}
        found = JOB.search(request.last_user_text) if last.get("role") == "user" else None
        if found and found.group(1) == "slow":
            await asyncio.sleep(3600)
        raw = garbage(found.group(1), request) if found else None
        if raw is None:
            return await super()._chat(http_request)
        self.requests.append(request)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        try:
            await response.prepare(http_request)
            await response.write(raw)
            await response.write_eof()
        except ConnectionResetError:
            pass
        return response


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def model() -> AsyncIterator[GarbageModel]:
    m = GarbageModel()
    async with m:
        yield m


@pytest.fixture(scope="module")
def garbage_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("garbage-scenarios")
    for kind in (*KINDS, "slow"):
        (folder / f"garbage-{kind}.yaml").write_text(scenario(kind))
    return folder


async def test_every_kind_of_garbage_is_a_scored_step(
    model: GarbageModel, garbage_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    scenarios = load_suite(garbage_dir, (), [f"garbage-{k}" for k in KINDS])
    options = session_options(model, tmp_path_factory.mktemp("eval"))
    options.turn_timeout_s, options.step_timeout_s = 60, 120
    async with EvalSession(options) as session:
        records = await session.run(scenarios)
        data = results(
            records,
            model="garbage",
            base_url=model.base_url,
            brief_dir=options.brief_dir,
            system_prompt=session.proxy.system_prompt,
            tools_offered=session.proxy.tools_offered,
            repeat=1,
            concurrency=1,
            startup_s=session.startup_s,
        )
    path = tmp_path_factory.mktemp("out") / "garbage.json"
    write(path, data)
    saved = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in file"))
    jsonschema.validate(saved, SCHEMA)
    by_kind = {s["id"].removeprefix("garbage-"): s for s in saved["scenarios"]}
    assert sorted(by_kind) == sorted(KINDS)
    for kind, s in by_kind.items():
        print(f"[garbage] {kind}: " + "; ".join(_outcome(st) for st in s["steps"]))
        assert s["error"] is None or not s["error"].startswith("harness error"), (kind, s["error"])
        for step in s["steps"]:
            assert step["checks"], (kind, step)
            assert not any(c["check"] == "scored" for c in step["checks"]), (kind, step["checks"])
    first = {k: {c["check"]: c["ok"] for c in s["steps"][0]["checks"]} for k, s in by_kind.items()}
    assert first["echo"]["number 183"] is False  # 183e694ad… is an id, not a number
    assert first["numbers"]["number 12"] is False and first["numbers"]["speak"] is True
    assert first["huge"]["contains 'crashed'"] is True
    huge = by_kind["huge"]["steps"][0]["posted"][0]["text"]
    assert len(huge) < 25_000 and huge.endswith(" chars)")
    assert saved["scores"]["prompt_tokens"] is None or saved["scores"]["prompt_tokens"] < 10**9
    assert saved["scores"]["scenarios_passed"] == 0.0


def _outcome(step: dict[str, Any]) -> str:
    failed = [c["check"] for c in step["checks"] if not c["ok"]]
    said = "spoke" if step["spoke"] else "silent"
    return f"{said}, error {step['error']!r}, failed {failed}"


async def test_a_killed_run_keeps_every_finished_scenario(
    model: GarbageModel, garbage_dir: Path, tmp_path: Path
) -> None:
    output = tmp_path / "killed.json"
    temp = tmp_path / "tmp"  # where the run makes its world, so its jobs can be found
    temp.mkdir()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", "eval", "--base-url", model.base_url, "--model", "garbage",
        "--scenarios", str(garbage_dir), "--scenario", "garbage-echo",
        "--scenario", "garbage-numbers", "--scenario", "garbage-slow",
        "--output", str(output), "--turn-timeout", "600",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "TMPDIR": str(temp)},
        start_new_session=True,  # a group of its own, cleared below whatever is left
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while not _finished(output, 2):
            assert process.returncode is None, (await process.stdout.read()).decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "two scenarios never reached the file"
            await asyncio.sleep(1)
    finally:
        process.kill()  # SIGKILL: no handler runs, no file is written on the way out
        await process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # its children die with it; this is a belt
    data = read(output)
    assert data["complete"] is False
    assert sorted(s["id"] for s in data["scenarios"]) == ["garbage-echo", "garbage-numbers"]
    assert data["scores"]["scenarios_passed"] == 0.0 and data["scores"]["turns"] >= 4
    # The world's jobs run in sessions of their own (as a scheduler's jobs do): they end
    # by themselves once the run that made them is gone.
    deadline = time.monotonic() + 30
    while (left := _jobs_under(temp)) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    assert not left, left


def _jobs_under(folder: Path) -> list[str]:
    """The command lines of the eval world's jobs whose files lie under `folder`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if args[:1] == ["sh"] and any(a.startswith(str(folder)) for a in args):
            found.append(" ".join(args))
    return found


def _finished(path: Path, count: int) -> bool:
    try:
        return len(json.loads(path.read_text())["scenarios"]) >= count
    except (OSError, ValueError):
        return False
