"""What the agent may say to a room full of people, whatever the chat: no broadcast words.

A model quotes logs and tracebacks back, and those may carry `@room` or
`@channel`: posted as is, one reply could notify hundreds of people. Broadcasts
keep their words but lose their power (a word joiner after the `@`, invisible
when read, breaks every chat's broadcast syntax).

This is the chat-neutral part. Each bridge adds what its own syntax needs
(`Sanitising.safe` in `agent.chat.base`): Slack its `<!channel>` tokens and
`<@U…>` mentions (`agent.chat.slack_safety`); Matrix needs nothing more, since
its renderer pills and lists in `m.mentions` only the people it may mention.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container

WORD_JOINER = "\u2060"

# `(text, mentionable) -> text`: a message made safe to post, mentions kept only of people in
# `mentionable` (the allowlist, the people map).
Sanitiser = Callable[[str, Container[str]], str]

# Plain-text broadcasts: Matrix's @room (legacy push rule on the body), Slack's and others'
# @channel / @here / @everyone when a client links names.
_BARE_BROADCAST = re.compile(r"(?<![\w@])@(room|channel|here|everyone)\b", re.IGNORECASE)


def without_broadcasts(text: str, mentionable: Container[str] = frozenset()) -> str:
    """`text` with every plain-text broadcast word neutralised. Mentions are left to the
    bridge: none of this chat-neutral text's syntax is one."""
    return _BARE_BROADCAST.sub(lambda m: inert(m[1]), text)


def inert(word: str) -> str:
    """`@word` that reads the same and notifies nobody."""
    return f"@{WORD_JOINER}{word}"
