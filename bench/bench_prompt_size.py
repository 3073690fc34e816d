"""Prompt size per turn: what the model receives with our config vs opencode's coding agent.

Counts the characters of the system prompt plus the JSON of the tool schemas in
the chat-completions request opencode sends, for one turn with our `mlops`
agent (the brief as its prompt, one small MCP server) and one turn with
opencode's default coding agent `build`, in the same opencode process.

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

from agent.opencode.client import ModelRef  # noqa: E402
from agent.opencode.config import PROVIDER_ID, McpServerSpec, build_config  # noqa: E402
from agent.opencode.runtime import DEFAULT_BINARY, OpencodeRuntime  # noqa: E402
from tests.fakes.model import ModelRequest, ScriptedModel  # noqa: E402

STAND_IN_BRIEF = "You are the MLOps agent. Report on training jobs briefly.\n"


def brief_text(brief_dir: Path) -> tuple[str, str]:
    files = sorted(brief_dir.glob("*.md"))
    if not files:
        return STAND_IN_BRIEF, f"no {brief_dir}/*.md: a one-line stand-in brief"
    return "\n\n".join(f.read_text() for f in files), f"{len(files)} files from {brief_dir}"


def sizes(request: ModelRequest) -> tuple[int, int]:
    return len(request.system), len(json.dumps(request.raw.get("tools") or []))


async def measure(brief_dir: Path) -> None:
    text, source = brief_text(brief_dir)
    with tempfile.TemporaryDirectory() as tmp, ScriptedModel() as model:
        prompt_file = Path(tmp) / "brief.md"
        prompt_file.write_text(text)
        echo = McpServerSpec("echo", [sys.executable, str(ROOT / "tests/opencode/echo_server.py")])
        config = build_config(
            base_url=model.base_url,
            model_id=model.model_id,
            api_key="bench",
            context=32_768,
            max_output=4_096,
            prompt_file=prompt_file,
            mcp_servers=[echo],
        )
        runtime = OpencodeRuntime(
            binary=DEFAULT_BINARY,
            state_dir=Path(tmp),
            config=config,
            model=ModelRef(PROVIDER_ID, model.model_id),
            model_base_url=model.base_url,
        )
        await runtime.start()
        try:
            ours_session = await runtime.ensure_session("ours")
            await runtime.run_turn(ours_session, "status?", timeout_s=60)
            ours = model.requests[-1]
            assert runtime._client is not None
            coder_session = await runtime.ensure_session("coder")
            await runtime._client.prompt(
                coder_session, "status?", agent="build", model=runtime.model
            )
            coder = model.requests[-1]
        finally:
            await runtime.stop()
    print(f"brief: {source}")
    print(f"{'agent':<18}{'system':>8}{'tools':>8}{'total':>8}{'n tools':>9}")
    totals = []
    for name, request in (("mlops (ours)", ours), ("build (opencode)", coder)):
        system, tools = sizes(request)
        totals.append(system + tools)
        print(f"{name:<18}{system:>8}{tools:>8}{system + tools:>8}{len(request.tool_names):>9}")
    print(f"ratio ours/default: {totals[0] / totals[1]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brief-dir", type=Path, default=ROOT / "brief")
    asyncio.run(measure(parser.parse_args().brief_dir))


if __name__ == "__main__":
    main()
