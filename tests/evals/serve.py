"""Serve a scripted agent as an OpenAI-compatible endpoint, to try `mlops-agent eval`
without a model:

    python -m tests.evals.serve reference --port 8999
    mlops-agent eval --base-url http://127.0.0.1:8999/v1 --model reference
"""

from __future__ import annotations

import argparse
import contextlib
import threading

from tests.evals.agents import AGENTS
from tests.fakes.model import ScriptedModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("agent", choices=sorted(AGENTS))
    parser.add_argument("--port", type=int, default=8999)
    args = parser.parse_args()
    model = ScriptedModel(model_id=args.agent)
    model.port = args.port
    model.handler = AGENTS[args.agent]
    with model:
        print(f"{args.agent} at {model.base_url} (Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
