"""What in a Matrix room is a person talking to the bot, and what is an approval.

Works on events as the homeserver sends them (JSON dicts), so every rule here is
testable without a server. Dropped: the bot's own echoes, edits (`m.replace`;
they arrive as new messages whose body starts with `* `), notices (what bots
send), redacted events, and room chatter that neither is in a thread nor
addresses the bot. The allowlist is the service's job, behind every bridge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from agent.chat.base import IncomingMessage
from agent.chat.matrix.html import APPROVE_KEY, REJECT_KEY, matrix_to

_ACTIONS = {APPROVE_KEY: "approve", REJECT_KEY: "reject"}
_VARIATION_SELECTOR = "\ufe0f"
_ANCHOR = re.compile(r"<a\s[^>]*href=\"([^\"]+)\"[^>]*>(.*?)</a>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Reaction:
    """A ✅ or ❌ someone put on a message."""

    event_id: str
    sender: str
    target: str  # the event it reacts to
    action: str  # "approve" | "reject"


def relation(content: dict[str, Any]) -> dict[str, Any]:
    rel = content.get("m.relates_to")
    return rel if isinstance(rel, dict) else {}


def incoming_message(
    room_id: str, event: dict[str, Any], bot_id: str, *, is_dm: bool
) -> IncomingMessage | None:
    """The person's message in a room event, or None if it is not one for the bot."""
    content = event.get("content")
    sender, event_id = event.get("sender"), event.get("event_id")
    if event.get("type") != "m.room.message" or not isinstance(content, dict):
        return None
    if content.get("msgtype") != "m.text" or not isinstance(content.get("body"), str):
        return None
    if not sender or not event_id or sender == bot_id:
        return None
    rel = relation(content)
    if rel.get("rel_type") == "m.replace":
        return None
    thread_ts = rel.get("event_id") if rel.get("rel_type") == "m.thread" else None
    if not is_dm and thread_ts is None and not addresses(content, bot_id):
        return None  # room chatter not addressed to the bot
    return IncomingMessage(
        channel=room_id,
        ts=str(event_id),
        user=str(sender),
        text=clean_text(content, bot_id),
        thread_ts=str(thread_ts) if thread_ts else None,
        is_dm=is_dm,
    )


def addresses(content: dict[str, Any], bot_id: str) -> bool:
    """Whether a message mentions the bot: intentionally, as a pill, or by its id."""
    mentions = content.get("m.mentions")
    if isinstance(mentions, dict) and bot_id in (mentions.get("user_ids") or []):
        return True
    html = str(content.get("formatted_body") or "")
    return bot_id in str(content.get("body")) or any(
        _is_link_to(href, bot_id) for href, _ in _ANCHOR.findall(html)
    )


def clean_text(content: dict[str, Any], bot_id: str) -> str:
    """The words of a message: no quoted reply fallback, no mention of the bot."""
    body = str(content.get("body") or "")
    if "m.in_reply_to" in relation(content) and body.startswith("> "):
        # A rich reply's fallback: the quoted lines, then a blank line, then the reply.
        _, _, body = body.partition("\n\n")
    names = {bot_id}
    for href, label in _ANCHOR.findall(str(content.get("formatted_body") or "")):
        if _is_link_to(href, bot_id):
            names.add(re.sub(r"<[^>]+>", "", label))
    for name in sorted(names, key=len, reverse=True):
        if name:
            body = body.replace(name, "")
    return body.strip().lstrip(":,").strip()


def reaction(event: dict[str, Any], bot_id: str) -> Reaction | None:
    """A ✅/❌ annotation by someone other than the bot, or None."""
    content = event.get("content")
    if event.get("type") != "m.reaction" or not isinstance(content, dict):
        return None
    rel = relation(content)
    key = str(rel.get("key") or "").replace(_VARIATION_SELECTOR, "")
    sender, target = event.get("sender"), rel.get("event_id")
    if rel.get("rel_type") != "m.annotation" or key not in _ACTIONS:
        return None
    if not sender or sender == bot_id or not target or not event.get("event_id"):
        return None
    return Reaction(str(event["event_id"]), str(sender), str(target), _ACTIONS[key])


def invite_is_direct(invite_state: list[dict[str, Any]], bot_id: str) -> tuple[str | None, bool]:
    """(who invited the bot, whether they asked for a direct chat) from a room's invite state.

    Only the invite event itself says who invited. The homeserver appends it last, after
    the room's stripped state (MSC4319; older Synapse appended it whole), and that state is
    written by the inviting server as it likes: a federated stranger can put a member
    event there "sent" by someone on the allowlist. So the last invite of the bot counts."""
    for event in reversed(invite_state):
        content = event.get("content") or {}
        is_bots = event.get("type") == "m.room.member" and event.get("state_key") == bot_id
        if is_bots and content.get("membership") == "invite":
            return event.get("sender"), bool(content.get("is_direct"))
    return None, False


def _is_link_to(href: str, user_id: str) -> bool:
    return href in (matrix_to(user_id), matrix_to(quote(user_id, safe="")))
