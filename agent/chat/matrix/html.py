"""Messages as Matrix sends them: the Markdown as the plain `body`, and the same text as
`org.matrix.custom.html` in `formatted_body`.

Rendering is markdown-it's (CommonMark, tables, strikethrough) with raw HTML off, so a
model quoting `<script>` or `<a href>` shows the characters and never makes markup.
Single newlines stay line breaks, as in every chat. A mention of a person we may
mention becomes a pill (a `matrix.to` link) and is listed in the event's
`m.mentions`; every other id stays text and notifies nobody (with `m.mentions`
present, homeservers ignore the body for mentions, so `@room` in a quoted log
pings no one either).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from html import escape
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

from agent.chat.card import Card

HTML_FORMAT = "org.matrix.custom.html"
# An event may be 65,536 bytes of JSON; body and formatted_body both carry the text.
MAX_CHARS = 8000
MAX_EVENT_BYTES = 60_000
CARD_REASON_CHARS = 2000
CARD_DIFF_CHARS = 12_000
TRUNCATED = "\n… (truncated)"
APPROVE_KEY, REJECT_KEY = "✅", "❌"


def matrix_to(user_id: str) -> str:
    return f"https://matrix.to/#/{user_id}"


@dataclass(frozen=True)
class Rendered:
    body: str
    html: str
    mentions: tuple[str, ...]  # user ids shown as pills

    def content(self, msgtype: str = "m.text") -> dict[str, Any]:
        return {
            "msgtype": msgtype,
            "body": self.body,
            "format": HTML_FORMAT,
            "formatted_body": self.html,
            "m.mentions": {"user_ids": list(self.mentions)} if self.mentions else {},
        }


class Renderer:
    """Markdown → Matrix HTML with pills for the people in `mentionable`."""

    def __init__(self, mentionable: Collection[str] = ()) -> None:
        ids = sorted((u for u in mentionable if u.startswith("@") and ":" in u), key=len)
        # A whole id: not the tail of a longer word, not the head of a longer server name.
        self._people = (
            re.compile(
                r"(?<![\w@])(?:"
                + "|".join(re.escape(u) for u in reversed(ids))
                + r")(?![\w-]|\.[\w-])"
            )
            if ids
            else None
        )
        self._md = MarkdownIt("commonmark", {"html": False, "breaks": True})
        self._md.enable(["table", "strikethrough"])
        self._md.core.ruler.push("matrix_pills", self._pills)

    def markdown(self, text: str) -> Rendered:
        env: dict[str, Any] = {"mentions": []}
        html = self._md.render(text, env).strip()
        return Rendered(text, html, tuple(dict.fromkeys(env["mentions"])))

    def card(self, card: Card) -> Rendered:
        """A proposal card: title, where, why, the diff from the ledger, and how to answer."""
        reason = _fit(card.reason, CARD_REASON_CHARS)
        diff = _fit(card.diff, CARD_DIFF_CHARS)
        if card.outcome:
            answer = card.outcome
        else:
            answer = (
                f"React {APPROVE_KEY} to approve, {REJECT_KEY} to reject,"
                f" or reply {card.reply_hint} · expires {card.expires}"
            )
        body_lines = [card.title, card.where, f"Why: {reason}" if reason else "", diff, answer]
        body = "\n".join(line for line in body_lines if line)
        head = f"<strong>{escape(card.title)}</strong>"
        if card.where:
            head += f"<br>{escape(card.where)}"
        parts = [f"<p>{head}</p>"]
        if reason:
            parts.append(f"<p>Why: {escape(reason)}</p>")
        parts.append(f'<pre><code class="language-diff">{escape(diff)}</code></pre>')
        answer_html = self.markdown(answer)
        parts.append(answer_html.html if card.outcome else f"<p><em>{escape(answer)}</em></p>")
        return Rendered(body, "\n".join(parts), answer_html.mentions if card.outcome else ())

    def _pills(self, state: StateCore) -> None:
        if self._people is None:
            return
        for block in state.tokens:
            if block.type != "inline" or not block.children:
                continue
            children: list[Token] = []
            in_link = 0
            for token in block.children:
                in_link += token.type == "link_open"
                in_link -= token.type == "link_close"
                if token.type != "text" or in_link:
                    children.append(token)
                    continue
                children += self._split(token.content, state.env["mentions"])
            block.children = children

    def _split(self, text: str, mentions: list[str]) -> list[Token]:
        assert self._people is not None
        tokens: list[Token] = []
        at = 0
        for match in self._people.finditer(text):
            if match.start() > at:
                tokens.append(_text(text[at : match.start()]))
            user = match.group(0)
            mentions.append(user)
            tokens += [
                Token("link_open", "a", 1, attrs={"href": matrix_to(user)}),
                _text(user),
                Token("link_close", "a", -1),
            ]
            at = match.end()
        if at < len(text):
            tokens.append(_text(text[at:]))
        return tokens


def _text(content: str) -> Token:
    return Token("text", "", 0, content=content)


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(TRUNCATED)] + TRUNCATED
