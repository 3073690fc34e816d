"""`mlops-agent eval`: run scenario suites against a model endpoint, or compare runs.

    mlops-agent eval --base-url http://gpu-box:8000/v1 --model qwen2.5-32b-instruct
    mlops-agent eval --suite notify --brief ./my-brief --output edited.json
    mlops-agent eval --repeat 3 --fail-under passed=0.8,precision=0.9   # for CI
    mlops-agent eval --scenarios shipped --scenarios ./our-scenarios    # ours beside them
    mlops-agent eval --compare baseline.json edited.json other-model.json --format markdown

The results file is rewritten after every scenario run (`"complete": false` until
the end), so a crash or a kill loses only the runs still going. Without an
endpoint, `--model embedded` (the default) or `embedded-small` starts the embedded
model for the run.

Exit status: 0 done; 1 a write reached a remote or the scheduler without a
person's approval (a product bug, whatever the model did), or a score fell below
--fail-under; 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.errors import EvalError, ScenarioError
from evals.tables import FORMATS

if TYPE_CHECKING:
    from agent.model.weights import Weights
    from evals.scenario import Scenario
    from evals.stage import ModelTarget

NOTHING_CONFIGURED = """no model to evaluate.
  Name an OpenAI-compatible endpoint and a model it serves:
    mlops-agent eval --base-url http://HOST:PORT/v1 --model MODEL
  or set MLOPS_MODEL_BASE_URL and MLOPS_MODEL (the service's own settings, also read from .env);
  without an endpoint, --model embedded or embedded-small evaluates the embedded model.
  Missing: {missing}"""


NOT_INSTALLED = """no model to evaluate.
  Without an endpoint the embedded model is evaluated, but {title} is not installed in {dir}:
    python -m agent.model install {setting}      (or `make run`, which installs it)
  or name an OpenAI-compatible endpoint and a model it serves:
    mlops-agent eval --base-url http://HOST:PORT/v1 --model MODEL
  (or set MLOPS_MODEL_BASE_URL and MLOPS_MODEL, the service's own settings, also read from .env)"""

# The embedded model's context per slot, as the service gives it (agent.settings).
EMBEDDED_CONTEXT = 16384


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mlops-agent eval",
        description="Evaluate a model and the brief on scenario suites, against the real service.",
    )
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (default: MLOPS_MODEL_BASE_URL)")
    p.add_argument(
        "--model",
        help="model name at that endpoint (default: MLOPS_MODEL); without an endpoint, "
        "embedded (the default) or embedded-small: the embedded model, started for the run",
    )
    p.add_argument("--api-key", help="the endpoint's key (default: MLOPS_MODEL_API_KEY)")
    p.add_argument(
        "--suite",
        action="append",
        default=[],
        metavar="TAG",
        help="notify, diagnose, answer, gate, overnight (repeatable)",
    )
    p.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="ID",
        help="one scenario by file name (repeatable)",
    )
    p.add_argument(
        "--scenarios",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of scenario files, instead of the shipped ones (repeatable;"
        " `shipped` names the shipped folder, to run yours beside it)",
    )
    p.add_argument(
        "--brief", type=Path, metavar="DIR", help="an edited brief to evaluate (default: brief/)"
    )
    p.add_argument(
        "--repeat", type=_positive, default=1, metavar="N", help="run each scenario N times"
    )
    p.add_argument(
        "--concurrency",
        type=_positive,
        default=1,
        metavar="N",
        help="services run side by side (each ~1 GB)",
    )
    p.add_argument(
        "--output",
        type=Path,
        metavar="PATH",
        help="the results (scores, transcripts) as JSON, written after every scenario run"
        " (default: mlops-eval-<time>-<model>.json here)",
    )
    p.add_argument(
        "--compare",
        type=Path,
        nargs="+",
        metavar="RESULTS.json",
        help="one table of results files, each compared with the first (one file: its report)",
    )
    p.add_argument(
        "--format", choices=FORMATS, default="text", help="text (default) or markdown tables"
    )
    p.add_argument(
        "--fail-under",
        type=_thresholds,
        metavar="SCORE=MIN,…",
        help="exit 1 when an overall score is below its minimum, e.g. passed=0.8,precision=0.9"
        f" (scores: {', '.join(THRESHOLD_NAMES)})",
    )
    p.add_argument("--judge-base-url", help="optional judge endpoint grading rubric steps")
    p.add_argument("--judge-model", help="the judge's model")
    p.add_argument("--judge-api-key", default="none")
    p.add_argument(
        "--turn-timeout", type=float, default=300.0, metavar="S", help="per turn (default 300)"
    )
    p.add_argument(
        "--step-timeout", type=float, metavar="S", help="per step (default: 2 turns + 30 s)"
    )
    p.add_argument(
        "--workdir",
        type=Path,
        metavar="DIR",
        help="keep the services' state here (default: a temp dir)",
    )
    p.add_argument("--list", action="store_true", help="list the chosen scenarios and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.compare:
            return compare(args.compare, args.format, args.fail_under)
        return evaluate(args)
    except ScenarioError as exc:
        print("mlops-agent eval: invalid scenarios:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except EvalError as exc:
        print(f"mlops-agent eval: {exc}", file=sys.stderr)
        return 2


def compare(paths: list[Path], fmt: str, thresholds: dict[str, float] | None) -> int:
    from evals.compare import compare as side_by_side
    from evals.report import read
    from evals.tables import run_table

    runs = [(str(p), read(p)) for p in paths]
    if thresholds and len(runs) > 1:
        raise EvalError("--fail-under checks one run: give one results file with it")
    print(run_table(runs[0][1], fmt) if len(runs) == 1 else side_by_side(runs, fmt))
    return _verdict(runs[0][1], thresholds)


def evaluate(args: argparse.Namespace) -> int:
    from evals.loader import DEFAULT_DIR, load_suite

    if not args.list:
        target, opencode_bin, embedded = _target(args)
    folders = [DEFAULT_DIR if str(d) == "shipped" else Path(d) for d in args.scenarios]
    scenarios = load_suite(folders or [DEFAULT_DIR], args.suite, args.scenario)
    if args.list:
        for s in scenarios:
            print(f"{s.id:<32} {','.join(s.tags):<12} {len(s.timeline)} steps  {s.title}")
        return 0
    brief = (args.brief or _default_brief()).resolve()
    if not sorted(brief.glob("*.md")):
        raise EvalError(f"--brief {brief}: no *.md files there; copy brief/ and edit the copy")
    if (args.judge_base_url is None) != (args.judge_model is None):
        raise EvalError("the judge needs both --judge-base-url and --judge-model")
    output = args.output or default_output(target.model)
    _hermetic_environment()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    print(f"results: {output} (written after every scenario run)", flush=True)
    try:
        data = asyncio.run(_run(args, scenarios, target, brief, opencode_bin, output, embedded))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print(
            f"\nmlops-agent eval: interrupted; the scenario runs that finished are in {output}",
            file=sys.stderr,
        )
        return 130
    from evals.tables import run_table

    print(run_table(data, args.format))
    print(f"\nresults: {output}")
    return _verdict(data, args.fail_under)


def _verdict(data: dict[str, Any], thresholds: dict[str, float] | None) -> int:
    """1 when a write reached without approval, or a score is under its --fail-under."""
    failed = False
    reached = data["scores"].get("reached_without_approval") or 0
    if reached:
        print(
            f"\nFAILED: {reached} write(s) reached a remote or the scheduler without approval",
            file=sys.stderr,
        )
        failed = True
    for key, minimum in (thresholds or {}).items():
        value = data["scores"].get(key)
        if value is None or value < minimum:
            shown = "no value" if value is None else f"{value:.3f}"
            print(f"FAILED: {key} {shown} is under --fail-under {minimum:g}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


async def _run(
    args: argparse.Namespace,
    scenarios: list[Scenario],
    target: ModelTarget,
    brief: Path,
    opencode_bin: Path | None,
    output: Path,
    embedded: Weights | None = None,
) -> dict[str, Any]:
    if embedded is None:
        return await _run_against(args, scenarios, target, brief, opencode_bin, output)
    async with embedded_endpoint(embedded, args) as started:
        target = replace(target, base_url=started.url, model=started.model_id)
        return await _run_against(args, scenarios, target, brief, opencode_bin, output)


@contextlib.asynccontextmanager
async def embedded_endpoint(weights: Weights, args: argparse.Namespace) -> AsyncIterator[Any]:
    """The embedded model for the run: one slot per service running side by side."""
    from agent.model.embedded import EmbeddedModel, EmbeddedModelError
    from agent.model.serve import cpu_threads

    state = Path(tempfile.mkdtemp(prefix="mlops-eval-model-"))
    model = EmbeddedModel(
        weights,
        args.model_dir,  # MLOPS_MODEL_DIR, read before the environment was cleared
        state_dir=state,
        context=EMBEDDED_CONTEXT,
        slots=args.concurrency,
        threads=cpu_threads(),
    )
    try:
        await model.start()
    except EmbeddedModelError as exc:
        raise EvalError(str(exc)) from None
    print(f"embedded model {model.model_id} at {model.url} (log {model.log_path})", file=sys.stderr)
    try:
        yield model
    finally:
        await model.stop()


async def _run_against(
    args: argparse.Namespace,
    scenarios: list[Scenario],
    target: ModelTarget,
    brief: Path,
    opencode_bin: Path | None,
    output: Path,
) -> dict[str, Any]:
    from evals.judge import Judge
    from evals.report import ResultsFile
    from evals.session import EvalSession, SessionOptions, repos_of

    _stop_on_sigterm()

    judge = (
        Judge(args.judge_base_url, args.judge_model, args.judge_api_key)
        if args.judge_model
        else None
    )
    options = SessionOptions(
        target=target,
        brief_dir=brief,
        concurrency=args.concurrency,
        turn_timeout_s=args.turn_timeout,
        step_timeout_s=args.step_timeout,
        workdir=args.workdir,
        opencode_bin=opencode_bin,
        judge=judge,
        repos=repos_of(scenarios),
    )
    async with EvalSession(options) as session:
        meta = lambda: dict(  # noqa: E731
            model=target.model,
            base_url=target.base_url,
            brief_dir=brief,
            system_prompt=session.proxy.system_prompt,
            tools_offered=session.proxy.tools_offered,
            repeat=args.repeat,
            concurrency=args.concurrency,
            startup_s=session.startup_s,
            judge_model=args.judge_model,
        )
        results_file = ResultsFile(output, meta)
        records = await session.run(scenarios, args.repeat, on_record=results_file.add)
        return results_file.write(records, complete=True)


def default_output(model: str) -> Path:
    """Without --output, results still land in a file (a long run must not be lost)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-")[:60] or "model"
    return Path(f"mlops-eval-{stamp}-{safe}.json")


def _stop_on_sigterm() -> None:
    """SIGTERM ends the run as Ctrl-C does: the services stop, the file keeps what finished."""
    task = asyncio.current_task()
    if task is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)


def _target(args: argparse.Namespace) -> tuple[ModelTarget, Path | None, Weights | None]:
    """The endpoint to evaluate, opencode, and the embedded model to start (None: an endpoint
    is named)."""
    from agent.model.weights import EMBEDDED, installed
    from agent.opencode.runtime import DEFAULT_BINARY
    from agent.settings import SettingsError, load_settings
    from evals.stage import ModelTarget

    try:
        settings = load_settings()
    except SettingsError as exc:
        raise EvalError(str(exc)) from None
    base_url = args.base_url or settings.model_base_url
    model = args.model or settings.model
    embedded = None
    if not base_url and (model is None or model in EMBEDDED):
        embedded = EMBEDDED[model or "embedded"]
        args.model_dir = settings.model_dir
        if not installed(embedded, settings.model_dir):
            raise EvalError(
                NOT_INSTALLED.format(
                    title=embedded.title, dir=settings.model_dir, setting=embedded.setting
                )
            )
        base_url, model = "http://127.0.0.1:0/v1", embedded.model_id  # set once it runs
    missing = [n for n, v in (("--base-url", base_url), ("--model", model)) if not v]
    if not (base_url and model):
        raise EvalError(NOTHING_CONFIGURED.format(missing=", ".join(missing)))
    if not base_url.startswith(("http://", "https://")):
        raise EvalError(
            f"--base-url {base_url!r}: must be an http:// or https:// URL ending in /v1"
        )
    binary = settings.opencode_bin or DEFAULT_BINARY
    if not Path(binary).exists():
        raise EvalError(
            f"opencode not found at {binary}: run `make install` (or set MLOPS_OPENCODE_BIN)"
        )
    default_context, default_output = (EMBEDDED_CONTEXT, 1024) if embedded else (32768, 4096)
    target = ModelTarget(
        base_url.rstrip("/"),
        model,
        args.api_key or settings.model_api_key,
        settings.model_context or default_context,
        settings.model_max_output or default_output,
    )
    return target, settings.opencode_bin, embedded


def _default_brief() -> Path:
    from evals.session import DEFAULT_BRIEF

    return DEFAULT_BRIEF


def _hermetic_environment() -> None:
    """The eval services run on their own fixtures: an operator's MLOPS_*, SLURM_* or GIT_*
    settings (a Slurm cluster, real repos) must not reach them through the skills."""
    for key in list(os.environ):
        if key.startswith(("MLOPS_", "SLURM_", "GIT_", "SLACK_")):
            del os.environ[key]


THRESHOLD_NAMES = {
    "precision": "precision",
    "recall": "recall",
    "content": "content_hits",
    "style": "style",
    "thread": "thread_correctness",
    "tool_validity": "tool_validity",
    "tool_use": "tool_use",
    "writes": "writes",
    "passed": "scenarios_passed",
    "judge": "judge",
}


def _thresholds(raw: str) -> dict[str, float]:
    """`passed=0.8,precision=0.9` → {"scenarios_passed": 0.8, "precision": 0.9}."""
    out = {}
    for part in raw.split(","):
        name, sep, value = part.strip().partition("=")
        key = THRESHOLD_NAMES.get(name.strip()) or (
            name.strip() if name.strip() in THRESHOLD_NAMES.values() else None
        )
        try:
            minimum = float(value)
        except ValueError:
            minimum = -1.0
        if not sep or key is None or not 0.0 <= minimum <= 1.0:
            raise argparse.ArgumentTypeError(
                f"{part.strip()!r}: SCORE=MIN with MIN from 0 to 1, SCORE one of"
                f" {', '.join(THRESHOLD_NAMES)}; e.g. passed=0.8,precision=0.9"
            )
        out[key] = minimum
    return out


def _positive(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{raw!r}: a whole number >= 1")
    return value
