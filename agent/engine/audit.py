"""`mlops-agent audit`: the ledger's audit trail as text, oldest first.

One line per row: time (UTC), conversation, turn (first 8 hex digits), actor,
action, then the detail as key=value. A row whose MAC no longer matches was
edited outside the service and is marked `EDITED`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from core.ledger import AuditRow, Ledger
from core.skill_env import LEDGER_FILE, LEDGER_KEY_FILE


class AuditQueryError(ValueError):
    """A bad filter or a missing ledger; the message says what would be valid."""


def format_audit(rows: Iterable[AuditRow]) -> str:
    lines = [_line(row) for row in rows]
    return "\n".join(lines) if lines else "no audit rows match"


def audit_report(
    state_dir: Path,
    *,
    job: str | None = None,
    conversation: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> str:
    """What the CLI prints: the filtered trail of the ledger in `state_dir`."""
    path = state_dir / LEDGER_FILE
    if not path.exists():
        # Opening would create an empty ledger: refuse instead, naming where we looked.
        raise AuditQueryError(f"no ledger at {path}: is MLOPS_STATE_DIR the service's state dir?")
    try:
        ledger = Ledger.from_files(path, state_dir / LEDGER_KEY_FILE)
    except ValueError as exc:
        raise AuditQueryError(str(exc)) from None
    rows = ledger.audit_rows(
        job=job,
        conversation=conversation,
        since=parse_when(since, "--since") if since else None,
        until=parse_when(until, "--until") if until else None,
    )
    return format_audit(rows)


def parse_when(text: str, option: str = "time") -> float:
    """ISO 8601 date or date-time as unix seconds; without a zone it is UTC."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise AuditQueryError(
            f"{option}: {text!r} is not an ISO 8601 time; "
            "e.g. 2025-06-15 or 2025-06-15T14:30:00+02:00"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _line(row: AuditRow) -> str:
    when = datetime.fromtimestamp(row.ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    turn = row.turn_id[:8] if row.turn_id else "-"
    mark = "EDITED " if not row.verified else ""
    try:
        detail = " ".join(f"{k}={_value(v)}" for k, v in row.detail.items())
    except ValueError:
        detail = row.detail_json
    parts = [when, mark + (row.conversation or "-"), turn, row.actor, row.action, detail]
    return "  ".join(p for p in parts if p)


def _value(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    # Keep each row on one line: commit messages and diffs carry newlines.
    return text.replace("\n", "\\n")
