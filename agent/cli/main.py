"""`mlops-agent`: serve, emit, submit, doctor, audit, web-user, eval.

Errors become one clear message and a non-zero exit here, at the boundary.
`emit` needs only the reporter (the base distribution); the other commands
import the service lazily. Commands from outside `agent/` arrive as plugins (the
`mlops_agent.commands` entry points): `eval`, the harness in `evals/`, which parses
its own options.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.cli.plugins import CliError, plugin_commands

if TYPE_CHECKING:
    from agent.cli.plugins import Subparsers


def main(argv: list[str] | None = None, commands: Iterable[EntryPoint] | None = None) -> int:
    """`commands`: the plugin commands' entry points; by default the installed ones."""
    parser = argparse.ArgumentParser(prog="mlops-agent", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_builtin_commands(sub)
    plugins = plugin_commands(sub, commands)

    args, rest = parser.parse_known_args(argv)
    if rest and args.command not in plugins:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        if args.command in plugins:
            return int(plugins[args.command](rest) or 0)
        return int(COMMANDS[args.command](args) or 0)
    except CliError as exc:
        print(f"mlops-agent {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _add_builtin_commands(sub: Subparsers) -> None:
    sub.add_parser("serve", help="run the service (settings from the environment and .env)")
    _add_emit(sub)
    _add_submit(sub)
    sub.add_parser("doctor", help="check settings and every dependency, one line each")
    audit = sub.add_parser("audit", help="print the audit log")
    audit.add_argument("--job", help="only this job's conversation and rows naming it")
    audit.add_argument("--conversation", help="only this conversation, e.g. job:customer-b/x")
    audit.add_argument("--since", help="ISO time, e.g. 2026-11-26T08:00")
    audit.add_argument("--until", help="ISO time")
    _add_web_user(sub)


def _add_emit(sub: Subparsers) -> None:
    emit = sub.add_parser("emit", help="send one signed training event")
    emit.add_argument("--job", required=True, help="logical job name, e.g. customer-b/pcb-v2")
    emit.add_argument("--type", required=True, help="event type, e.g. started, epoch, crashed")
    emit.add_argument(
        "--metric",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a metric (repeatable), e.g. --metric val_loss=0.084",
    )
    emit.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other field (repeatable), e.g. --field epoch=12",
    )
    emit.add_argument(
        "--traceback", metavar="FILE", help="attach a traceback read from FILE ('-' for stdin)"
    )
    emit.add_argument(
        "--url",
        default=os.environ.get("MLOPS_URL", "http://127.0.0.1:8080"),
        help="service base URL (default: $MLOPS_URL or http://127.0.0.1:8080)",
    )
    emit.add_argument(
        "--secret",
        default=None,
        help="webhook secret (default: $MLOPS_WEBHOOK_SECRET or state/webhook_secret)",
    )


def _add_submit(sub: Subparsers) -> None:
    submit = sub.add_parser(
        "submit",
        help="queue a job on the embedded local scheduler: mlops-agent submit [--name N]"
        " [--gpus 2] [--time-limit 120] [--owner U…] -- python train.py",
        allow_abbrev=False,
    )
    submit.add_argument("--name", help="logical job name, e.g. customer-a/weld-defect-v4")
    submit.add_argument("--gpus", type=int, default=0, help="GPUs it needs (default 0)")
    submit.add_argument(
        "--time-limit", type=int, metavar="MIN", help="minutes before it is stopped"
    )
    submit.add_argument("--owner", help="whom the job concerns (default: you, the OS user)")
    submit.add_argument(
        "argv", nargs=argparse.REMAINDER, metavar="-- COMMAND", help="the command to run"
    )


def _add_web_user(sub: Subparsers) -> None:
    web_user = sub.add_parser(
        "web-user", help="add a web page user, or set their password and role, in the users file"
    )
    web_user.add_argument("name", help="lowercase name, e.g. alice (recorded as web:alice)")
    role = web_user.add_mutually_exclusive_group()
    role.add_argument("--approver", action="store_true", help="may approve proposals")
    role.add_argument("--no-approver", action="store_true", help="may talk, not approve")
    admin = web_user.add_mutually_exclusive_group()
    admin.add_argument("--admin", action="store_true", help="sees every conversation")
    admin.add_argument("--no-admin", action="store_true", help="sees their routes' and own")
    how = web_user.add_mutually_exclusive_group()
    how.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    how.add_argument(
        "--link",
        action="store_true",
        help="print a one-time sign-in link instead of setting a password",
    )


def cmd_serve(_: argparse.Namespace) -> int:
    import asyncio
    import logging

    from agent.service import Service
    from agent.service.setup_help import SLACK_HELP, embedded_model_note
    from agent.settings import SettingsError, load_settings

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise CliError(str(exc)) from None
    if settings.model_base_url and not settings.model:
        raise CliError(f"MLOPS_MODEL: name the model served at {settings.model_base_url}")
    if (weights := settings.embedded_model) is not None:
        from agent.model.weights import installed

        if not installed(weights, settings.model_dir):
            raise CliError(
                f"{weights.title} is not installed in {settings.model_dir}: run `make run` (it "
                f"installs it) or `python -m agent.model install {weights.setting}`; or point "
                "MLOPS_MODEL_BASE_URL at your own model (README: The model)"
            )
        print(embedded_model_note(settings), file=sys.stderr)
    if settings.chat_kind == "web" and settings.web_enabled:
        print(
            "No Slack configured: the conversations live on the service's own web page."
            " Open the address it prints below (see README: Slack, to add Slack).",
            file=sys.stderr,
        )
    elif settings.chat_kind == "slack" and not settings.slack_configured:
        print(SLACK_HELP, file=sys.stderr)
        print(
            "\nStarting anyway: events are accepted and every turn is recorded, "
            "replies go to the log until Slack is configured.\n",
            file=sys.stderr,
        )
    from agent.children import StateDirBusy

    try:
        asyncio.run(Service(settings).serve_forever())
    except StateDirBusy as exc:
        raise CliError(str(exc)) from None
    return 0


def cmd_emit(args: argparse.Namespace) -> int:
    from standardwebhooks import Webhook

    from mlops_reporter.transport import Outcome, new_message_id, post_event

    secret = (
        args.secret
        or os.environ.get("MLOPS_WEBHOOK_SECRET")
        or _secret_from_file()
        or _saved_secret()
    )
    if not secret:
        raise CliError(
            "no webhook secret: pass --secret or set MLOPS_WEBHOOK_SECRET"
            " (or MLOPS_WEBHOOK_SECRET_FILE)"
        )
    event: dict[str, Any] = {"type": args.type, "job": args.job}
    event.update(_pairs(args.field, "--field"))
    metrics = _pairs(args.metric, "--metric")
    if metrics:
        event["metrics"] = metrics
    if args.traceback:
        source = sys.stdin if args.traceback == "-" else _open(args.traceback)
        event["traceback"] = source.read()
    try:
        webhook = Webhook(secret)
    except Exception as exc:
        raise CliError(f"invalid webhook secret: {exc}") from None
    endpoint = args.url.rstrip("/") + "/hooks/training"
    delivery = post_event(endpoint, webhook, new_message_id(), json.dumps(event))
    if delivery.outcome is not Outcome.SENT:
        raise CliError(f"not delivered to {endpoint}: {delivery.status or ''} {delivery.detail}")
    print(f"sent {args.type} for {args.job} ({delivery.status})")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from agent.cli.submit import SubmitError, submit
    from agent.settings import SettingsError, load_settings

    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        raise CliError("no command to run: mlops-agent submit [options] -- python train.py")
    if command[0].startswith("-") and args.argv[:1] != ["--"]:
        raise CliError(f"unknown option {command[0]!r}; put the command after --")
    try:
        queued = submit(
            load_settings(),
            command,
            name=args.name,
            gpus=args.gpus,
            time_limit_min=args.time_limit,
            owner=args.owner,
        )
    except (SettingsError, SubmitError) as exc:
        raise CliError(str(exc)) from None
    print(f"queued job {queued.id}: {queued.name}, attempt {queued.attempt}")
    if not queued.service_running:
        print("the service is not running: the job starts once `mlops-agent serve` does")
    return 0


def cmd_doctor(_: argparse.Namespace) -> int:
    from agent.cli.doctor import run_checks

    return run_checks()


def cmd_audit(args: argparse.Namespace) -> int:
    from agent.engine.audit import AuditQueryError, audit_report
    from agent.settings import SettingsError, load_settings

    try:
        settings = load_settings()
        report = audit_report(
            settings.state_dir,
            job=args.job,
            conversation=args.conversation,
            since=args.since,
            until=args.until,
        )
    except (SettingsError, AuditQueryError) as exc:
        raise CliError(str(exc)) from None
    print(report)
    return 0


def cmd_web_user(args: argparse.Namespace) -> int:
    from agent.web.command import WebUserError, web_user

    try:
        for line in web_user(args):
            print(line)
    except WebUserError as exc:
        raise CliError(str(exc)) from None
    return 0


def _pairs(items: list[str], flag: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise CliError(f"{flag} expects KEY=VALUE, got {item!r}")
        out[key] = _number(raw)
    return out


def _number(raw: str) -> Any:
    for convert in (int, float):
        try:
            return convert(raw)
        except ValueError:
            pass
    return raw


def _open(path: str) -> Any:
    try:
        return open(path, encoding="utf-8")  # noqa: SIM115 - read and closed by the caller's exit
    except OSError as exc:
        raise CliError(f"cannot read traceback file: {exc}") from None


def _secret_from_file() -> str | None:
    """MLOPS_WEBHOOK_SECRET_FILE, as the service reads it (a container secret)."""
    name = os.environ.get("MLOPS_WEBHOOK_SECRET_FILE")
    if not name:
        return None
    try:
        return Path(name).read_text().strip() or None
    except OSError as exc:
        raise CliError(f"MLOPS_WEBHOOK_SECRET_FILE: cannot read {name}: {exc.strerror}") from None


def _saved_secret() -> str | None:
    path = Path(os.environ.get("MLOPS_STATE_DIR", "state")) / "webhook_secret"
    return path.read_text().strip() if path.exists() else None


COMMANDS = {
    "serve": cmd_serve,
    "emit": cmd_emit,
    "submit": cmd_submit,
    "doctor": cmd_doctor,
    "audit": cmd_audit,
    "web-user": cmd_web_user,
}
