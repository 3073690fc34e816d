"""The embedded models on this machine's CPU: start, first and next turn, next to bare requests.

For each size (the 0.5B and the 1.5B): the model's start (process to answering), its
RSS; then two event turns through the whole service (real opencode, the skills, the
model path), each in its own conversation: the first pays the prompt cold, the next
finds the system prompt and tools in the server's prompt cache. Per turn: seconds,
model requests, prefill tokens (prompt tokens the server processed, not taken from
its cache), decode tokens, and the server's own prefill and decode tokens/s.

Baseline, in the same run: the first turn's first request, sent bare to the same
model (restarted: an empty cache) twice: cold, then again with the prompt cached.
The ratios say what the service adds around the model.

    .venv/bin/python bench/bench_local_model.py [--sizes embedded-small embedded] [--output F]

Minutes per size on 2 cores; not part of `make bench` unless named.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.model.embedded import EmbeddedModel  # noqa: E402
from agent.model.path import ModelPath  # noqa: E402
from agent.model.serve import cpu_threads  # noqa: E402
from agent.model.stream import Reply  # noqa: E402
from agent.model.weights import EMBEDDED  # noqa: E402
from agent.service import Service  # noqa: E402
from agent.settings import Settings, new_webhook_secret  # noqa: E402
from evals.bridge import RecordingBridge  # noqa: E402
from tests.conftest import OPENCODE_BIN, free_port  # noqa: E402
from tests.e2e.harness import post_event, turns  # noqa: E402

CONTEXT = 16384
TURN_TIMEOUT_S = 1500.0
EVENTS = [
    {"type": "crashed", "job": "team/detector-v3", "epoch": 2,
     "traceback": "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.25 GiB"},
    {"type": "finished", "job": "team/seg-b", "epochs": 30,
     "metrics": {"val_loss": 0.0842, "mIoU": 0.731}},
]  # fmt: skip


@dataclass
class Request:
    seconds: float
    prompt_tokens: int
    prefill_tokens: int  # processed, not from the cache
    decode_tokens: int
    prefill_tps: float | None
    decode_tps: float | None


@dataclass
class Turn:
    seconds: float
    outcome: str
    requests: list[Request] = field(default_factory=list)

    @property
    def prefill_tokens(self) -> int:
        return sum(r.prefill_tokens for r in self.requests)


def request_of(reply: Reply, seconds: float) -> Request:
    usage = reply.usage or {}
    timings = reply.extra.get("timings") or {}
    prompt = int(usage.get("prompt_tokens") or 0)
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    return Request(
        seconds=round(seconds, 1),
        prompt_tokens=prompt,
        prefill_tokens=int(timings.get("prompt_n", prompt - cached)),
        decode_tokens=int(usage.get("completion_tokens") or 0),
        prefill_tps=_rate(timings.get("prompt_per_second")),
        decode_tps=_rate(timings.get("predicted_per_second")),
    )


def _rate(value: Any) -> float | None:
    return round(float(value), 1) if isinstance(value, int | float) else None


class TimedPath(ModelPath):
    """The model path, keeping each answer's usage and the server's timings."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream, repair_tool_text=True, stop_repeats=False)
        self.replies: list[tuple[float, Reply]] = []
        self.bodies: list[dict[str, Any]] = []

    def _finish(self, reply: Reply, body: dict[str, Any]) -> None:
        super()._finish(reply, body)
        self.bodies.append(body)
        self.replies.append((time.monotonic(), reply))


def rss_mib(pid: int | None) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError):
        return None
    return None


def settings(state: Path, url: str, model_id: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        state_dir=state,
        model_base_url=url,
        model=model_id,
        model_context=CONTEXT,
        model_max_output=1024,
        max_concurrent_turns=1,
        turn_timeout_s=TURN_TIMEOUT_S,
        webhook_secret=new_webhook_secret(),
        port=free_port(),
        allowed_users=frozenset({"UALICE"}),
        notify_channel="CNOTIFY",
        chat=None,
        web="off",
        opencode_bin=OPENCODE_BIN,
        mlflow_tracking_uri=f"http://127.0.0.1:{free_port()}",
        local_gpus=2,
        digest_time=None,
        tick_interval_s=None,
    )


async def start_model(name: str, state: Path) -> tuple[EmbeddedModel, float]:
    model = EmbeddedModel(
        EMBEDDED[name],
        ROOT / ".models",
        state_dir=state,
        context=CONTEXT,
        slots=1,
        threads=cpu_threads(),
    )
    began = time.monotonic()
    await model.start()
    return model, time.monotonic() - began


async def service_turns(model: EmbeddedModel, state: Path) -> tuple[list[Turn], dict[str, Any]]:
    timed = TimedPath(model.url)
    await timed.start()
    service = Service(settings(state, timed.url, model.model_id), chat=RecordingBridge())
    await service.start()
    out = []
    try:
        for event in EVENTS:
            seen, began = len(timed.replies), time.monotonic()
            await post_event(service.url, service.secret, **event)
            await asyncio.sleep(1.0)
            while not await service.engine.idle():
                await asyncio.sleep(0.5)
            row = turns(state)[-1]
            turn = Turn(round(time.monotonic() - began, 1), f"{row['outcome']}/{row['reason']}")
            previous = began
            for at, reply in timed.replies[seen:]:
                turn.requests.append(request_of(reply, at - previous))
                previous = at
            out.append(turn)
            print(f"  turn {event['type']}: {turn.seconds} s, {turn.outcome}", flush=True)
    finally:
        await service.stop()
        await timed.stop()
    return out, timed.bodies[0]


async def bare(url: str, body: dict[str, Any]) -> Request:
    """One request as the model path sent it, straight to the model's endpoint."""
    body = {**body, "stream": True, "stream_options": {"include_usage": True}}
    reply = Reply()
    began = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=TURN_TIMEOUT_S)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.post(f"{url}/chat/completions", json=body) as response,
    ):
        async for chunk in response.content.iter_any():
            reply.feed(chunk)
    return request_of(reply, time.monotonic() - began)


async def measure(name: str) -> dict[str, Any]:
    print(f"{name}: {EMBEDDED[name].title}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-local-model-") as tmp:
        root = Path(tmp)
        model, start_s = await start_model(name, root / "model")
        try:
            turns_, first_body = await service_turns(model, root / "state")
            rss = rss_mib(model.pid)
        finally:
            await model.stop()
        # The baseline: the same first request, bare, to the same model with an empty cache.
        model, _ = await start_model(name, root / "model2")
        try:
            cold = await bare(model.url, first_body)
            warm = await bare(model.url, first_body)
        finally:
            await model.stop()
    return {
        "model": EMBEDDED[name].model_id,
        "start_s": round(start_s, 1),
        "rss_mib": rss,
        "turns": [{**asdict(t), "prefill_tokens": t.prefill_tokens} for t in turns_],
        "bare_cold": asdict(cold),
        "bare_warm": asdict(warm),
    }


def report(results: list[dict[str, Any]]) -> None:
    print(f"\nload average {os.getloadavg()[0]:.1f} (1 min), {cpu_threads()} threads")
    header = f"{'model':<36}{'start s':>8}{'RSS MiB':>9}"
    print(header)
    for r in results:
        print(f"{r['model']:<36}{r['start_s']:>8}{r['rss_mib'] or '-':>9}")
    print(f"\n{'model':<36}{'what':<14}{'s':>7}{'reqs':>6}{'prefill':>9}{'decode':>8}{'pf t/s':>8}")
    for r in results:
        rows = [("first turn", r["turns"][0]), ("next turn", r["turns"][1])]
        for label, t in rows:
            first = t["requests"][0] if t["requests"] else {}
            decode = sum(q["decode_tokens"] for q in t["requests"])
            print(
                f"{r['model']:<36}{label:<14}{t['seconds']:>7}{len(t['requests']):>6}"
                f"{t['prefill_tokens']:>9}{decode:>8}{first.get('prefill_tps') or '-':>8}"
            )
        for label, q in (("bare cold", r["bare_cold"]), ("bare warm", r["bare_warm"])):
            print(
                f"{r['model']:<36}{label:<14}{q['seconds']:>7}{1:>6}{q['prefill_tokens']:>9}"
                f"{q['decode_tokens']:>8}{q['prefill_tps'] or '-':>8}"
            )
        first_request = r["turns"][0]["requests"][0]["seconds"] if r["turns"][0]["requests"] else 0
        if r["bare_cold"]["seconds"]:
            print(
                f"  first request via the service / bare cold: "
                f"{first_request / r['bare_cold']['seconds']:.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["embedded-small", "embedded"])
    parser.add_argument("--output", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    results = [asyncio.run(measure(name)) for name in args.sizes]
    report(results)
    if args.output:
        args.output.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
