"""Record what the real embedded models write, for the tests to replay (tests/model/recorded/).

    PYTHONPATH=. .venv/bin/python -m tests.model.record embedded-small
    PYTHONPATH=. .venv/bin/python -m tests.model.record embedded

The whole service runs against llama.cpp's own server with nothing between them
but a recording proxy: no repair on the model's side, so what is recorded is the
model's raw output (tool calls written as text, echoes, invented calls). The
service's own model path repairs calls as it does for the embedded model, so a
turn goes on as in production. A few real inputs are played in: a crash with
its traceback, a routine epoch, a finished job, a question, a request to cancel
someone else's job. Minutes per turn on CPU: run by hand, not by the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from agent.chat.base import IncomingMessage
from agent.model.serve import ServerOptions, cpu_threads, start_llama
from agent.model.weights import EMBEDDED, verify_once
from agent.service import Service
from agent.settings import Settings, new_webhook_secret
from evals.bridge import RecordingBridge
from evals.proxy import RecordingProxy
from tests.conftest import ROOT, free_port
from tests.e2e.harness import post_event

OUT = Path(__file__).with_name("recorded")
ALICE = "UALICE"
TRACEBACK = """Traceback (most recent call last):
  File "train.py", line 88, in <module>
    loss = model(images).loss
  File "torch/nn/modules/module.py", line 1518, in _call_impl
    return forward_call(*args, **kwargs)
torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.25 GiB (GPU 0; 23.65 GiB
total capacity; 20.91 GiB already allocated). image_size=1280 batch=16"""

INPUTS: list[tuple[str, dict[str, Any]]] = [
    ("event", {"type": "crashed", "job": "team/detector-v3", "owner": "ann", "epoch": 2,
               "traceback": TRACEBACK}),
    ("event", {"type": "epoch", "job": "team/detector-v3", "epoch": 4, "total_epochs": 20,
               "metrics": {"val_loss": 0.4213, "mAP50": 0.612}}),
    ("chat", {"text": "what jobs are running right now?"}),
    ("event", {"type": "finished", "job": "team/seg-b", "epochs": 30,
               "metrics": {"val_loss": 0.0842, "mIoU": 0.731}}),
    ("chat", {"text": "please cancel job team/detector-v3, it belongs to ann"}),
]  # fmt: skip


def settings(state: Path, proxy_url: str, model_id: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        state_dir=state,
        model_base_url=proxy_url,
        model=model_id,
        model_tool_text="repair",
        model_max_output=1024,
        model_context=16384,
        max_concurrent_turns=1,
        turn_timeout_s=1200.0,
        webhook_secret=new_webhook_secret(),
        port=free_port(),
        allowed_users=ALICE,
        notify_channel="CNOTIFY",
        chat=None,
        web="off",
        mlflow_tracking_uri=f"http://127.0.0.1:{free_port()}",
        local_gpus=2,
        digest_time=None,
        tick_interval_s=None,
    )


async def settle(service: Service, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    await asyncio.sleep(1.0)
    while not await service.engine.idle():
        if time.monotonic() > deadline:
            raise TimeoutError("the turn did not finish")
        await asyncio.sleep(1.0)


async def record(name: str) -> Path:
    weights = EMBEDDED[name]
    options = ServerOptions(
        model_file=verify_once(weights, ROOT / ".models"),
        model_id=weights.model_id,
        port=0,
        context=16384,
        slots=1,
        threads=cpu_threads(),
    )
    llama, url = await asyncio.to_thread(start_llama, options)
    proxy = await RecordingProxy(url).start()
    bridge = RecordingBridge()
    with tempfile.TemporaryDirectory(prefix="mlops-record-") as tmp:
        service = Service(settings(Path(tmp) / "state", proxy.url, weights.model_id), chat=bridge)
        await service.start()
        turns = []
        try:
            for i, (kind, item) in enumerate(INPUTS):
                began, first = time.monotonic(), len(proxy.calls)
                if kind == "event":
                    await post_event(service.url, service.secret, **item)
                else:
                    ts = f"{int(time.time())}.{i:06d}"
                    await service.chat_intake.on_message(
                        IncomingMessage("DALICE", ts, ALICE, item["text"], is_dm=True)
                    )
                await settle(service, 1500)
                turns.append(
                    {
                        "input": item,
                        "seconds": round(time.monotonic() - began, 1),
                        "requests": [_call(c) for c in proxy.calls[first:]],
                    }
                )
                print(f"{name} {kind} done in {turns[-1]['seconds']} s", flush=True)
        finally:
            await service.stop()
            await proxy.stop()
            del llama
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{weights.model_id}.json"
    posts = [p.as_json() for p in bridge.posts]
    path.write_text(
        json.dumps({"model": weights.model_id, "turns": turns, "posts": posts}, indent=1)
    )
    return path


def _call(call: Any) -> dict[str, Any]:
    turn_input = call.turn_messages[0].get("content") if call.turn_messages else None
    return {
        "turn_input": turn_input,
        "history": len(call.turn_messages),
        "text": call.text,
        "tool_calls": call.tool_calls,
        "prompt_tokens": call.prompt_tokens,
        "completion_tokens": call.completion_tokens,
        "seconds": round(call.seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(EMBEDDED))
    print(asyncio.run(record(parser.parse_args().model)))


if __name__ == "__main__":
    main()
