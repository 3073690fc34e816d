"""Event bodies: the cheap part built on the training thread, the rest in the background.

The training thread records only the type, the time and the caller's fields (plus the
active MLflow run, which is thread-local). Everything that costs more — the ISO time,
host, GPU count, JSON-safe values — is added by the sender thread in `finalize`.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

MAX_TRACEBACK_CHARS = 8000
MAX_MESSAGE_CHARS = 2000
# The service owns these: a caller's field of the same name cannot overwrite them.
RESERVED = ("type", "job", "ts")


def finalize(raw: Mapping[str, Any], job: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """The body the service receives: `{type, job, ts, <context>, <fields>}`, JSON-safe."""
    fields = {k: v for k, v in raw.items() if k not in ("type", "ts", "job")}
    body: dict[str, Any] = {
        "type": raw["type"],
        "job": job,
        "ts": datetime.fromtimestamp(raw["ts"], UTC).isoformat().replace("+00:00", "Z"),
        **context,
        **fields,
    }
    return jsonable(body)


def jsonable(value: Any) -> Any:
    """Plain JSON values only: tensors and numpy scalars become numbers (via `.item()`),
    non-finite floats become the strings "nan", "inf", "-inf" (strict JSON has no NaN),
    anything else unknown becomes its `str()`."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return jsonable(item())
        except Exception:
            pass
    return str(value)


def crash_fields(exc: BaseException) -> dict[str, Any]:
    """What a crash report carries: the exception's type, message and traceback tail."""
    kind = type(exc)
    name = kind.__qualname__
    if kind.__module__ != "builtins":
        name = f"{kind.__module__}.{name}"
    text = "".join(traceback.format_exception(exc))
    return {
        "exception": name,
        "message": _tail(str(exc), MAX_MESSAGE_CHARS),
        "traceback": _tail(text, MAX_TRACEBACK_CHARS),
    }


def _tail(text: str, limit: int) -> str:
    # The end of a traceback names the failing line and the error: keep it, cut the start.
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    return f"[... {cut} characters cut ...]\n" + text[cut:]
