"""Prompt size per turn: what the model receives from the service vs opencode's coding agent.

Counts the characters of the system prompt plus the JSON of the tool schemas in
the chat-completions request the model receives, for one event turn of the real
service with every skill on (git with a repo: the largest prompt), after the
service's model path (`agent.model.prompt`): the brief and the skills' tools.
Baseline, in the same opencode process: a turn of opencode's default coding agent
`build` with its own prompt and built-in tools. The budget is 12,000 characters
(tests/model/test_prompt_size.py holds it).

    .venv/bin/python bench/bench_prompt_size.py [--brief-dir brief]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.service import Service  # noqa: E402
from agent.settings import Settings, new_webhook_secret  # noqa: E402
from evals.bridge import RecordingBridge  # noqa: E402
from tests.conftest import OPENCODE_BIN, free_port  # noqa: E402
from tests.e2e.harness import eventually, post_event  # noqa: E402
from tests.fakes.model import ModelRequest, Reply, ScriptedModel  # noqa: E402

BUDGET = 12_000
SKILLS = ("aiqu_", "mlflow_", "datasets_", "git_")


def sizes(request: ModelRequest) -> tuple[int, int]:
    return len(request.system), len(json.dumps(request.raw.get("tools") or []))


def settings(root: Path, model: ScriptedModel, brief_dir: Path) -> Settings:
    (root / "training").mkdir()
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        state_dir=root / "state",
        brief_dir=brief_dir,
        model_base_url=model.base_url,
        model=model.model_id,
        webhook_secret=new_webhook_secret(),
        port=free_port(),
        chat=None,
        web="off",
        opencode_bin=OPENCODE_BIN,
        mlflow_tracking_uri=f"http://127.0.0.1:{free_port()}",
        git_repos=json.dumps({"training": {"path": str(root / "training"), "allow": ["**"]}}),
        local_gpus=2,
        digest_time=None,
    )


async def measure(brief_dir: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with ScriptedModel(default_reply=Reply.text("<silent/>")) as model:
            service = Service(settings(Path(tmp), model, brief_dir), chat=RecordingBridge())
            await service.start()
            try:
                await post_event(service.url, service.secret, type="crashed", job="bench/a")
                await eventually(lambda: model.requests, timeout=120)
                ours = model.requests[0]
                client = service.runtime._client
                assert client is not None
                session = await client.create_session("coder")
                await client.prompt(session, "status?", agent="build", model=service.runtime.model)
                coder = model.requests[-1]
            finally:
                await service.stop()
    print(f"brief: {brief_dir}")
    print(f"{'agent':<18}{'system':>8}{'tools':>8}{'total':>8}{'n tools':>9}")
    totals = []
    for name, request in (("mlops (ours)", ours), ("build (opencode)", coder)):
        system, tools = sizes(request)
        totals.append(system + tools)
        print(f"{name:<18}{system:>8}{tools:>8}{system + tools:>8}{len(request.tool_names):>9}")
    by_skill = {
        s: len(json.dumps([t for t in ours.raw["tools"] if t["function"]["name"].startswith(s)]))
        for s in SKILLS
    }
    print(f"ours by skill: {by_skill}")
    print(f"ours vs the budget: {totals[0]} / {BUDGET} ({BUDGET - totals[0]} left)")
    print(f"ratio ours/default: {totals[0] / totals[1]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brief-dir", type=Path, default=ROOT / "brief")
    asyncio.run(measure(parser.parse_args().brief_dir.resolve()))


if __name__ == "__main__":
    main()
