"""Render a turn's input for the model: a compact header, then each item.

The model pays for every token, so events are rendered as `key=value` lines,
not pretty JSON; multi-line strings (tracebacks) keep their lines.

What people and training jobs wrote can never pose as the service: only the
supervisor's notes start a line with `[supervisor]`, right after the header.
Every line of untrusted text is indented, every untrusted name or value that is
not one plain word is quoted (JSON-escaped, so it has no line break), and the
marker itself is defused wherever it appears in untrusted text.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from typing import Any

from agent.engine.inbox import Item

MAX_BLOCK_CHARS = 6000  # a traceback's tail is what matters
MARKER = "[supervisor]"
INDENT = "  "
# The marker in any case or spacing; matched on the NFKC form, so look-alike brackets count.
_MARKER = re.compile(r"\[\s*supervisor\s*\]", re.IGNORECASE)
# One plain word: shown as is. Anything else is quoted.
_PLAIN = re.compile(r"[\w.,:;/@<>+*%=#~()-]+")
# Line breaks json.dumps(ensure_ascii=False) leaves raw, but str.splitlines (and models) honour.
_RAW_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def turn_marker(turn_id: str) -> str:
    """How a turn's text starts: what finds that turn's message in its opencode session."""
    return f"[turn_id={turn_id} "


def render_turn(turn_id: str, conversation: str, items: list[Item], notes: list[str]) -> str:
    kinds = sorted({i.kind for i in items})
    head = (
        f"{turn_marker(turn_id)}conversation={token(conversation)} items={len(items)}"
        f" ({','.join(kinds)})]"
    )
    parts = [head]
    # One line each: a note that quotes something (an owner's name) cannot start a new line.
    parts += [f"{MARKER} {' '.join(note.splitlines())}" for note in notes]
    parts += [render_item(item) for item in items]
    return "\n\n".join(parts)


def defused(text: str) -> str:
    """Untrusted text with every `[supervisor]` (any case, spacing or look-alike) made plain
    words: `(supervisor)`."""
    folded = unicodedata.normalize("NFKC", text)
    return _MARKER.sub("(supervisor)", folded) if _MARKER.search(folded) else text


def token(value: str) -> str:
    """An untrusted name or value on one line: itself if it is one plain word, else quoted."""
    if _PLAIN.fullmatch(value) and not _MARKER.search(unicodedata.normalize("NFKC", value)):
        return value
    return _json(defused(value))


def block(text: str) -> str:
    """Untrusted text of several lines, each indented: no line of it starts a line of ours."""
    return "\n".join(INDENT + line for line in defused(text).splitlines())


def person(user: str) -> str:
    """A person as the model sees them: a Slack id as Slack's mention (`<@U123>`), a Matrix id
    (`@ann:example.org`) as itself — readable, and what the Matrix bridge makes a pill of."""
    return user if user.startswith("@") else f"<@{user}>"


def render_item(item: Item) -> str:
    p = item.payload
    when = _clock(item.received)
    if item.kind == "event":
        return render_event(p, when)
    if item.kind == "chat":
        return f"message {when} from {person(p['user'])}:\n{block(p['text'])}"
    if item.kind == "click":
        action, proposal = token(str(p["action"])), token(str(p["proposal"]))
        return f"button {action} {when} by {person(p['user'])} on proposal {proposal}"
    return f"{item.kind} {when}: {p.get('text', '')}".rstrip()


def render_event(event: dict[str, Any], when: str) -> str:
    head = f"event {token(str(event['type']))} {when} job={token(str(event['job']))}"
    scalars: list[str] = []
    nested: list[str] = []
    blocks: list[str] = []
    for key, value in event.items():
        if key in ("type", "job", "ts"):
            continue
        name = token(str(key))
        if isinstance(value, str) and len(value.splitlines()) > 1:
            text = value if len(value) <= MAX_BLOCK_CHARS else "…" + value[-MAX_BLOCK_CHARS:]
            blocks.append(f"{name}:\n{block(text)}")
        elif isinstance(value, dict):
            inner = " ".join(f"{token(str(k))}={_scalar(v)}" for k, v in value.items())
            nested.append(f"{name}: {inner}" if inner else f"{name}: {{}}")
        elif value is not None:
            scalars.append(f"{name}={_scalar(value)}")
    lines = [head, " ".join(scalars), *nested, *blocks]
    return "\n".join(line for line in lines if line)


def _scalar(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str):
        return token(value) if value else '""'
    return _json(value)


def _json(value: Any) -> str:
    """JSON on one line: escaped line breaks, the marker defused inside nested strings."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in _RAW_BREAKS.items():
        text = text.replace(raw, escaped)
    return defused(text)


def _clock(ts: float) -> str:
    return time.strftime("%H:%M:%SZ", time.gmtime(ts))
